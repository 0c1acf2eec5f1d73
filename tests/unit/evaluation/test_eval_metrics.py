"""Hand-made cases of every metric of ../shared/BENCHMARKS.md."""

from __future__ import annotations

import numpy as np
import pytest

from netdiffus.errors import DatasetError
from netdiffus.evaluation import fidelity, privacy, utility
from netdiffus.evaluation.features import log_series, log_totals, rf_features


def lognormal(n: int, t: int = 30, c: int = 1, seed: int = 0, mu: float = 6.0) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(mu, 1.0, size=(n, c, t))


def ar1(n: int, t: int = 40, phi: float = 0.9, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, t))
    e = rng.normal(size=(n, 1, t))
    for i in range(1, t):
        x[..., i] = phi * x[..., i - 1] + e[..., i]
    return np.expm1(np.abs(x) + 5)


@pytest.mark.parametrize("fn", [fidelity.w1_values, fidelity.w1_totals, fidelity.jsd, fidelity.acf_distance])
@pytest.mark.parametrize("channels", [1, 2])
def test_identical_sets_give_zero(fn, channels):
    x = lognormal(40, c=channels)
    assert fn(x, x) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("fn", [fidelity.w1_values, fidelity.w1_totals])
def test_constant_real_traces_give_the_plain_w1(fn):
    # all real values equal: their std is rounding noise, so the W1 is not divided by it
    real = np.full((30, 1, 20), 100.0)
    synthetic = real * 1.1
    plain = np.log1p(110.0) - np.log1p(100.0)
    if fn is fidelity.w1_totals:
        plain = np.log1p(2200.0) - np.log1p(2000.0)
    assert fn(real, synthetic) == pytest.approx(plain, rel=1e-6)


def test_identical_sets_in_different_order_give_zero():
    x = lognormal(40)
    y = x[::-1]
    for fn in (fidelity.w1_values, fidelity.w1_totals, fidelity.jsd, fidelity.acf_distance):
        assert fn(x, y) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shift", [0.5, 1.0, 2.0])
def test_w1_values_of_a_log_shift_is_shift_over_std(shift):
    # Multiplying by e^shift (and adjusting for the +1 of log1p) shifts every log value by `shift`.
    x = lognormal(30, mu=8.0)
    y = np.expm1(np.log1p(x) + shift)
    std = np.log1p(x).std()
    assert fidelity.w1_values(x, y) == pytest.approx(shift / std, rel=1e-9)


def test_w1_totals_of_a_shift_is_known():
    x = lognormal(50, t=10, mu=8.0)
    y = x * 2.0
    lt, lt2 = log_totals(x), log_totals(y)
    expected = np.mean(np.abs(np.sort(lt) - np.sort(lt2))) / lt.std()
    assert fidelity.w1_totals(x, y) == pytest.approx(expected, rel=1e-9)


def test_w1_values_hand_computed():
    real = np.expm1(np.array([[[0.0, 2.0]]]))  # log values 0, 2: std 1
    syn = np.expm1(np.array([[[1.0, 3.0]]]))  # every value one higher
    assert fidelity.w1_values(real, syn) == pytest.approx(1.0)


def test_jsd_disjoint_is_one_and_in_range():
    real = np.full((10, 1, 5), 10.0) * np.arange(1, 11)[:, None, None]
    far = real * 1e6
    assert fidelity.jsd(real, far) == pytest.approx(1.0)
    near = real * 1.05
    assert 0.0 <= fidelity.jsd(real, near) < 1.0


def test_jsd_counts_out_of_range_mass():
    real = lognormal(30)
    syn = np.concatenate([real, real * 1e9])
    assert fidelity.jsd(real, syn) > 0.1


def test_shuffled_bins_give_acf_distance_above_zero():
    x = ar1(60)
    rng = np.random.default_rng(1)
    shuffled = np.stack([xi[:, rng.permutation(xi.shape[1])] for xi in x])
    assert fidelity.w1_values(x, shuffled) == pytest.approx(0.0, abs=1e-12)  # same marginals
    assert fidelity.acf_distance(x, shuffled) > 0.05


def test_acf_hand_computed():
    x = np.array([[[1.0, -1.0, 1.0, -1.0]]])
    a = fidelity.acf(x, lags=3)[0, 0]
    assert a.tolist() == pytest.approx([-0.75, 0.5, -0.25])
    assert fidelity.acf(np.ones((1, 1, 5)))[0, 0].tolist() == [0.0] * 10


@pytest.mark.parametrize(
    "real_shape, syn_shape, message",
    [
        ((3, 1, 5), (3, 1, 6), "real and synthetic traces must have the same [C, T] (got [1, 5] and [1, 6])"),
        ((3, 1, 5), (0, 1, 5), "fidelity needs at least one real and one synthetic trace (got 3 and 0)"),
    ],
)
def test_fidelity_errors(real_shape, syn_shape, message):
    with pytest.raises(DatasetError) as exc:
        fidelity.w1_values(np.ones(real_shape), np.ones(syn_shape))
    assert str(exc.value) == message


def test_copied_training_set_gives_dcr_ratio_near_zero():
    train, test = lognormal(50, seed=0), lognormal(50, seed=1)
    assert privacy.dcr_ratio(train, train, test) == pytest.approx(0.0)
    noisy = train * np.random.default_rng(2).normal(1, 0.01, train.shape)
    assert privacy.dcr_ratio(train, noisy, test) < 0.05


def test_fresh_samples_give_dcr_ratio_near_one_and_mia_near_half():
    train, test, syn = lognormal(200, seed=0), lognormal(200, seed=1), lognormal(400, seed=2)
    assert privacy.dcr_ratio(train, syn, test) == pytest.approx(1.0, abs=0.1)
    assert privacy.mia_auc(train, test, syn) == pytest.approx(0.5, abs=0.08)


def test_copied_training_set_gives_mia_auc_one():
    train, test = lognormal(30, seed=0), lognormal(30, seed=1)
    assert privacy.mia_auc(train, test, train) == pytest.approx(1.0)


def test_features_shapes_and_log():
    x = lognormal(4, t=7, c=2)
    assert log_series(x).shape == (4, 14)
    assert rf_features(x).shape == (4, 14 + 9 * 2 + 1)
    assert log_series(np.array([[[-3.0, 3.0]]])).tolist() == [[np.log1p(3.0)] * 2]


def two_classes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.lognormal(3, 0.3, (n, 1, 20)), rng.lognormal(6, 0.3, (n, 1, 20))])
    return x, np.array(["a"] * n + ["b"] * n)


def test_train_test_scores_separable_classes():
    real, syn, test = two_classes(20, 0), two_classes(20, 1), two_classes(10, 2)

    def rf(x, y, xq, s):
        return utility.rf_predict(x, y, xq, s, n_estimators=10)

    out = utility.train_test_scores(real, syn, test, classifier=rf)
    assert set(out) == {"TRTR", "TSTR", "TRSTR"}
    assert all(v == {"accuracy": 1.0, "macro_f1": 1.0} for v in out.values())


def test_train_test_scores_detect_swapped_labels():
    real, test = two_classes(20, 0), two_classes(10, 2)
    x, y = two_classes(20, 1)
    swapped = (x, np.where(y == "a", "b", "a"))

    def rf(x, y, xq, s):
        return utility.rf_predict(x, y, xq, s, n_estimators=10)

    out = utility.train_test_scores(real, swapped, test, classifier=rf, which=("TSTR",))
    assert out["TSTR"]["accuracy"] == 0.0


def test_discriminative_score_identical_near_zero_and_different_near_half():
    # Independent draws of one distribution. (An exact copy is not "indistinguishable" here: each
    # held-out trace has its twin, with the other label, in the training folds.)
    x = lognormal(60, t=20)
    assert utility.discriminative_score(x, lognormal(60, t=20, seed=5), n_estimators=20) < 0.15
    assert utility.discriminative_score(x, x * 100, n_estimators=20) == pytest.approx(0.5)


def test_discriminative_score_needs_enough_traces():
    with pytest.raises(DatasetError) as exc:
        utility.discriminative_score(lognormal(3), lognormal(10))
    assert str(exc.value) == "discriminative score needs at least 5 traces per side (got 3)"


def test_novelty_auroc_separates_far_anomalies():
    normal_train, normal_test = lognormal(40, seed=0), lognormal(20, seed=1)
    anomalous = lognormal(20, seed=2, mu=12.0)
    assert utility.novelty_auroc(normal_train, normal_test, anomalous) == pytest.approx(1.0)
    same = lognormal(20, seed=3)
    assert utility.novelty_auroc(normal_train, normal_test, same) == pytest.approx(0.5, abs=0.2)


def test_augmentation_curve_sizes():
    real, syn, test = two_classes(10, 0), two_classes(20, 1), two_classes(5, 2)
    seen = []

    def clf(x, y, xq, s):
        seen.append(len(x))
        return np.full(len(xq), "a")

    out = utility.augmentation_curve(real, syn, test, classifier=clf, factors=(0, 1, 2, 4))
    assert seen == [20, 40, 60, 100]
    assert list(out) == [0, 1, 2, 4]
    assert out[0]["accuracy"] == 0.5


def test_novelty_auroc_classifier_method():
    a, b = lognormal(30, seed=0, mu=3.0), lognormal(30, seed=1, mu=9.0)
    train = np.concatenate([a, b])
    labels = ["a"] * 30 + ["b"] * 30
    test = np.concatenate([lognormal(10, seed=2, mu=3.0), lognormal(10, seed=3, mu=9.0)])
    anomalous = lognormal(20, seed=4, mu=6.0)  # between the two normal classes
    auc = utility.novelty_auroc(train, test, anomalous, method="classifier", train_labels=labels, n_estimators=50)
    assert auc > 0.9
    with pytest.raises(DatasetError) as exc:
        utility.novelty_auroc(train, test, anomalous, method="classifier")
    assert str(exc.value) == "novelty method 'classifier' needs one train label per normal training trace"
