import json

import numpy as np
import pytest

from netdiffus.errors import ConfigError
from netdiffus.postprocess import TotalsCalibration, ValueLexicon, ValueRange, snap_zeros, zero_thresholds

# Three traces of one class, one channel: 220 in all three, 342 in two, 60 and 590 in one each.
PLUG = np.array([[[220.0, 0.0, 342.0]], [[220.0, 60.0, 342.0]], [[220.0, 0.0, 590.0]]])


def test_zero_thresholds_per_channel():
    x = np.array([[[0.0, 99.0, 500.0], [5.0, 7.0, 9.0]]])
    np.testing.assert_allclose(zero_thresholds(x), [np.expm1(np.log(100.0) / 2), 0.0])


@pytest.mark.parametrize(
    "series, thresholds, expected",
    [
        ([[[3.0, 20.0, -4.0]]], [9.0], [[[0.0, 20.0, 0.0]]]),   # |value| below the threshold
        ([[[9.0, 8.99, -9.0]]], [9.0], [[[9.0, 0.0, -9.0]]]),   # the threshold itself stays
        ([[[0.5, 1.0], [0.5, 1.0]]], [0.0, 0.75], [[[0.5, 1.0], [0.0, 1.0]]]),  # per channel
    ],
)
def test_snap_zeros(series, thresholds, expected):
    assert snap_zeros(np.array(series), np.array(thresholds)).tolist() == expected


@pytest.mark.parametrize(
    "min_traces, expected",
    [
        (2, [220.0, 342.0]),  # 60 and 590 belong to a single trace: never reproduced
        (3, [220.0]),         # coverage 3 of 7 values (0.43) is below 0.5 ...
    ],
)
def test_fit_keeps_values_held_by_enough_traces(min_traces, expected):
    lex = ValueLexicon.fit(PLUG, ["plug"] * 3, min_traces=min_traces, min_coverage=0.4)
    assert lex.values["plug"][0].tolist() == expected


def test_fit_leaves_continuous_channels_alone():
    # ... and with the default min_coverage 0.5, a channel whose shared values are rare stays empty
    rng = np.random.default_rng(0)
    plug = np.concatenate([PLUG, PLUG[1:2]])  # 60 now in two traces
    x = np.concatenate([plug, rng.gamma(2.0, 1e3, size=(4, 1, 3))], axis=1)  # channel 1 continuous
    x[3, 1] = x[0, 1]  # one trace repeated in channel 1: 6 of 12 values shared
    x[3, 1, 0] += 1.0  # ... now 4 of 12: coverage 0.33
    lex = ValueLexicon.fit(x, ["plug"] * 4)
    assert lex.values["plug"][0].tolist() == [60.0, 220.0, 342.0]
    assert lex.values["plug"][1].tolist() == []
    assert len(ValueLexicon.fit(x, ["plug"] * 4, min_coverage=0.3).values["plug"][1]) == 2
    assert ValueLexicon.fit(PLUG, ["plug"] * 3, min_traces=3).values["plug"][0].tolist() == []


@pytest.mark.parametrize(
    "x, expected",
    [
        (231.0, 220.0),      # nearest shared value
        (300.0, 342.0),      # |log1p 300 - log1p 342| = 0.13 < |log1p 300 - log1p 220| = 0.31
        (540.0, 342.0),      # log(543 / 343) = 0.46 <= 0.5
        (600.0, 600.0),      # log(601 / 343) = 0.56 > 0.5: left as generated
        (0.0, 0.0),          # zeros stay zeros
        (100.0, 100.0),      # log(221 / 101) = 0.78: too far
    ],
)
def test_apply_snaps_within_tolerance(x, expected):
    lex = ValueLexicon.fit(PLUG, ["plug"] * 3)
    assert lex.apply(np.array([[[x]]]), ["plug"])[0, 0, 0] == expected


def test_apply_keeps_the_sign_of_signed_sizes_and_other_classes():
    sizes = np.array([[[-60.0, 342.0]], [[-60.0, 342.0]], [[-60.0, 590.0]]])  # - to the device
    lex = ValueLexicon.fit(sizes, ["cam"] * 3)
    assert lex.values["cam"][0].tolist() == [-60.0, 342.0]
    out = lex.apply(np.array([[[-58.0, 330.0]], [[58.0, 330.0]], [[-58.0, 330.0]]]), ["cam", "cam", "plug"])
    assert out.tolist() == [[[-60.0, 342.0]], [[58.0, 342.0]], [[-58.0, 330.0]]]


def test_json_round_trip():
    lex = ValueLexicon.fit(PLUG, ["plug"] * 3, tolerance=0.25)
    back = ValueLexicon.from_json(json.loads(json.dumps(lex.to_json())))
    assert back.tolerance == 0.25 and back.values["plug"][0].tolist() == [220.0, 342.0]
    x = np.array([[[231.0, 5.0, 333.0]]])
    np.testing.assert_array_equal(back.apply(x, ["plug"]), lex.apply(x, ["plug"]))


def test_at_most_max_values_kept(monkeypatch):
    monkeypatch.setattr(ValueLexicon, "MAX_VALUES", 2)
    x = np.array([[[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]], [[1.0, 2.0, 5.0]]])
    assert ValueLexicon.fit(x, ["a"] * 3).values["a"][0].tolist() == [1.0, 2.0]  # 3 is in two traces only


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(min_traces=1), "min_traces must be an integer >= 2 (got 1)"),
        (dict(min_traces=2.0), "min_traces must be an integer >= 2 (got 2.0)"),
        (dict(min_coverage=1.5), "min_coverage must be in [0, 1] (got 1.5)"),
        (dict(tolerance=0.0), "tolerance must be > 0 (got 0.0)"),
    ],
)
def test_fit_errors(kw, message):
    with pytest.raises(ConfigError) as exc:
        ValueLexicon.fit(PLUG, ["plug"] * 3, **kw)
    assert str(exc.value) == message


def _volumes(x):
    return np.log1p(np.abs(x).sum(axis=(1, 2)))


def _traces(volumes):
    """One trace per log volume, its total split evenly over two bins: ``[n, 1, 2]``."""
    return np.array([[[np.expm1(v) / 2, np.expm1(v) / 2]] for v in volumes])


LEVELS = TotalsCalibration.LEVELS
TRAIN_V = np.linspace(6.0, 12.0, 61)  # "tv" training log volumes: uniform on [6, 12]


@pytest.mark.parametrize(
    "reference_v, query_v, expected_v",
    [
        # a reference uniform on [7.5, 10.5] (too narrow): its quantiles map onto [6, 12] linearly
        (np.linspace(7.5, 10.5, 301), [8.5, 9.0, 9.9], [8.0, 9.0, 10.8]),
        # beyond the reference's 5 % / 95 % quantiles (7.65, 10.35): moved by that end's shift
        (np.linspace(7.5, 10.5, 301), [7.0, 10.5], [6.3 - 0.65, 11.7 + 0.15]),
        # far below the lowest quantile: the end's shift would make the total negative, so empty
        (np.linspace(7.5, 10.5, 301), [1.0], [0.0]),
        # a reference uniform on [8.5, 9.5] would need 6 times its range: widened 3 times (MAX_STRETCH)
        (np.linspace(8.5, 9.5, 101), [8.6, 9.2], [9.0 + 3 * -0.4, 9.0 + 3 * 0.2]),
        # a reference already like the training traces: unchanged
        (TRAIN_V, [6.5, 9.3, 11.0], [6.5, 9.3, 11.0]),
    ],
)
def test_totals_calibration_maps_reference_quantiles_onto_training_ones(reference_v, query_v, expected_v):
    cal = TotalsCalibration.fit(_traces(TRAIN_V), ["tv"] * len(TRAIN_V), _traces(reference_v),
                                ["tv"] * len(reference_v))
    out = cal.apply(_traces(query_v), ["tv"] * len(query_v))
    np.testing.assert_allclose(_volumes(out), expected_v, rtol=1e-9)
    np.testing.assert_allclose(out[:, 0, 0], out[:, 0, 1])  # each trace keeps its shape


def test_totals_calibration_stretch_and_ties():
    cal = TotalsCalibration.fit(_traces(TRAIN_V), ["tv"] * 61, _traces(np.linspace(7.5, 10.5, 301)), ["tv"] * 301)
    assert cal.stretch("tv") == pytest.approx(2.0)  # 5-95 % range 5.4 against 2.7
    narrow = TotalsCalibration.fit(_traces(TRAIN_V), ["tv"] * 61, _traces(np.linspace(8.9, 9.1, 21)), ["tv"] * 21)
    assert narrow.stretch("tv") == pytest.approx(TotalsCalibration.MAX_STRETCH)
    assert cal.stretch("cam") == 1.0
    # a volume most reference traces share: one point, mapped onto the mean of its levels' quantiles
    ref = _traces([8.0] + [9.0] * 18 + [10.0])
    cal = TotalsCalibration.fit(_traces(TRAIN_V), ["tv"] * 61, ref, ["tv"] * 20)
    g_q, t_q = cal.classes["tv"]
    assert np.all(np.diff(g_q) > 0) and len(g_q) == len(t_q) == 3
    assert _volumes(cal.apply(_traces([9.0]), ["tv"]))[0] == pytest.approx(np.quantile(TRAIN_V, LEVELS[1:-1]).mean())


def test_totals_calibration_leaves_other_classes_and_empty_traces_alone():
    ref = _traces([8.0, 9.0, 10.0])
    cal = TotalsCalibration.fit(_traces(TRAIN_V), ["tv"] * 61, ref, ["tv"] * 3)
    x = np.array([[[5.0, 7.0]], [[0.0, 0.0]], [[300.0, 1.0]]])
    out = cal.apply(x, ["cam", "tv", "tv"])
    assert out[:2].tolist() == [[[5.0, 7.0]], [[0.0, 0.0]]]
    assert out[2, 0, 0] / out[2, 0, 1] == pytest.approx(300.0)
    # a class with one trace on either side, or no spread among the reference traces, is not fitted
    assert TotalsCalibration.fit(_traces(TRAIN_V), ["tv"] * 61, ref[:1], ["tv"]).classes == {}
    assert TotalsCalibration.fit(_traces([7.0]), ["tv"], ref, ["tv"] * 3).classes == {}
    assert TotalsCalibration.fit(_traces(TRAIN_V), ["tv"] * 61, ref[[0, 0]], ["tv"] * 2).classes == {}


def test_totals_calibration_json_round_trip():
    cal = TotalsCalibration.fit(_traces(TRAIN_V), ["tv"] * 61, _traces([8.0, 9.0, 10.0]), ["tv"] * 3)
    back = TotalsCalibration.from_json(json.loads(json.dumps(cal.to_json())))
    assert back == cal
    assert set(cal.to_json()["classes"]["tv"]) == {"generated", "training"}


@pytest.mark.parametrize("counts, drawn, line", [
    ({"a": 3, "b": 100}, {"a": 32, "b": 200}, "calibrating volumes: drawing 232 reference traces of 2 class(es)"),
    ({"a": 1000}, {"a": 512}, "calibrating volumes: drawing 512 reference traces of 1 class(es)"),
])  # fmt: skip
def test_the_calibration_draw_is_announced_with_its_size(caplog, counts, drawn, line):
    from collections import Counter

    from netdiffus.postprocess import Postprocessor

    series = np.random.default_rng(0).uniform(1.0, 1e4, size=(8, 1, 6))  # continuous: no class held
    pp = Postprocessor.fit(series, ["a", "b"] * 4)
    with caplog.at_level("INFO", logger="netdiffus.postprocess"):
        labels = pp.calibration_labels(counts, snap_values=True)
    assert Counter(labels) == drawn
    assert [r.getMessage() for r in caplog.records] == [line]


# Two channels: signed packet sizes (whole, smallest |size| 60, zero padding) and inter-arrival
# times in seconds (continuous, never negative, no zeros).
SIZES_IAT = np.array([[[60.0, -1500.0, 0.0], [0.01, 0.2, 0.003]],
                      [[-66.0, 590.0, 0.0], [0.5, 0.002, 0.03]]])


@pytest.mark.parametrize("generated, expected", [
    ([[-20.5, 771.4, 3.0], [0.0025, 0.0001, 1.5]], [[-60.0, 771.0, 0.0], [0.0025, 0.002, 1.5]]),  # floor, whole
    ([[59.6, -61.2, -7.9], [-0.1, 0.004, 0.2]], [[60.0, -61.0, -60.0], [0.0, 0.004, 0.2]]),  # sign kept; >= 0
    ([[0.0, 1e6, -0.4], [0.0, 0.0, 0.0]], [[0.0, 1e6, 0.0], [0.0, 0.0, 0.0]]),  # zeros and large stay
])  # fmt: skip
def test_value_range_holds_values_a_capture_can_hold(generated, expected):
    from netdiffus.evaluation.packets import impossible_share
    from netdiffus.postprocess import ValueRange

    vr = ValueRange.fit(SIZES_IAT)
    assert (vr.floor.tolist(), vr.zero_ok.tolist(), vr.unsigned.tolist(), vr.whole.tolist()) == (
        [60.0, 0.002], [True, False], [False, True], [True, False])
    out = vr.apply(np.array([generated]), ["a"])
    np.testing.assert_allclose(out[0], expected)
    assert impossible_share(SIZES_IAT, out) == 0.0


def test_value_range_in_the_chain_json_and_old_runs():
    from netdiffus.config import PostprocessConfig
    from netdiffus.postprocess import Postprocessor

    pp = Postprocessor.fit(SIZES_IAT, ["a", "b"])
    back = Postprocessor.from_json(json.loads(json.dumps(pp.to_json())), channels=2)
    assert back.value_range == pp.value_range
    x = np.array([[[-20.0, 771.4, 0.0], [0.0001, 0.5, 0.1]]])
    assert pp.apply(x, ["a"], PostprocessConfig())[1] == ["snap_zeros", "possible_values"]
    assert pp.apply(x, ["a"], PostprocessConfig(possible_values=False))[0][0, 0, 1] == pytest.approx(771.4)
    old = {k: v for k, v in pp.to_json().items() if k != "value_range"}  # a run saved before the step
    assert Postprocessor.from_json(old).apply(x, ["a"], PostprocessConfig())[1] == ["snap_zeros"]


@pytest.mark.parametrize("span, message", [
    ({"floor": [1.0], "zero_ok": [True], "unsigned": [True], "whole": [True]}, "value_range.floor must be 2 finite"),
    ({"floor": [1.0, -2.0], "zero_ok": [True] * 2, "unsigned": [True] * 2, "whole": [True] * 2},
     "value_range.floor must be 2 finite values >= 0"),
    ({"floor": [1.0, 2.0], "zero_ok": [True], "unsigned": [True] * 2, "whole": [True] * 2},
     "with one zero_ok, unsigned and whole flag each"),
])  # fmt: skip
def test_a_tampered_value_range_is_refused(span, message):
    from netdiffus.postprocess import Postprocessor

    with pytest.raises(ValueError, match=message):
        Postprocessor.from_json({"zero_threshold": [0.0, 0.0], "value_range": span}, channels=2)


@pytest.mark.parametrize(("units", "signed", "generated", "held"), [
    (["bytes"], False, [0.3, 0.5, -2.0, 1499.6], [0.0, 1.0, 0.0, 1500.0]),      # counts: whole, >= 0
    (["packets"], True, [0.3, -0.7, -2.4, 3.5], [0.0, -1.0, -2.0, 4.0]),       # signed: the sign kept
    (["seconds"], False, [0.3, -0.7, 0.001, 3.5], [0.3, -0.7, 0.001, 3.5]),    # not a count: as generated
])
def test_public_range_reads_only_the_units(units, signed, generated, held):
    vr = ValueRange.public(units, signed=signed)
    out = vr.apply(np.array([[generated]]), ["a"])
    assert out[0, 0].tolist() == held
    assert ValueRange.from_json(vr.to_json()) == vr
