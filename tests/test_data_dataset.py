"""Crop boxes, the aligned-crops dataset layout, merge and check (core and CLI, no viewer)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from napari_graintrace.cli import main
from napari_graintrace.core.data import (
    CropBox,
    apply_boxes,
    box_from_corners,
    boxes_to_json,
    corners_and_centre,
    dataset,
    grid_boxes,
    parse_boxes,
    read_boxes,
    write_boxes,
)
from napari_graintrace.core.errors import InputError
from napari_graintrace.core.io import as_trace, read_image, write_image
from napari_graintrace.core.options import CropOptions
from napari_graintrace.core.steps import run_steps

BOXES = [CropBox(1, 0, 0, 300, 400), CropBox(2, 150, 200, 450, 600), CropBox(3, 300, 400, 600, 800)]


def write_aligned(root, name, images, trace, boxes, *, sources=None, trace_source="", progress=None, **fields):
    """Write an aligned folder the way ``graintrace crop`` does: CropOptions, then every step."""
    steps = dataset.write_aligned_steps(root, images, trace, boxes, CropOptions(name, **fields), sources=sources,
                                        trace_source=trace_source)
    return run_steps(steps, None if progress is None else lambda step: progress(*step))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def nist(nist_micrograph_path, nist_trace_path):
    """The NIST micrograph, a second synthetic field of view (brighter, noisier) and the tracing."""
    micrograph = read_image(nist_micrograph_path)
    noise = np.random.default_rng(7).normal(0, 6, micrograph.shape)
    second = np.clip(micrograph.astype(np.float64) * 0.8 + 40 + noise, 0, 255).astype(np.uint8)
    return micrograph, second, read_image(nist_trace_path)


@pytest.fixture
def files(tmp_path, nist, nist_micrograph_path, nist_trace_path):
    """The inputs as files, as a user would pass them to ``graintrace crop``."""
    second = write_image(tmp_path / "inputs" / "field2.png", nist[1])
    boxes = write_boxes(tmp_path / "inputs" / "boxes.json", BOXES)
    return {"images": [nist_micrograph_path, second], "trace": nist_trace_path, "boxes": boxes}


# --------------------------------------------------------------------------------------------
# boxes
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bounds",
    [(1, 10, 10, 10, 20), (1, 10, 10, 5, 20), (1, 10, 20, 20, 20), (0, 0, 0, 5, 5), (1, -1, 0, 5, 5),
     (1, 0, 0, 5.5, 5), (True, 0, 0, 5, 5), (1, "0", 0, 5, 5)],
)
def test_empty_degenerate_or_malformed_box_is_refused(bounds):
    with pytest.raises(InputError):
        CropBox(*bounds)


def test_box_basics():
    box = CropBox(2, 10, 20, 30.0, 60)
    assert box.bottom == 30 and isinstance(box.bottom, int)
    assert (box.height, box.width) == (20, 40)
    assert np.arange(100 * 100).reshape(100, 100)[box.slices].shape == (20, 40)
    box.check_fits((30, 60))
    with pytest.raises(InputError, match="outside the 29 x 60 image"):
        box.check_fits((29, 60))


def test_json_round_trips_exactly(tmp_path):
    text = boxes_to_json(BOXES, name="S1", source_shape=[600, 800])
    assert parse_boxes(text) == BOXES
    assert json.loads(text) == {"name": "S1", "source_shape": [600, 800], "boxes": [b.to_dict() for b in BOXES]}
    path = write_boxes(tmp_path / "b.json", BOXES, name="S1", source_shape=[600, 800])
    again = write_boxes(tmp_path / "c.json", read_boxes(path), name="S1", source_shape=[600, 800])
    assert path.read_bytes() == again.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        write_boxes(path, BOXES)


def test_json_readers_ignore_unknown_keys_and_keep_order():
    text = json.dumps({"version": 3, "boxes": [
        {"index": 5, "top": 0, "left": 0, "bottom": 2, "right": 2, "colour": "red"},
        {"right": 9, "bottom": 9, "left": 1, "top": 1, "index": 2},
    ]})
    assert parse_boxes(text) == [CropBox(5, 0, 0, 2, 2), CropBox(2, 1, 1, 9, 9)]


@pytest.mark.parametrize(
    "text, message",
    [("{", "not valid JSON"), ("[]", '"boxes" list'), ('{"boxes": {}}', "must be a list"),
     ('{"boxes": []}', "no crop boxes"), ('{"boxes": [{"index": 1, "top": 0}]}', "lacks left"),
     ('{"boxes": [{"index": 1, "top": 0, "left": 0, "bottom": 0, "right": 5}]}', "empty"),
     (('{"boxes": [{"index": 1, "top": 0, "left": 0, "bottom": 2, "right": 2},'
      ' {"index": 1, "top": 2, "left": 2, "bottom": 4, "right": 4}]}'), "share index 1")],
)
def test_bad_boxes_json(text, message):
    with pytest.raises(InputError, match=message):
        parse_boxes(text, "b.json")


def test_apply_boxes_gives_identical_windows_pixel_by_pixel(nist):
    micrograph, second, trace = nist
    crops = apply_boxes(BOXES, micrograph, second, trace)
    assert len(crops) == len(BOXES)
    for box, (a, b, t) in zip(BOXES, crops):
        assert a.shape == b.shape == t.shape == (box.height, box.width)
        rows, cols = np.mgrid[box.top:box.bottom, box.left:box.right]
        np.testing.assert_array_equal(a, micrograph[rows, cols])
        np.testing.assert_array_equal(b, second[rows, cols])
        np.testing.assert_array_equal(t, trace[rows, cols])
    crops[0][0][:] = 0  # copies: the user's image is never changed through a crop
    assert micrograph[:300, :400].any()


def test_apply_boxes_refuses_mismatched_shapes_and_outside_boxes(nist):
    micrograph = nist[0]
    with pytest.raises(InputError, match="array 2 is 600 x 799"):
        apply_boxes(BOXES, micrograph, micrograph[:, :799])
    with pytest.raises(InputError, match="box 9 .* reaches outside the 600 x 800 image"):
        apply_boxes([CropBox(9, 500, 700, 601, 800)], micrograph)
    rgb = np.stack([micrograph] * 3, axis=-1)
    assert apply_boxes(BOXES[:1], rgb, micrograph)[0][0].shape == (300, 400, 3)


@pytest.mark.parametrize("shape, rows, cols, overlap", [((600, 800), 2, 3, 50), ((101, 97), 3, 2, 0),
                                                       ((64, 64), 1, 1, 0), ((600, 800), 4, 4, 7)])
def test_grid_covers_the_image_with_the_requested_overlap(shape, rows, cols, overlap):
    boxes = grid_boxes(shape, rows, cols, overlap)
    assert [b.index for b in boxes] == list(range(1, rows * cols + 1))
    assert len({(b.height, b.width) for b in boxes}) == 1
    covered = np.zeros(shape, int)
    for box in boxes:
        box.check_fits(shape)
        covered[box.slices] += 1
    assert covered.min() >= 1
    if rows > 1:
        assert boxes[0].bottom - boxes[cols].top >= overlap
    if cols > 1:
        assert boxes[0].right - boxes[1].left >= overlap


def test_grid_that_cannot_fit_is_refused():
    with pytest.raises(InputError, match="do not fit"):
        grid_boxes((10, 10), 3, 1, 20)
    with pytest.raises(InputError):
        grid_boxes((10, 10), 0, 1)
    with pytest.raises(InputError):
        grid_boxes((10, 10), 2, 2, -1)


def test_corners_and_centre():
    boxes = corners_and_centre((600, 800), 350)
    assert [b.to_dict() for b in boxes] == [
        {"index": 1, "top": 0, "left": 0, "bottom": 350, "right": 350},
        {"index": 2, "top": 0, "left": 450, "bottom": 350, "right": 800},
        {"index": 3, "top": 250, "left": 0, "bottom": 600, "right": 350},
        {"index": 4, "top": 250, "left": 450, "bottom": 600, "right": 800},
        {"index": 5, "top": 125, "left": 225, "bottom": 475, "right": 575},
    ]
    assert corners_and_centre((600, 800), (100, 200))[4] == CropBox(5, 250, 300, 350, 500)
    with pytest.raises(InputError, match="does not fit"):
        corners_and_centre((600, 800), 700)


# --------------------------------------------------------------------------------------------
# the aligned layout
# --------------------------------------------------------------------------------------------
def test_layout_written_exactly_as_the_design_says(tmp_path, nist):
    micrograph, second, trace_image = nist
    out = write_aligned(tmp_path, "S1", [micrograph, second], trace_image, BOXES,
                                sources=["a.tif", "b.png"], trace_source="t.tif")
    assert out == tmp_path / "S1_validation" / "aligned"
    expected = {"S1_1.png", "S1_2.png", "S1_trace.png", "boxes.json", "manifest.csv"}
    expected |= {f"{kind}/S1_{n}_{m}.png" for kind in ("image", "label") for n in (1, 2) for m in (1, 2, 3)}
    written = tree(out)
    assert set(written) == expected
    assert sorted(p.name for p in (tmp_path / "S1_validation").iterdir()) == ["aligned"]  # no temp left

    trace = as_trace(trace_image)[0]
    np.testing.assert_array_equal(read_image(out / "S1_1.png"), micrograph)
    np.testing.assert_array_equal(read_image(out / "S1_2.png"), second)
    np.testing.assert_array_equal(read_image(out / "S1_trace.png"), trace.astype(np.uint8) * 255)
    for box in BOXES:
        for n, original in ((1, micrograph), (2, second)):
            np.testing.assert_array_equal(read_image(out / f"image/S1_{n}_{box.index}.png"), original[box.slices])
            label = read_image(out / f"label/S1_{n}_{box.index}.png")
            np.testing.assert_array_equal(label, trace[box.slices].astype(np.uint8) * 255)
        assert written[f"label/S1_1_{box.index}.png"] == written[f"label/S1_2_{box.index}.png"]

    assert read_boxes(out / "boxes.json") == BOXES
    assert json.loads(written["boxes.json"])["source_shape"] == [600, 800]
    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == dataset.MANIFEST_FIELDS
    assert {row["file"] for row in rows} == expected - {"manifest.csv"}
    for row in rows:
        assert row["sha256"] == sha256(out / row["file"])
    by_file = {row["file"]: row for row in rows}
    assert by_file["image/S1_2_3.png"] == {
        "file": "image/S1_2_3.png", "kind": "image", "source": "b.png", "n": "2", "m": "3",
        "top": "300", "left": "400", "bottom": "600", "right": "800", "sha256": sha256(out / "image/S1_2_3.png")}
    assert by_file["label/S1_2_3.png"]["source"] == "t.tif"
    assert by_file["S1_trace.png"]["kind"] == "trace"
    assert dataset.check(out) == []


def test_black_on_white_tracing_becomes_white_on_black_labels(tmp_path, nist):
    micrograph, _, trace_image = nist
    inverted = 255 - trace_image
    a = write_aligned(tmp_path / "a", "S", [micrograph], trace_image, BOXES[:1])
    b = write_aligned(tmp_path / "b", "S", [micrograph], inverted, BOXES[:1])
    assert (a / "label/S_1_1.png").read_bytes() == (b / "label/S_1_1.png").read_bytes()


def test_thickness_goes_through_the_cleanup_core(tmp_path, nist):
    from napari_graintrace.core.data import set_thickness

    micrograph, _, trace_image = nist
    out = write_aligned(tmp_path, "S", [micrograph], trace_image, BOXES[:1], thickness=3)
    expected = set_thickness(as_trace(trace_image)[0], 3)
    np.testing.assert_array_equal(read_image(out / "label/S_1_1.png") > 0, expected[BOXES[0].slices])
    assert not (expected == as_trace(trace_image)[0]).all()


def test_overwrite_replaces_the_whole_folder(tmp_path, nist):
    micrograph, _, trace_image = nist
    write_aligned(tmp_path, "S", [micrograph], trace_image, BOXES)
    with pytest.raises(InputError, match="already exists"):
        write_aligned(tmp_path, "S", [micrograph], trace_image, BOXES[:1])
    out = write_aligned(tmp_path, "S", [micrograph], trace_image, BOXES[:1], overwrite=True)
    assert sorted(p.name for p in (out / "image").iterdir()) == ["S_1_1.png"]  # no stale crops of the old layout
    assert sorted(p.name for p in out.parent.iterdir()) == ["aligned"]


def _bad_inputs(nist):
    micrograph, second, trace = nist
    return {
        "different shapes": ({"images": [micrograph, second[:, :799]]}, "micrograph 2 .* 600 x 799"),
        "trace shape": ({"trace": trace[:599]}, "tracing .* 599 x 800"),
        "box outside": ({"boxes": [CropBox(1, 0, 0, 10, 10), CropBox(2, 590, 0, 610, 10)]}, "outside"),
        "no boxes": ({"boxes": []}, "no crop boxes"),
        "duplicate index": ({"boxes": [CropBox(1, 0, 0, 10, 10)] * 2}, "share index"),
        "slash in name": ({"name": "a/b"}, "path separator"),
        "backslash in name": ({"name": "a\\b"}, "path separator"),
        "dot name": ({"name": ".."}, "dot"),
        "empty name": ({"name": " "}, "empty"),
        "even thickness": ({"thickness": 4}, "odd"),
        "float out of range": ({"images": [micrograph.astype(np.float32)]}, r"outside \[0, 1\]"),
        "3-D image": ({"images": [np.zeros((2, 600, 800), np.uint8)]}, "2-D"),
    }


@pytest.mark.parametrize("case", [
    "different shapes", "trace shape", "box outside", "no boxes", "duplicate index", "slash in name",
    "backslash in name", "dot name", "empty name", "even thickness", "float out of range", "3-D image"])
def test_every_bad_input_writes_nothing(tmp_path, nist, case):
    change, message = _bad_inputs(nist)[case]
    kwargs = {"root": tmp_path / "root", "name": "S", "images": [nist[0], nist[1]], "trace": nist[2], "boxes": BOXES}
    kwargs.update(change)
    with pytest.raises(InputError, match=message):
        write_aligned(**kwargs)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_refused_and_untouched(tmp_path, nist):
    existing = tmp_path / "S_validation" / "aligned"
    existing.mkdir(parents=True)
    (existing / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="already exists"):
        write_aligned(tmp_path, "S", [nist[0]], nist[2], BOXES)
    assert tree(tmp_path) == {"S_validation/aligned/mine.txt": b"keep me"}


def test_failure_while_writing_leaves_nothing(tmp_path, nist, monkeypatch):
    calls = []

    def failing_progress(done, total, text):
        calls.append(text)
        if len(calls) == 5:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_aligned(tmp_path / "new" / "root", "S", [nist[0]], nist[2], BOXES, progress=failing_progress)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# CLI crop
# --------------------------------------------------------------------------------------------
def test_cli_crop_writes_the_same_bytes_as_the_core(tmp_path, files, capsys):
    args = ["crop", "--boxes", str(files["boxes"]), "--images", *map(str, files["images"]),
            "--trace", str(files["trace"]), "--name", "S1", "--out", str(tmp_path / "cli")]
    assert main(args) == 0
    assert "2 original(s), 6 image/label pairs" in capsys.readouterr().out
    core = write_aligned(
        tmp_path / "core", "S1", [read_image(p) for p in files["images"]], read_image(files["trace"]),
        read_boxes(files["boxes"]), sources=[str(p) for p in files["images"]], trace_source=str(files["trace"]))
    assert tree(tmp_path / "cli" / "S1_validation" / "aligned") == tree(core)
    assert main(args) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize("change, message", [
    ({"--name": "x/y"}, "path separator"),
    ({"--boxes": "missing.json"}, "no such file"),
    ({"--thickness": "2"}, "odd"),
    ({"--images": "SMALL"}, "micrograph 2 .* 300 x 800"),
    ({"--boxes": "OUTSIDE"}, "outside"),
])
def test_cli_crop_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, files, capsys, change, message):
    small = write_image(tmp_path / "inputs" / "small.png", np.zeros((300, 800), np.uint8))
    outside = tmp_path / "inputs" / "outside.json"
    outside.write_text('{"boxes": [{"index": 1, "top": 500, "left": 0, "bottom": 700, "right": 10}]}')
    options = {"--boxes": str(files["boxes"]), "--trace": str(files["trace"]), "--name": "S1",
               "--out": str(tmp_path / "out")}
    images = [str(files["images"][0]), str(small) if change.get("--images") == "SMALL" else str(files["images"][1])]
    options.update({k: v for k, v in change.items() if k != "--images"})
    if options["--boxes"] == "OUTSIDE":
        options["--boxes"] = str(outside)
    argv = ["crop", "--images", *images]
    for key, value in options.items():
        argv += [key, value]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graintrace crop: error:") and "\n" not in err
    assert re.search(message, err)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# merge and check
# --------------------------------------------------------------------------------------------
def _make_set(folder: Path, names: list[str], value: int = 1) -> Path:
    for i, name in enumerate(names):
        write_image(folder / "image" / name, np.full((8, 8), 10 * i + value, np.uint8))
        label = np.zeros((8, 8), np.uint8)
        label[i % 8, :] = 255
        write_image(folder / "label" / name, label)
    return folder


def test_merge_keeps_every_pair_byte_for_byte_with_provenance(tmp_path, nist):
    aligned = write_aligned(tmp_path / "crops", "S1", [nist[0]], nist[2], BOXES)
    original = _make_set(tmp_path / "original", ["a.png", "b.png"])
    dest = dataset.merge([original, aligned.parent], tmp_path / "S1_sum")  # NAME_validation -> its aligned/
    assert sorted(p.name for p in (dest / "image").iterdir()) == ["S1_1_1.png", "S1_1_2.png", "S1_1_3.png",
                                                                   "a.png", "b.png"]
    assert (dest / "label" / "a.png").read_bytes() == (original / "label" / "a.png").read_bytes()
    assert (dest / "image" / "S1_1_2.png").read_bytes() == (aligned / "image" / "S1_1_2.png").read_bytes()
    with open(dest / "manifest.csv", newline="") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    assert rows["a.png"]["source_dataset"] == str(original)
    assert rows["S1_1_3.png"]["source_dataset"] == str(aligned)
    for name, row in rows.items():
        assert row["image_sha256"] == sha256(dest / "image" / name)
        assert row["label_sha256"] == sha256(dest / "label" / name)
    assert dataset.check(dest) == []


def test_merge_clash_refuse_writes_nothing_and_rename_keeps_both(tmp_path, capsys):
    one = _make_set(tmp_path / "one", ["a.png", "b.png"], value=1)
    two = _make_set(tmp_path / "two", ["A.png", "c.png"], value=2)  # A.png clashes on case-insensitive disks
    with pytest.raises(InputError, match="name clash: A.png"):
        dataset.merge([one, two], tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    assert main(["merge", str(one), str(two), "-o", str(tmp_path / "dest")]) == 2
    assert not (tmp_path / "dest").exists()

    assert main(["merge", str(one), str(two), "-o", str(tmp_path / "dest"), "--on-clash", "rename"]) == 0
    assert "4 pairs from 2 datasets, 1 renamed" in capsys.readouterr().out
    dest = tmp_path / "dest"
    assert sorted(p.name for p in (dest / "image").iterdir()) == ["A_src2.png", "a.png", "b.png", "c.png"]
    assert (dest / "image" / "A_src2.png").read_bytes() == (two / "image" / "A.png").read_bytes()
    assert (dest / "label" / "A_src2.png").read_bytes() == (two / "label" / "A.png").read_bytes()
    with open(dest / "manifest.csv", newline="") as handle:
        renamed = [row for row in csv.DictReader(handle) if row["renamed_from"]]
    assert [(r["file"], r["renamed_from"]) for r in renamed] == [("A_src2.png", "A.png")]
    assert main(["merge", str(one), "-o", str(dest)]) == 2  # an existing DEST is never overwritten


def test_merge_refuses_unpaired_sources_and_bad_destinations(tmp_path):
    one = _make_set(tmp_path / "one", ["a.png"])
    broken = _make_set(tmp_path / "broken", ["a2.png", "b2.png"])
    (broken / "label" / "b2.png").unlink()
    with pytest.raises(InputError, match="b2.png has no partner"):
        dataset.merge([one, broken], tmp_path / "dest")
    with pytest.raises(InputError, match="given twice"):
        dataset.merge([one, one], tmp_path / "dest")
    with pytest.raises(InputError, match="inside"):
        dataset.merge([one], one / "sub")
    with pytest.raises(InputError, match="not a dataset"):
        dataset.merge([tmp_path], tmp_path / "dest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "one"]


def test_check_finds_every_problem_and_exits_non_zero(tmp_path, capsys):
    folder = _make_set(tmp_path / "set", ["ok.png", "lonely_image.png", "lonely_label.png", "small.png", "grey.png"])
    (folder / "label" / "lonely_image.png").unlink()
    (folder / "image" / "lonely_label.png").unlink()
    write_image(folder / "label" / "small.png", np.zeros((8, 7), np.uint8), overwrite=True)
    write_image(folder / "label" / "grey.png", np.arange(64, dtype=np.uint8).reshape(8, 8), overwrite=True)
    (folder / "image" / "notes.txt").write_text("stray")
    (folder / "label" / ".hidden").write_text("ignored")

    problems = dataset.check(folder)
    assert [(p.kind, p.path) for p in problems] == [
        ("not an image", "image/notes.txt"),
        ("image without label", "image/lonely_image.png"),
        ("label without image", "label/lonely_label.png"),
        ("non-binary label", "label/grey.png"),
        ("shape mismatch", "small.png"),
    ]
    assert main(["check", str(folder)]) == 1
    out = capsys.readouterr().out
    for problem in problems:
        assert str(problem) in out
    assert "5 problem(s)" in out

    clean = _make_set(tmp_path / "clean", ["a.png"])
    assert main(["check", str(clean)]) == 0
    assert "1 image/label pairs, no problems" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "nowhere")]) == 2
    assert main(["check", str(tmp_path)]) == 2
    assert "not a dataset" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# reading an aligned folder back; boxes from drawn rectangles
# --------------------------------------------------------------------------------------------
def test_read_aligned_gives_back_what_was_written(tmp_path, nist):
    micrograph, second, trace_image = nist
    out = write_aligned(tmp_path, "S1", [micrograph, second], trace_image, BOXES)
    opened = dataset.read_aligned(out.parent)  # NAME_validation stands for its aligned/
    assert opened.folder == out and opened.name == "S1" and opened.boxes == BOXES
    assert [path.name for path, _ in opened.originals] == ["S1_1.png", "S1_2.png"]
    np.testing.assert_array_equal(opened.originals[1][1], second)
    np.testing.assert_array_equal(opened.trace, as_trace(trace_image)[0])
    # a tracing someone re-saved black-on-white still gives its boundaries (not `trace > 0`)
    write_image(out / "S1_trace.png", 255 - read_image(out / "S1_trace.png"), overwrite=True)
    again = dataset.read_aligned(out)
    assert again.polarity == "black-on-white"
    np.testing.assert_array_equal(again.trace, opened.trace)


def test_read_aligned_refuses_other_folders(tmp_path):
    with pytest.raises(InputError, match="no boxes.json"):
        dataset.read_aligned(tmp_path)


@pytest.mark.parametrize("top, left, bottom, right", [(0, 0, 256, 256), (3, 5, 10, 300), (17, 0, 18, 1)])
def test_box_from_corners_of_a_rectangle_drawn_on_pixel_edges(top, left, bottom, right):
    # a rectangle covering pixels top..bottom-1 runs along their outer edges, half a pixel out
    rows, cols = (top - 0.5, bottom - 0.5), (left - 0.5, right - 0.5)
    corners = np.array([(r, c) for r in rows for c in cols])
    box = box_from_corners(4, corners)
    assert box == CropBox(4, top, left, bottom, right)
    mask = np.zeros((400, 400), bool)
    mask[box.slices] = True  # the box covers exactly the pixels whose centres lie inside the rectangle
    yy, xx = np.mgrid[:400, :400]
    inside = (yy > rows[0]) & (yy < rows[1]) & (xx > cols[0]) & (xx < cols[1])
    np.testing.assert_array_equal(mask, inside)


def test_box_from_corners_refuses_rotated_empty_and_outside():
    with pytest.raises(InputError, match="rotated"):
        box_from_corners(1, np.array([(0, 5), (5, 10), (10, 5), (5, 0)], float))
    with pytest.raises(InputError, match="empty or reaches outside"):
        box_from_corners(2, np.array([(3.0, 3.0), (3.0, 3.0), (3.2, 3.2), (3.2, 3.2)]))
    with pytest.raises(InputError, match="empty or reaches outside"):
        box_from_corners(3, np.array([(-3.5, 0.5), (-3.5, 9.5), (9.5, 0.5), (9.5, 9.5)]))
