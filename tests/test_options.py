"""core.options: one parser per kind of field, the same answer from every way in."""

import dataclasses

import pytest

from napari_graintrace.core import options
from napari_graintrace.core.errors import InputError
from napari_graintrace.core.model import DEPTH, inference
from napari_graintrace.core.options import CleanupOptions, CropOptions, PredictOptions, TrainOptions


def test_grid_is_the_unets():
    assert options.GRID == 2**DEPTH == inference.GRID


@pytest.mark.parametrize("text, expected", [("native", None), ("NATIVE", None), (None, None), ("1024", 1024),
                                            (256, 256), (64.0, 64)])
def test_resolution_parses_numbers_text_and_native(text, expected):
    assert options.resolution(text) == expected
    assert PredictOptions(resolution=text).resolution == expected


@pytest.mark.parametrize("bad", ["1000", 1000, 8, 0, -16, "big", True, float("nan"), 16.5])
def test_resolution_refuses_what_the_unet_cannot_take(bad):
    with pytest.raises(InputError, match="resolution"):
        options.resolution(bad)
    with pytest.raises(InputError, match="size"):
        TrainOptions(size=bad)


def test_every_task_refuses_the_same_resolution_the_same_way():
    messages = set()
    for build in (lambda: PredictOptions(resolution="1000"), lambda: options.resolution(1000)):
        with pytest.raises(InputError) as caught:
            build()
        messages.add(str(caught.value))
    assert messages == {"resolution must be a multiple of 16 (the U-Net halves it 4 times), got 1000"}


@pytest.mark.parametrize("value, ok", [(1, True), (3, True), ("15", True), (2, False), (0, False), (-3, False),
                                       (3.5, False), (False, False)])
def test_odd_int(value, ok):
    if ok:
        assert options.odd_int(value, "window") == int(value)
    else:
        with pytest.raises(InputError, match="window must be an odd positive integer"):
            options.odd_int(value, "window")


@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan"), "x", None])
def test_positive_number_refuses(value):
    with pytest.raises(InputError, match="learning rate must be a positive number"):
        TrainOptions(lr=value)


def test_predict_options_tiling_rules():
    assert PredictOptions(tile=0).tile is None and PredictOptions(tile=None).tile is None
    with pytest.raises(InputError, match="multiple of 16"):
        PredictOptions(tile=100)
    with pytest.raises(InputError, match="no core"):
        PredictOptions(tile=256, overlap=128)
    with pytest.raises(InputError, match="precision"):
        PredictOptions(precision="int8")
    with pytest.raises(InputError, match="device"):
        PredictOptions(device="tpu")
    assert PredictOptions(device="CUDA:1").device == "cuda:1"


def test_options_are_frozen_and_replace_checks_again():
    base = TrainOptions(epochs=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.epochs = 4
    assert dataclasses.replace(base, epochs=5).epochs == 5
    with pytest.raises(InputError, match="epochs"):
        dataclasses.replace(base, epochs=0)
    with pytest.raises(InputError, match="unknown loss 'dice'"):
        TrainOptions(loss="dice")
    with pytest.raises(InputError, match="checkpoint name"):
        TrainOptions(name="../x")


def test_cleanup_options_take_cli_text():
    parsed = CleanupOptions(margins="1, 2,3,4", thickness="3", threshold="0.5")
    assert parsed == CleanupOptions(margins=(1, 2, 3, 4), thickness=3, threshold=0.5)
    assert CleanupOptions.from_dict(parsed.to_dict()) == parsed


def test_crop_options():
    assert CropOptions("S1", thickness=3).thickness == 3
    for bad in ("", "a/b", ".hidden", " S"):
        with pytest.raises(InputError, match="dataset name"):
            CropOptions(bad)
    with pytest.raises(InputError, match="thickness"):
        CropOptions("S", thickness=4)
