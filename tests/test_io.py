from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_graintrace.core import InputError, io


def test_read_png_and_tiff_8_and_16_bit(tmp_path, rng):
    grey8 = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    grey16 = rng.integers(0, 65536, (7, 9), dtype=np.uint16)
    Image.fromarray(grey8).save(tmp_path / "a.png")
    Image.fromarray(grey16).save(tmp_path / "b.png")
    tifffile.imwrite(tmp_path / "c.tif", grey16)
    tifffile.imwrite(tmp_path / "d.tiff", grey8)
    assert np.array_equal(io.read_image(tmp_path / "a.png"), grey8)
    b = io.read_image(tmp_path / "b.png")
    assert b.dtype == np.uint16 and np.array_equal(b, grey16)
    assert np.array_equal(io.read_image(tmp_path / "c.tif"), grey16)
    assert np.array_equal(io.read_image(tmp_path / "d.tiff"), grey8)
    np.testing.assert_allclose(io.read_micrograph(tmp_path / "b.png"), grey16 / 65535, atol=1e-7)
    np.testing.assert_allclose(io.read_prediction(tmp_path / "a.png"), grey8 / 255, atol=1e-7)


def test_rgb_and_rgba_become_pil_luma(tmp_path, rng):
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, rng.integers(0, 256, (6, 8), dtype=np.uint8)])
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    for name in ("rgb.png", "rgba.png", "rgb.tif"):
        assert np.array_equal(io.read_image(tmp_path / name), expected), name


def test_image_shape_from_the_header_is_the_shape_read_image_gives(tmp_path, rng):
    """The header-only shape (a sweep's resolution check) against decoding every pixel."""
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    files = {"grey.png": rgb[..., 0], "rgb.png": rgb, "rgba.png": np.dstack([rgb, rgb[..., :1]]),
             "grey16.png": rgb[..., 0].astype(np.uint16) * 257}
    for name, array in files.items():
        Image.fromarray(array).save(tmp_path / name)
    Image.fromarray(rgb[..., 0] > 100).save(tmp_path / "bilevel.png")
    Image.fromarray(rgb[..., 0]).convert("P").save(tmp_path / "palette.png")
    tifffile.imwrite(tmp_path / "grey.tif", rgb[..., 0].astype(np.float32))
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "one_page.tiff", rgb[None, ..., 0])
    for path in sorted(tmp_path.iterdir()):
        assert io.image_shape(path) == io.read_image(path).shape[:2] == (6, 8), path.name
    # what read_image refuses, image_shape refuses with its words
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    for name, words in (("planar.tif", "expected a 2-D grey or an RGB/RGBA image"),
                        ("broken.png", "cannot be read as an image")):
        with pytest.raises(InputError, match=words):
            io.image_shape(tmp_path / name)


def test_float_tiff_prediction_checked_not_clipped(tmp_path):
    good = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    tifffile.imwrite(tmp_path / "good.tif", good)
    assert np.array_equal(io.read_prediction(tmp_path / "good.tif"), good)
    bad = good.copy()
    bad[0, 0] = 1.5
    tifffile.imwrite(tmp_path / "high.tif", bad)
    with pytest.raises(InputError, match=r"high.tif: prediction has values in \[0.0909091, 1.5\], outside"):
        io.read_prediction(tmp_path / "high.tif")
    bad[0, 0] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", bad)
    with pytest.raises(InputError, match="nan.tif: prediction contains NaN"):
        io.read_prediction(tmp_path / "nan.tif")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        io.read_image(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(InputError, match="junk.png: cannot be read as an image"):
        io.read_image(tmp_path / "junk.png")


def test_polarity_auto_on_real_traces(nist_trace_path, al_film_trace_path):
    nist, nist_polarity = io.read_trace(nist_trace_path)
    al, al_polarity = io.read_trace(al_film_trace_path)
    assert nist_polarity == "white-on-black" and 0.09 < nist.mean() < 0.12
    assert al_polarity == "black-on-white" and 0.05 < al.mean() < 0.09
    raw = io.read_image(al_film_trace_path)
    assert np.array_equal(al, raw == 0)


def test_polarity_explicit_blurry_and_blank():
    blurry = np.zeros((10, 10), np.uint8)
    blurry[4, :] = 250
    blurry[3, :] = blurry[5, :] = 90  # a soft edge: Otsu decides
    mask, polarity = io.as_trace(blurry)
    assert polarity == "white-on-black" and mask[4].all() and not mask[0].any()
    inverted, polarity = io.as_trace(255 - blurry, "auto")
    assert polarity == "black-on-white" and np.array_equal(inverted, mask)
    forced, _ = io.as_trace(blurry, "black-on-white")
    assert np.array_equal(forced, ~mask)
    assert not io.as_trace(np.full((4, 4), 255, np.uint8))[0].any()
    with pytest.raises(InputError, match="unknown polarity"):
        io.as_trace(blurry, "white")


def test_safe_writes_refuse_to_overwrite(tmp_path):
    target = tmp_path / "sub" / "out.png"
    io.write_image(target, np.full((3, 3), 7, np.uint8))
    with pytest.raises(InputError, match="already exists"):
        io.write_image(target, np.zeros((3, 3), np.uint8))
    assert io.read_image(target)[0, 0] == 7
    io.write_image(target, np.zeros((3, 3), np.uint8), overwrite=True)
    assert io.read_image(target)[0, 0] == 0
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.png"]  # no temporary left


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "x.png"
    with pytest.raises(InputError, match="8-bit"):
        io.write_image(target, np.zeros((3, 3), np.float64))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), io.atomic_path(tmp_path / "y.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("cancelled")
    assert list(tmp_path.iterdir()) == []


def test_unit_float_to_uint8_rounds():
    assert io.unit_float_to_uint8(np.array([0.0, 0.5, 1.0, 0.999])).tolist() == [0, 128, 255, 255]


def test_an_output_that_is_an_input_is_refused_even_with_overwrite(tmp_path):
    """By name, through a symbolic link and through a hard link: writing it would destroy the input."""
    from napari_graintrace.core.io import check_output_folder, check_writable

    source = tmp_path / "micrograph.png"
    source.write_bytes(b"precious")
    (tmp_path / "link.png").symlink_to(source)
    os.link(source, tmp_path / "hard.png")
    for output in (source, tmp_path / "sub" / ".." / "micrograph.png", tmp_path / "link.png", tmp_path / "hard.png"):
        with pytest.raises(InputError, match="is also an input"):
            check_writable([output], overwrite=True, inputs=[source])
    check_writable([tmp_path / "other.png"], overwrite=True, inputs=[source])  # another name is fine
    with pytest.raises(InputError, match="lies inside it"):
        check_output_folder(tmp_path, overwrite=True, inputs=[source])
    assert source.read_bytes() == b"precious"


def test_atomic_writes_give_the_usual_mode_without_touching_the_umask(tmp_path, monkeypatch):
    import os
    import stat
    import threading

    previous = os.umask(0o027)  # a distinctive umask, set here in the test's own thread only
    try:
        def no_umask(_mask):
            raise AssertionError("os.umask is process-wide: atomic writes must not call it")

        monkeypatch.setattr(os, "umask", no_umask)
        errors = []

        def write(index: int) -> None:  # several threads at once, as napari workers would
            try:
                io.write_text(tmp_path / f"f{index}.txt", "x")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        monkeypatch.undo()
    finally:
        os.umask(previous)
    assert errors == []
    modes = {stat.S_IMODE((tmp_path / f"f{i}.txt").stat().st_mode) for i in range(8)}
    assert modes == {0o666 & ~0o027}
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"f{i}.txt" for i in range(8)]
