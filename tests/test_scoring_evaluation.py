from __future__ import annotations

import numpy as np
import pytest

from napari_graintrace.core import InputError
from napari_graintrace.core.scoring import Evaluation, grid_transform, resize_trace, scores


def test_resize_trace_keeps_thin_lines(nist_trace):
    from skimage.morphology import skeletonize

    thin = skeletonize(nist_trace)
    small = resize_trace(thin, (256, 256))
    assert small.shape == (256, 256) and small.dtype == bool
    assert 0.5 * thin.mean() < small.mean() < 2 * thin.mean()  # lines neither vanish nor bloat
    assert np.array_equal(resize_trace(nist_trace, nist_trace.shape), nist_trace)


def test_grid_transform_puts_pixel_centres_on_the_micrograph():
    scale, translate = grid_transform((600, 800), (300, 200))
    assert scale == (2.0, 4.0) and translate == (0.5, 1.5)
    # coarse pixel 0 covers fine pixels 0..1 (rows): centre at 0.5
    assert 0 * scale[0] + translate[0] == pytest.approx(0.5)
    assert grid_transform((10, 10), (10, 10)) == ((1.0, 1.0), (0.0, 0.0))


def test_evaluation_matches_core_scores(rng, nist_trace):
    pred = rng.random(nist_trace.shape).astype(np.float32)
    ev = Evaluation(pred, nist_trace, sigma=2.0, window=9, kernel=5)
    expected = {**scores.score_all(pred, nist_trace, 2.0, 9, 5), **scores.bce_parts_and_boundary(pred, nist_trace)}
    assert ev.scores() == pytest.approx(expected)
    ev.sigma = 1.0
    assert ev.gaussian() == pytest.approx(scores.gaussian_loss(pred, nist_trace, 1.0, 9))
    ev.set_window(5)
    assert ev.gaussian() == pytest.approx(scores.gaussian_loss(pred, nist_trace, 1.0, 5))
    assert ev.tolerant_prf() == pytest.approx(scores.tolerant_prf(pred, nist_trace, 1.0, 5))  # D_p cache follows
    assert ev.pictures()["recall"].shape == (*nist_trace.shape, 3)
    with pytest.raises(InputError, match="window must be an odd"):
        ev.set_window(4)
    with pytest.raises(InputError, match="no boundary pixels"):
        Evaluation(pred, np.zeros_like(nist_trace))


def test_evaluation_of_scores_on_the_tracing_grid(nist_trace):
    """A map made at another size is resampled to the tracing's (the micrograph's) grid, never the reverse."""
    def smooth(shape):  # one smooth field sampled at the pixel centres of any grid over the same area
        rows = (np.arange(shape[0]) + 0.5) / shape[0]
        cols = (np.arange(shape[1]) + 0.5) / shape[1]
        return (0.5 + 0.4 * np.sin(3 * rows)[:, None] * np.cos(2 * cols)[None, :]).astype(np.float32)

    ev = Evaluation.of(smooth((256, 256)), nist_trace)
    assert ev.grid == ev.trace.shape == ev.pred.shape == nist_trace.shape
    assert np.array_equal(ev.trace, nist_trace)
    np.testing.assert_allclose(ev.pred, smooth(nist_trace.shape), atol=2e-3)
    assert ev.bce == pytest.approx(scores.bce(smooth(nist_trace.shape), nist_trace), rel=1e-3)
    assert ev.composite_rgb().shape == (*nist_trace.shape, 3)
