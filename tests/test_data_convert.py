"""core.convert: the one route from layer data or files to what the scores use."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from napari_graintrace.core.data import convert
from napari_graintrace.core.errors import InputError


def minority_mask(data: np.ndarray) -> np.ndarray:
    """Independent reference: non-zero vs zero, whichever is rarer is boundary (tie: non-zero)."""
    nonzero = data != 0
    return nonzero if nonzero.sum() * 2 <= nonzero.size else ~nonzero


def test_rgb_micrograph_is_pil_luma(rng):
    rgb = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32) / 255
    np.testing.assert_array_equal(convert.micrograph(rgb), expected)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])  # alpha dropped
    np.testing.assert_array_equal(convert.micrograph(rgba), expected)
    with pytest.raises(InputError, match=r"\(3, 17, 23\)"):
        convert.micrograph(np.zeros((3, 17, 23), np.uint8))
    with pytest.raises(InputError, match="shape"):
        convert.micrograph(rgb, rgb=False)  # napari says: a 3-slice stack, not colour


@pytest.mark.parametrize("boundary_value", [1, 2, 255])
def test_labels_tracing_takes_the_minority_either_way(al_film_trace, boundary_value):
    white_on_black = al_film_trace.astype(np.uint8) * np.uint8(boundary_value)
    black_on_white = (~al_film_trace).astype(np.uint8) * np.uint8(boundary_value)  # 80-90 % non-zero
    for data, polarity in ((white_on_black, "white-on-black"), (black_on_white, "black-on-white")):
        result = convert.tracing(data, labels=True)
        np.testing.assert_array_equal(result.mask, minority_mask(data))
        np.testing.assert_array_equal(result.mask, al_film_trace)
        assert result.polarity == polarity
        assert result.boundary_fraction == pytest.approx(al_film_trace.mean())
        assert result.boundary_fraction < 0.5 and polarity in result.describe()


def test_image_and_labels_tracings_agree(nist_trace):
    inverted = np.where(nist_trace, 0, 255).astype(np.uint8)
    from_image = convert.tracing(inverted)
    from_labels = convert.tracing((inverted > 0).astype(np.int32), labels=True)
    np.testing.assert_array_equal(from_image.mask, nist_trace)
    np.testing.assert_array_equal(from_labels.mask, nist_trace)
    assert from_image.polarity == from_labels.polarity == "black-on-white"
    forced = convert.tracing(inverted, polarity="white-on-black")  # an explicit choice is obeyed
    np.testing.assert_array_equal(forced.mask, ~nist_trace)


def test_prediction_scaling_and_checks():
    np.testing.assert_array_equal(convert.prediction(np.array([[0, 255]], np.uint8)), [[0.0, 1.0]])
    np.testing.assert_array_equal(convert.prediction(np.array([[0, 65535]], np.uint16)), [[0.0, 1.0]])
    assert convert.prediction(np.array([[0.25]], np.float64)).dtype == np.float32
    with pytest.raises(InputError, match="outside"):
        convert.prediction(np.array([[1.5]], np.float32))
    with pytest.raises(InputError, match="NaN"):
        convert.prediction(np.array([[np.nan]], np.float32))


def test_shape_mismatch_names_both_shapes_unless_resize_is_asked(nist_trace):
    with pytest.raises(InputError) as info:
        convert.match_shape(nist_trace, (300, 300))
    assert "600 x 800" in str(info.value) and "300 x 300" in str(info.value)
    assert convert.match_shape(nist_trace, (600, 800)) is nist_trace
    resized = convert.match_shape(nist_trace, (300, 400), resize=True)
    from skimage.transform import resize

    reference = resize(nist_trace.astype(float), (300, 400), order=1, anti_aliasing=False) >= 0.5
    np.testing.assert_array_equal(resized, reference)


def test_files_read_like_layers(tmp_path, al_film_trace, al_film_trace_path):
    result = convert.read_tracing(al_film_trace_path)
    np.testing.assert_array_equal(result.mask, al_film_trace)
    assert result.polarity == "black-on-white"
    Image.fromarray(np.array([[0, 128, 255]], np.uint8)).save(tmp_path / "p.png")
    np.testing.assert_allclose(convert.read_prediction(tmp_path / "p.png"), [[0, 128 / 255, 1]])


def boundaries_by_hand(labels: np.ndarray) -> np.ndarray:
    """Reference, pixel by pixel: a pixel is boundary when its right or lower neighbour has another label,
    or when it is label 0 and label 0 covers less than a quarter of the image."""
    h, w = labels.shape
    zeros_are_boundary = np.count_nonzero(labels == 0) < 0.25 * labels.size
    out = np.zeros((h, w), dtype=bool)
    for y in range(h):
        for x in range(w):
            differs = (x + 1 < w and labels[y, x] != labels[y, x + 1]) or (y + 1 < h and labels[y, x] != labels[y + 1, x])
            out[y, x] = differs or (zeros_are_boundary and labels[y, x] == 0)
    return out


def test_a_label_image_is_read_as_the_boundaries_between_its_grains(nist_trace):
    from skimage.measure import label
    from skimage.segmentation import expand_labels

    grains = label(~nist_trace, connectivity=1)[200:330, 300:460]  # this project's kind: boundaries are 0
    filled = expand_labels(grains, distance=10)  # another tool's kind: every pixel belongs to a grain
    assert (filled == 0).sum() == 0 and np.unique(filled).size > 10
    for data, labels_layer in ((grains, True), (filled, True), (filled.astype(np.uint16), False)):
        result = convert.tracing(data, labels=labels_layer)
        assert result.polarity == convert.GRAIN_LABELS and "label image" in result.describe()
        np.testing.assert_array_equal(result.mask, boundaries_by_hand(data))
        # every grain of a few pixels keeps an interior; no interior pixel is boundary
        for value in np.unique(data[data > 0]):
            if np.count_nonzero(data == value) >= 9:
                assert (~result.mask & (data == value)).any()
    # a real tracing and a real micrograph are not label images
    from napari_graintrace.core.io import read_image
    from napari_graintrace.data import NIST_MICROGRAPH

    assert not convert.is_label_image(nist_trace.astype(np.uint8) * 255)
    assert not convert.is_label_image(read_image(NIST_MICROGRAPH))
    assert convert.tracing(read_image(NIST_MICROGRAPH)).polarity != convert.GRAIN_LABELS
