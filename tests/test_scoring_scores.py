"""The fast scores against brute force written from the definitions, and against torch."""

from __future__ import annotations

import json
from pathlib import Path

import brute_force as ref
import numpy as np
import pytest
import torch

from napari_graintrace.core import InputError
from napari_graintrace.core.scoring import scores

REFERENCE = Path(__file__).resolve().parent / "data" / "reference_scores.json"


def random_pair(rng, shape=(40, 52), density=0.08):
    return rng.random(shape), rng.random(shape) < density


def edge_traces(shape=(23, 31)):
    empty = np.zeros(shape, bool)
    full = np.ones(shape, bool)
    one = empty.copy()
    one[11, 17] = True
    border = empty.copy()
    border[0, :] = border[:, -1] = True
    corner = empty.copy()
    corner[-1, -1] = corner[0, 0] = True
    return {"empty": empty, "full": full, "one pixel": one, "border": border, "corners": corner}


# -- the normalized Gaussian map -------------------------------------------------------------
@pytest.mark.parametrize("sigma,window", [(3.0, 15), (1.0, 5), (0.5, 3), (2.5, 9), (10.0, 21), (1.5, 1)])
def test_gaussian_map_matches_brute_force_on_random_traces(rng, sigma, window):
    _, trace = random_pair(rng, density=0.03)
    np.testing.assert_allclose(
        scores.gaussian_map(trace, sigma, window), ref.gaussian_map(trace, sigma, window), atol=1e-6, rtol=0
    )


@pytest.mark.parametrize("case", list(edge_traces()))
def test_gaussian_map_edge_cases(case):
    trace = edge_traces()[case]
    for sigma, window in ((3.0, 15), (1.0, 3), (2.0, 7)):
        expected = ref.gaussian_map(trace, sigma, window)
        np.testing.assert_allclose(scores.gaussian_map(trace, sigma, window), expected, atol=1e-6, rtol=0)
    if case == "empty":
        assert not scores.gaussian_map(trace).any()
    if case == "full":
        assert np.all(scores.gaussian_map(trace) == 1)


def test_gaussian_map_equals_per_pixel_definition():
    """A tiny case against the word-by-word definition, including corners of the window."""
    trace = np.zeros((13, 14), bool)
    trace[2, 3] = trace[9, 11] = trace[12, 0] = True
    expected = ref.gaussian_map_per_pixel(trace, 2.0, 7)
    np.testing.assert_allclose(scores.gaussian_map(trace, 2.0, 7), expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ref.gaussian_map(trace, 2.0, 7), expected, atol=1e-12)


def test_gaussian_map_is_a_maximum_not_a_sum():
    trace = np.zeros((9, 9), bool)
    trace[4, :] = trace[:, 4] = True  # a crossing
    assert scores.gaussian_map(trace, 3.0, 9).max() == pytest.approx(1.0)


def test_window_limits_reach():
    """Beyond window // 2 (Chebyshev) there is no reward, however wide sigma is."""
    trace = np.zeros((1, 20), bool)
    trace[0, 0] = True
    g = scores.gaussian_map(trace, sigma=100.0, window=5)
    assert g[0, 2] > 0.99 and g[0, 3] == 0


@pytest.mark.parametrize("fixture", ["nist_trace", "al_film_trace"])
def test_real_traces_maps_and_losses(fixture, request, rng):
    trace = request.getfixturevalue(fixture)
    if trace.shape[0] > 300:
        trace = trace[100:340, 200:500]  # brute force stays quick; still a real boundary network
    pred = np.clip(trace * 0.8 + rng.random(trace.shape) * 0.3, 0, 1)
    for sigma, window in ((3.0, 15), (1.0, 7)):
        np.testing.assert_allclose(
            scores.gaussian_map(trace, sigma, window), ref.gaussian_map(trace, sigma, window), atol=1e-6, rtol=0
        )
        assert scores.gaussian_loss(pred, trace, sigma, window) == pytest.approx(
            ref.gaussian_loss(pred, trace, sigma, window), abs=1e-6
        )
    for kernel in (1, 3, 5):
        assert np.array_equal(scores.tophat_mask(trace, kernel), ref.tophat_mask(trace, kernel))
        assert scores.tophat_loss(pred, trace, kernel) == pytest.approx(ref.tophat_loss(pred, trace, kernel), abs=1e-9)
    assert scores.bce(pred, trace) == pytest.approx(ref.bce(pred, trace), rel=1e-12)


# -- losses on random and edge cases ---------------------------------------------------------
@pytest.mark.parametrize("case", list(edge_traces()))
def test_losses_edge_cases(case, rng):
    trace = edge_traces()[case]
    pred = rng.random(trace.shape)
    assert scores.gaussian_loss(pred, trace, 2.0, 7) == pytest.approx(ref.gaussian_loss(pred, trace, 2.0, 7), abs=1e-6)
    assert scores.tophat_loss(pred, trace, 3) == pytest.approx(ref.tophat_loss(pred, trace, 3), abs=1e-12)
    p, r, f = scores.tolerant_prf(pred, trace, 2.0, 7)
    assert (p, r, f) == pytest.approx(ref.tolerant_prf(pred, trace, 2.0, 7), abs=1e-9)


def test_tolerant_prf_random_and_extremes(rng):
    pred, trace = random_pair(rng)
    assert scores.tolerant_prf(pred, trace, 1.5, 5) == pytest.approx(ref.tolerant_prf(pred, trace, 1.5, 5), abs=1e-9)
    assert scores.tolerant_prf(np.zeros(trace.shape), trace) == (0.0, 0.0, 0.0)
    assert scores.tolerant_prf(trace.astype(float), trace) == pytest.approx((1.0, 1.0, 1.0))


def test_shared_reference_cases():
    """Three cases computed by an independent implementation (tests/data/reference_scores.json)."""
    for case in json.loads(REFERENCE.read_text())["cases"]:
        pred, trace = np.array(case["p"]), np.array(case["t"]).astype(bool)
        got = scores.score_all(pred, trace, case["sigma"], case["window"], case["kernel"])
        for key, value in got.items():
            assert value == pytest.approx(case[key], abs=1e-9), (case["name"], key)
        np.testing.assert_allclose(
            scores.gaussian_map(trace, case["sigma"], case["window"]), case["gaussian_map"], atol=1e-6
        )


# -- BCE against torch ------------------------------------------------------------------------
def test_bce_equals_torch_including_exact_zeros_and_ones(rng):
    pred, trace = random_pair(rng)
    pred[0, :5] = 0.0
    pred[1, :5] = 1.0
    trace[0, :3] = trace[1, :3] = True  # hits and misses at the clamp
    trace[0, 3:5] = trace[1, 3:5] = False
    expected = torch.nn.functional.binary_cross_entropy(
        torch.from_numpy(pred), torch.from_numpy(trace.astype(np.float64))
    ).item()
    assert scores.bce(pred, trace) == pytest.approx(expected, rel=1e-12)
    all_wrong = np.where(trace, 0.0, 1.0)
    assert scores.bce(all_wrong, trace) == pytest.approx(100.0)  # the -100 clamp
    assert scores.bce(trace.astype(np.float32), trace) == 0.0


# -- the live sigma scorer ---------------------------------------------------------------------
def test_gaussian_scorer_matches_direct_computation(rng, nist_trace):
    trace = nist_trace[:200, :300]
    pred = rng.random(trace.shape).astype(np.float32)
    scorer = scores.GaussianScorer(pred, trace, window=15)
    for sigma in (0.5, 1.0, 2.7, 3.0, 10.0):
        assert scorer.loss(sigma) == pytest.approx(ref.gaussian_loss(pred, trace, sigma, 15), abs=1e-6)
        np.testing.assert_allclose(
            scorer.reward_map(sigma), 2 * ref.gaussian_map(trace, sigma, 15) - 1, atol=1e-6, rtol=0
        )


def test_gaussian_scorer_loss_does_not_touch_the_image(rng):
    pred, trace = random_pair(rng)
    scorer = scores.GaussianScorer(pred, trace, window=9)
    before = scorer.loss(2.0)
    pred[:] = 0  # the scorer keeps only a per-distance summary
    del scorer._index
    assert scorer.loss(2.0) == before


def test_smaller_sigma_is_stricter(nist_trace):
    shifted = np.zeros(nist_trace.shape)
    shifted[:, 2:] = nist_trace[:, :-2]
    scorer = scores.GaussianScorer(shifted, nist_trace)
    assert scorer.loss(1.0) > scorer.loss(3.0)


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("window", [0, 2, 14, -3, 2.5])
def test_even_or_bad_window_rejected(window):
    trace = np.zeros((5, 5), bool)
    with pytest.raises(InputError, match="window must be an odd positive integer"):
        scores.gaussian_map(trace, 3.0, window)


@pytest.mark.parametrize("kernel", [0, 4])
def test_even_kernel_rejected(kernel):
    with pytest.raises(InputError, match="kernel must be an odd"):
        scores.tophat_mask(np.zeros((5, 5), bool), kernel)


@pytest.mark.parametrize("sigma", [0, -1, float("nan"), float("inf")])
def test_bad_sigma_rejected(sigma):
    with pytest.raises(InputError, match="sigma must be a positive number"):
        scores.gaussian_map(np.zeros((5, 5), bool), sigma)


def test_bad_pairs_rejected():
    trace = np.zeros((4, 5), bool)
    with pytest.raises(InputError, match=r"shape mismatch: prediction \(4, 4\) vs tracing \(4, 5\)"):
        scores.bce(np.zeros((4, 4)), trace)
    with pytest.raises(InputError, match="NaN"):
        scores.tophat_loss(np.full((4, 5), np.nan), trace)
    with pytest.raises(InputError, match="outside"):
        scores.gaussian_loss(np.full((4, 5), 1.5), trace)
    with pytest.raises(InputError, match="boolean or 0/1"):
        scores.bce(np.zeros((4, 5)), np.full((4, 5), 255))


@pytest.mark.parametrize("fixture", ["nist_trace", "al_film_trace"])
def test_tophat_summary_gives_every_kernel(fixture, request, rng):
    trace = request.getfixturevalue(fixture)
    pred = rng.random(trace.shape)
    summary = scores.tophat_summary(pred, trace, max_kernel=11)
    for kernel in (1, 3, 5, 7, 11):
        assert scores.tophat_loss_from_summary(summary, pred.sum(), pred.size, kernel) == pytest.approx(
            ref.tophat_loss(pred, trace, kernel), abs=1e-9)
    with pytest.raises(InputError, match="larger than the summary"):
        scores.tophat_loss_from_summary(summary, pred.sum(), pred.size, 13)
