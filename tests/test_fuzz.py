"""Property-based tests of the scores and the readers against tests/brute_force.py.

Random shapes (1 x 1, 1 x N, N x 1 included), dtypes, value ranges, NaN/inf and windows up to and
beyond the image: each call either agrees with the brute-force definition or raises ``InputError``
with a message; nothing else (ValueError, OverflowError, a NaN result) is allowed. Kept fast:
small images, tens of examples each.
"""

from __future__ import annotations

import math
import os

import brute_force as ref
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_graintrace.core import io
from napari_graintrace.core.errors import InputError
from napari_graintrace.core.scoring import scores

# GRAINTRACE_FUZZ_EXAMPLES=2000 for a long hunt; the suite's default stays fast
FAST = settings(max_examples=int(os.environ.get("GRAINTRACE_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

shapes = st.tuples(st.integers(1, 9), st.integers(1, 9))


@st.composite
def pairs(draw):
    """(prediction, tracing) of one random shape; predictions of either float type, any values in [0, 1]."""
    shape = draw(shapes)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    pred = draw(arrays(dtype, shape, elements=st.floats(0, 1, width=32)))
    trace = draw(arrays(np.bool_, shape))
    return pred, trace


def odd_up_to_beyond(shape) -> st.SearchStrategy[int]:
    """Odd windows from 1 to a little beyond what the image can use (2 max(H, W) + 3)."""
    return st.integers(0, max(shape) + 1).map(lambda r: 2 * r + 1)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@FAST
@given(data=st.data(), pair=pairs(), sigma=st.floats(0.05, 50))
def test_every_score_matches_the_definition(data, pair, sigma):
    pred, trace = pair
    window = data.draw(odd_up_to_beyond(pred.shape), label="window")
    kernel = data.draw(odd_up_to_beyond(pred.shape), label="kernel")
    got = scores.score_all(pred, trace, sigma=sigma, window=window, kernel=kernel)
    assert all(math.isfinite(v) for v in got.values()), got
    p = pred.astype(np.float64)
    assert _close(got["bce"], ref.bce(p, trace))
    assert _close(got["tophat"], ref.tophat_loss(p, trace, kernel))
    assert _close(got["gaussian"], ref.gaussian_loss(p, trace, sigma, window))
    for key, want in zip(("precision", "recall", "f"), ref.tolerant_prf(p, trace, sigma, window), strict=True):
        assert _close(got[key], want), (key, got[key], want)
    # the live path: the reward map and the per-distance summary agree with the definition too
    g = ref.gaussian_map(trace, sigma, window)
    assert np.allclose(scores.GaussianScorer(pred, trace, window).reward_map(sigma), 2 * g - 1, atol=1e-6)


@FAST
@given(pair=pairs(), sigma=st.sampled_from([1e-200, 1e-160, 5e-324, 1e-30]))
def test_vanishing_sigma_is_the_limit_not_nan(pair, sigma):
    """sigma -> 0: G is the tracing itself, D_p is p; never 0 / 0 = NaN (it printed NaN in --json)."""
    pred, trace = pair
    got = scores.score_all(pred, trace, sigma=sigma, window=5, kernel=3)
    assert all(math.isfinite(v) for v in got.values()), got
    p, t = pred.astype(np.float64), trace.astype(np.float64)
    assert _close(got["gaussian"], float(-(p * (2 * t - 1)).mean()))
    precision = float((p * t).sum() / p.sum()) if p.sum() > 0 else 0.0
    recall = float((p * t).sum() / t.sum()) if t.sum() > 0 else 0.0
    assert _close(got["precision"], precision) and _close(got["recall"], recall)


garbage = st.one_of(
    st.none(), st.booleans(), st.text(max_size=3), st.integers(-10, 10**15),
    st.floats(allow_nan=True, allow_infinity=True), st.just(float("nan")), st.just(float("inf")),
    st.just(-float("inf")), st.lists(st.integers(), max_size=2),
)


@FAST
@given(pair=pairs(), sigma=garbage, window=garbage, kernel=garbage)
def test_any_parameter_gives_a_score_or_an_input_error(pair, sigma, window, kernel):
    pred, trace = pair
    try:
        got = scores.score_all(pred, trace, sigma=sigma, window=window, kernel=kernel)
    except InputError as exc:
        assert str(exc)  # a message, naming the parameter
        assert any(name in str(exc) for name in ("sigma", "window", "kernel"))
        return
    assert all(math.isfinite(v) for v in got.values()), got
    assert isinstance(window, int | float) and isinstance(kernel, int | float)


def test_text_sigma_is_refused_even_for_an_empty_prediction():
    trace = np.zeros((3, 3), bool)
    trace[1, 1] = True
    for pred in (np.zeros((3, 3), np.float32), np.full((3, 3), 0.5, np.float32)):
        with pytest.raises(InputError, match="sigma"):
            scores.tolerant_prf(pred, trace, sigma="3")
        with pytest.raises(InputError, match="sigma"):
            scores.GaussianScorer(pred, trace).precision("3")


@FAST
@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]),
       bad=st.sampled_from([np.nan, np.inf, -np.inf, -0.5, 1.5]), data=st.data())
def test_a_bad_prediction_value_is_an_input_error(shape, dtype, bad, data):
    pred = np.full(shape, 0.5, dtype)
    pred[data.draw(st.integers(0, shape[0] - 1)), data.draw(st.integers(0, shape[1] - 1))] = bad
    trace = np.ones(shape, bool)
    with pytest.raises(InputError, match="prediction"):
        scores.score_all(pred, trace)
    with pytest.raises(InputError, match="prediction"):
        io.to_unit_float(pred, "prediction")


# --------------------------------------------------------------------------------------------
# windows past 361: the GaussianScorer's index overflowed uint16 at 365 (sparse tracings make the
# definition's per-pixel loop cheap on images large enough to need such windows)
# --------------------------------------------------------------------------------------------
def _sparse_reference(pred: np.ndarray, trace: np.ndarray, sigma: float, window: int):
    """The definition word by word for a tracing of a few pixels: (Gaussian loss, P, R)."""
    r = window // 2
    rows, cols = np.indices(trace.shape)
    g = np.zeros(trace.shape)
    for ty, tx in np.argwhere(trace):
        inside = (np.abs(rows - ty) <= r) & (np.abs(cols - tx) <= r)
        g = np.maximum(g, np.where(inside, np.exp(-((rows - ty) ** 2 + (cols - tx) ** 2) / (2 * sigma**2)), 0))
    p = pred.astype(np.float64)
    recall_terms = []
    for ty, tx in np.argwhere(trace):
        inside = (np.abs(rows - ty) <= r) & (np.abs(cols - tx) <= r)
        weights = np.exp(-((rows - ty) ** 2 + (cols - tx) ** 2) / (2 * sigma**2))
        recall_terms.append(float(np.max(np.where(inside, p * weights, 0))))
    return float(-(p * (2 * g - 1)).mean()), float((p * g).sum() / p.sum()), float(np.mean(recall_terms))


@pytest.mark.parametrize("window", [363, 365, 401])
def test_large_windows_match_the_definition(window):
    rng = np.random.default_rng(window)
    trace = np.zeros((420, 400), bool)  # a few pixels in one corner: the far side has none in its window
    trace[rng.integers(0, 30, 3), rng.integers(0, 30, 3)] = True
    pred = rng.random(trace.shape).astype(np.float32)
    loss, precision, recall = _sparse_reference(pred, trace, 60.0, window)
    got = scores.score_all(pred, trace, sigma=60.0, window=window)
    assert got["gaussian"] == pytest.approx(loss, abs=1e-9)
    assert got["precision"] == pytest.approx(precision, abs=1e-9)
    assert got["recall"] == pytest.approx(recall, abs=1e-9)


def test_a_huge_window_costs_what_the_image_allows():
    """window 100001 allocated 37 GiB; bounded by the image it is the same as any covering window."""
    rng = np.random.default_rng(1)
    trace = rng.random((40, 30)) < 0.02
    pred = rng.random(trace.shape).astype(np.float32)
    covering = scores.score_all(pred, trace, sigma=5.0, window=81, kernel=81)
    assert scores.score_all(pred, trace, sigma=5.0, window=100_001, kernel=100_001) == covering
    assert scores.score_all(pred, trace, sigma=5.0, window=10**15 + 1, kernel=10**15 + 1) == covering
    assert scores.GaussianScorer(pred, trace, 100_001).summary[0].size == 39**2 + 29**2 + 1


# --------------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------------
int_images = st.sampled_from([np.uint8, np.uint16]).flatmap(
    lambda dtype: arrays(dtype, shapes, elements=st.integers(0, np.iinfo(dtype).max)))


@FAST
@given(image=int_images, suffix=st.sampled_from([".png", ".tif"]))
def test_written_images_read_back_exactly(tmp_path_factory, image, suffix):
    path = tmp_path_factory.mktemp("roundtrip") / f"x{suffix}"
    io.write_image(path, image)
    back = io.read_image(path)
    assert back.dtype == image.dtype and np.array_equal(back, image)
    unit = io.read_prediction(path)
    assert unit.dtype == np.float32
    assert np.array_equal(unit, image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max))


@FAST
@given(image=st.one_of(
    int_images,
    arrays(st.sampled_from([np.float32, np.float64]), shapes,
           elements=st.one_of(st.floats(-2, 2, width=16), st.sampled_from([np.nan, np.inf, -np.inf]))),
    arrays(st.sampled_from([np.int16, np.int32]), shapes, elements=st.integers(-5, 300)),
    arrays(np.bool_, shapes),
))
def test_to_unit_float_scales_or_refuses(image):
    try:
        got = io.to_unit_float(image)
    except InputError as exc:
        assert "image" in str(exc)
        finite = np.issubdtype(image.dtype, np.floating) and np.all(np.isfinite(image))
        assert not (finite and image.min() >= 0 and image.max() <= 1)
        return
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(image.dtype, 1.0)
    assert got.dtype == np.float32 and got.shape == image.shape
    assert np.allclose(got, image.astype(np.float64) / scale, atol=1e-7)


def _reference_trace(image: np.ndarray, polarity: str) -> np.ndarray:
    """Two-level and one-level images only: the brighter level is white; one level is white above mid-range."""
    levels = np.unique(image)
    if levels.size == 1:
        top = 1.0 if image.dtype.kind == "f" else (255 if image.dtype == np.uint8 else 65535)
        white = np.full(image.shape, float(levels[0]) > top / 2)
    else:
        white = image == levels[-1]
    if polarity == "auto":
        polarity = "white-on-black" if 2 * white.sum() <= white.size else "black-on-white"
    return white if polarity == "white-on-black" else ~white


two_level_images = st.tuples(st.sampled_from([np.uint8, np.uint16]), shapes).flatmap(
    lambda ds: st.tuples(
        arrays(np.bool_, ds[1]),
        st.lists(st.integers(0, np.iinfo(ds[0]).max), min_size=2, max_size=2, unique=True).map(sorted),
    ).map(lambda mv: np.where(mv[0], mv[1][1], mv[1][0]).astype(ds[0])))


@FAST
@given(image=st.one_of(two_level_images, int_images.filter(lambda a: np.unique(a).size == 1)),
       polarity=st.sampled_from(["auto", "white-on-black", "black-on-white"]))
def test_tracing_polarity_matches_the_rule(image, polarity):
    assume(np.unique(image).size <= 2)
    mask, used = io.as_trace(image, polarity)
    assert mask.dtype == np.bool_ and used in ("white-on-black", "black-on-white")
    assert np.array_equal(mask, _reference_trace(image, polarity))


def test_a_single_white_pixel_is_a_boundary_when_white_is_boundary():
    one = np.array([[255]], np.uint8)
    assert io.as_trace(one, "white-on-black")[0].all()
    assert not io.as_trace(one, "black-on-white")[0].any()
    white = np.full((5, 4), 255, np.uint8)  # an all-white tracing with black boundaries has none
    assert not io.as_trace(white, "black-on-white")[0].any()
    assert not io.as_trace(white, "auto")[0].any()


@FAST
@given(image=int_images, suffix=st.sampled_from([".png", ".tif"]), data=st.data())
def test_a_damaged_image_file_is_read_or_refused(tmp_path_factory, image, suffix, data):
    """Truncated or overwritten bytes of a real file: an image or an InputError naming the file, nothing else."""
    path = tmp_path_factory.mktemp("damaged") / f"x{suffix}"
    io.write_image(path, image)
    raw = bytearray(path.read_bytes())
    cut = data.draw(st.integers(0, len(raw)), label="keep bytes")
    noise = data.draw(st.binary(max_size=16), label="noise")
    at = data.draw(st.integers(0, max(cut - 1, 0)), label="noise at")
    damaged = raw[:cut]
    damaged[at : at + len(noise)] = noise
    path.write_bytes(bytes(damaged))
    try:
        got = io.read_prediction(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    assert got.ndim == 2 and got.dtype == np.float32 and np.all((got >= 0) & (got <= 1))
