"""Series values as tokens: exact values that recur, bins for the rest, decoding per trace."""

import numpy as np
import pytest

from netdiffus.errors import ConfigError
from netdiffus.vocab import SeriesVocabulary


def _x():
    # [N=4, C=2, T=4]: channel 0 sizes (signed), channel 1 timing
    return np.array([
        [[60, -342, 1500, 0], [0.0, 0.01, 0.2, 0.0]],
        [[60, -342, 1400, 0], [0.0, 0.02, 0.3, 0.0]],
        [[60, -342, 77, 90], [0.0, 0.01, 0.5, 0.7]],
        [[60, 100, 0, 0], [0.0, 0.9, 0.0, 0.0]],
    ], dtype=np.float64)


def test_values_held_by_two_traces_are_exact_tokens_and_the_rest_fall_in_bins():
    v = SeriesVocabulary.fit(_x(), bins=4)
    assert v.exact[0].tolist() == [-342.0, 60.0]  # 1500, 1400, 77, 90, 100: one trace each
    assert v.exact[1].tolist() == [0.01]
    tok = v.encode(_x())
    assert tok[:, 0, 0].tolist() == [2, 2, 2, 2] and tok[0, 0, 3] == 0
    assert (tok[:, 0][np.isin(_x()[:, 0], [1500, 1400, 77, 90, 100])] > 2).all()
    assert v.sizes == [1 + 2 + len(v.bins[0]), 1 + 1 + len(v.bins[1])]


def test_decoding_gives_exact_values_back_and_bin_values_inside_their_bin():
    x = _x()
    v = SeriesVocabulary.fit(x, bins=4)
    back = v.decode(v.encode(x), rngs=[np.random.default_rng(k) for k in range(len(x))])
    exact = np.isin(x, np.concatenate(v.exact)) | (x == 0)
    np.testing.assert_array_equal(back[exact], x[exact])
    rare = ~exact
    assert (np.sign(back[rare]) == np.sign(x[rare])).all()
    lo, hi = np.abs(x[:, 0][rare[:, 0]]).min(), np.abs(x[:, 0][rare[:, 0]]).max()
    assert (np.abs(back[:, 0][rare[:, 0]]) >= lo - 1e-9).all() and (np.abs(back[:, 0][rare[:, 0]]) <= hi + 1e-9).all()


def test_a_trace_decodes_the_same_whatever_is_decoded_beside_it():
    x = _x()
    v = SeriesVocabulary.fit(x, bins=4)
    tok = v.encode(x)
    both = v.decode(tok, rngs=[np.random.default_rng(7), np.random.default_rng(8), np.random.default_rng(9),
                                np.random.default_rng(10)])
    alone = v.decode(tok[2:3], rngs=[np.random.default_rng(9)])
    np.testing.assert_array_equal(both[2:3], alone)


def test_json_round_trip_and_tampered_vocabularies():
    v = SeriesVocabulary.fit(_x(), bins=4)
    back = SeriesVocabulary.from_json(v.to_json())
    assert [a.tolist() for a in back.exact] == [a.tolist() for a in v.exact] and back.sizes == v.sizes
    bad = v.to_json()
    bad["exact"][0] = [60.0, -342.0]  # not increasing
    with pytest.raises(ValueError, match="channel 0 must hold increasing finite values"):
        SeriesVocabulary.from_json(bad)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bins": 0}, "bins must be an integer >= 1 (got 0)"),
        ({"min_traces": 1}, "min_traces must be an integer >= 2 (got 1)"),
    ],
)
def test_bad_vocabulary_options(kwargs, message):
    with pytest.raises(ConfigError) as exc:
        SeriesVocabulary.fit(_x(), **kwargs)
    assert str(exc.value) == message


def test_bins_keep_to_one_sign_and_whole_values_stay_whole():
    x = np.array([[[-1500.0, -61.0, 62.0, 1400.0, 77.0]], [[-900.0, -63.0, 64.0, 800.0, 91.0]]])
    v = SeriesVocabulary.fit(x, bins=3)  # no value recurs: every value falls in a bin
    assert ((v.bins[0][:, 0] >= 0) | (v.bins[0][:, 1] <= 0)).all()
    back = v.decode(v.encode(x), rngs=[np.random.default_rng(k) for k in range(2)])
    assert (back == np.round(back)).all() and (np.sign(back) == np.sign(x)).all()
    assert (np.abs(back) >= 61).all()  # never a size below the smallest seen
