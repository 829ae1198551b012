"""Tracing cleanup: hand-made shapes of known geometry, the real NIST and Al-film tracings, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from napari_graintrace.cli import main
from napari_graintrace.core.data import CleanupOptions, clean_trace, cleanup
from napari_graintrace.core.errors import InputError
from napari_graintrace.core.io import read_image, read_trace
from napari_graintrace.core.scoring import tolerant_prf
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE, NIST_TRACED_ON_MICROGRAPH

EIGHT = np.ones((3, 3), bool)


def n_components(mask: np.ndarray) -> int:
    return ndi.label(mask, structure=EIGHT)[1]


def n_regions(mask: np.ndarray) -> int:
    """Background regions (grains): 4-connected, the dual of 8-connected boundaries."""
    return ndi.label(~mask)[1]


def measured_width(mask: np.ndarray) -> float:
    """Width of a straight line: twice the distance-transform maximum, minus the centre pixel."""
    return 2 * ndi.distance_transform_edt(mask).max() - 1


def thick_line(width: int, shape=(64, 96), vertical: bool = False) -> np.ndarray:
    mask = np.zeros(shape, bool)
    lo = shape[0] // 2 - width // 2
    mask[lo : lo + width, 8:-8] = True
    return mask.T.copy() if vertical else mask


def cross(width: int = 5) -> np.ndarray:
    mask = np.zeros((80, 80), bool)
    mask[40 - width // 2 : 40 + width // 2 + 1, 5:75] = True
    mask[5:75, 40 - width // 2 : 40 + width // 2 + 1] = True
    return mask


def ring(width: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[:80, :80]
    r = np.hypot(yy - 40, xx - 40)
    return (r >= 25) & (r < 25 + width)


def endpoints(skeleton: np.ndarray) -> int:
    return int(cleanup._endpoints(skeleton).sum())


# --------------------------------------------------------------------------------------------
# thickness
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("footprint", cleanup.FOOTPRINTS)
@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_straight_line_gets_exactly_n_pixels_wide(n, footprint):
    for start_width in (1, 4, 9):
        for vertical in (False, True):
            out = cleanup.set_thickness(thick_line(start_width, vertical=vertical), n, footprint)
            assert measured_width(out) == n
            middle = out[:, 48] if not vertical else out[48, :]
            assert middle.sum() == n  # the perpendicular profile, pixel by pixel
            assert n_components(out) == 1


def test_even_or_bad_thickness_is_refused():
    for bad in (0, 2, 4, -1, 2.5, True):
        with pytest.raises(InputError, match="thickness"):
            cleanup.set_thickness(thick_line(3), bad)
        with pytest.raises(InputError, match="thickness"):
            CleanupOptions(thickness=bad)
    with pytest.raises(InputError, match="footprint"):
        cleanup.set_thickness(thick_line(3), 3, "hexagon")


def test_skeleton_keeps_topology_and_invents_no_spurs():
    line = cleanup.skeletonize(thick_line(7))
    assert endpoints(line) == 2 and n_components(line) == 1
    assert measured_width(line) == 1
    plus = cleanup.skeletonize(cross(7))
    assert endpoints(plus) == 4 and n_components(plus) == 1
    circle = cleanup.skeletonize(ring(5))
    assert endpoints(circle) == 0 and n_components(circle) == 1 and n_regions(circle) == 2


@pytest.mark.parametrize("which", ["nist", "al"])
def test_skeleton_of_real_networks_opens_no_gaps(which, nist_trace, al_film_trace):
    trace = nist_trace if which == "nist" else al_film_trace
    skeleton = cleanup.skeletonize(trace)
    assert n_components(skeleton) == n_components(trace)
    # no gaps: no two grains of the tracing end up in one region of the skeleton (thinning a
    # thick line along the image edge may leave a sliver of former line pixels: not a gap)
    grains, n_grains = ndi.label(~trace)
    regions, _ = ndi.label(~skeleton)
    pairs = np.unique(np.stack([regions[grains > 0], grains[grains > 0]]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1] == n_grains
    assert skeleton.sum() < trace.sum() and not (skeleton & ~trace).any()
    rethick = cleanup.set_thickness(trace, 3)
    assert n_components(rethick) == n_components(trace)


# --------------------------------------------------------------------------------------------
# despeckle and bridging
# --------------------------------------------------------------------------------------------
def test_despeckle_removes_small_components_only(nist_trace):
    noisy = nist_trace.copy()
    noisy[5, 5] = noisy[5, 6] = False  # make sure the specks stand alone
    specks = np.zeros_like(noisy)
    for y, x in [(3, 3), (300, 20), (590, 790)]:
        specks[y - 1 : y + 1, x - 1 : x + 1] = True  # 4 px each
    specks &= ~ndi.binary_dilation(nist_trace, EIGHT, iterations=2)
    noisy |= specks
    assert n_components(noisy) == n_components(nist_trace) + 3
    out = cleanup.despeckle(noisy, 5)
    np.testing.assert_array_equal(out, nist_trace | (noisy & ~specks & ~nist_trace))
    assert not (out & specks).any()
    # a component of exactly S pixels stays, S - 1 goes
    two = np.zeros((20, 20), bool)
    two[2, 2:7] = True  # 5 px
    two[10, 2:6] = True  # 4 px
    only_five = np.pad(np.ones((1, 5), bool), ((2, 17), (2, 13)))
    np.testing.assert_array_equal(cleanup.despeckle(two, 5), only_five)
    np.testing.assert_array_equal(cleanup.despeckle(two, 0), two)


def _despeckle_by_hand(mask: np.ndarray, min_size: int) -> np.ndarray:
    """Reference: label 8-connected components, keep those of at least ``min_size`` pixels."""
    labels, count = ndi.label(mask, structure=EIGHT)
    keep = [i for i in range(1, count + 1) if np.count_nonzero(labels == i) >= min_size]
    return np.isin(labels, keep)


@pytest.mark.parametrize("min_size", [2, 3, 7, 40])
def test_despeckle_equals_labelling_by_hand(min_size):
    rng = np.random.default_rng(min_size)
    mask = rng.random((90, 110)) < 0.3  # many components of every size, diagonal touches included
    np.testing.assert_array_equal(cleanup.despeckle(mask, min_size), _despeckle_by_hand(mask, min_size))


@pytest.mark.parametrize("thickness", [3, 5, 9, 15])
def test_disk_thickening_uses_the_euclidean_disk(thickness):
    radius = thickness // 2
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = yy * yy + xx * xx <= radius * radius  # reference: every pixel within the radius
    point = np.zeros((41, 41), bool)
    point[20, 20] = True
    out = cleanup.set_thickness(point, thickness, "disk", skeleton=False)
    np.testing.assert_array_equal(out[20 - radius : 21 + radius, 20 - radius : 21 + radius], disk)
    assert np.count_nonzero(out) == np.count_nonzero(disk)


@pytest.mark.parametrize("gap", [1, 2])
def test_bridge_closes_small_gaps_at_line_ends_only(gap):
    mask = np.zeros((30, 40), bool)
    mask[10, 3:15] = True
    mask[10, 15 + gap : 30] = True
    assert n_components(mask) == 2
    bridged = cleanup.bridge_gaps(mask, gap)
    assert n_components(bridged) == 1 and bridged[10, 3:30].all() and bridged.sum() == 27
    too_far = np.zeros((30, 40), bool)
    too_far[10, 3:15] = True
    too_far[10, 15 + gap + 1 : 30] = True
    np.testing.assert_array_equal(cleanup.bridge_gaps(too_far, gap), too_far)
    corner = np.zeros((30, 40), bool)
    corner[5, 5:20] = True
    corner[5:20, 5] = True
    np.testing.assert_array_equal(cleanup.bridge_gaps(corner, gap), corner)  # no corner fill
    np.testing.assert_array_equal(cleanup.bridge_gaps(ring(3), gap), ring(3))
    with pytest.raises(InputError, match="bridge"):
        cleanup.bridge_gaps(mask, 3)


# --------------------------------------------------------------------------------------------
# border, binarize, extraction
# --------------------------------------------------------------------------------------------
def with_scale_bar(trace: np.ndarray) -> np.ndarray:
    """A black-on-white tracing image with a frame, a scale bar and some 'text' in the bottom margin."""
    image = np.where(trace, 0, 255).astype(np.uint8)
    image = np.pad(image, ((4, 40), (6, 6)), constant_values=255)
    image[:2, :] = image[:, :2] = 0  # frame
    image[-25:-20, 20:220] = 0  # scale bar
    image[-15:-5, 30:40] = image[-15:-5, 50:60] = 0  # "text"
    return image


def test_border_blank_and_crop(nist_trace, nist_micrograph_path):
    image = with_scale_bar(nist_trace)
    margins = (4, 40, 6, 6)
    blank, report = clean_trace(image, CleanupOptions(margins=margins))
    assert blank.shape == image.shape and report["polarity"] == "black-on-white"
    assert not (blank[:4].any() or blank[-40:].any() or blank[:, :6].any() or blank[:, -6:].any())
    np.testing.assert_array_equal(blank[4:-40, 6:-6], nist_trace)
    crop, report = clean_trace(image, CleanupOptions(margins=margins, border_mode="crop"))
    np.testing.assert_array_equal(crop, nist_trace)
    # the same slice cuts the micrograph to match
    micrograph = np.pad(read_image(nist_micrograph_path), ((4, 40), (6, 6)))
    region = cleanup.crop_slice(image.shape, margins)
    assert micrograph[region].shape == crop.shape
    assert tuple(report["box"]) == (4, 6, image.shape[0] - 40, image.shape[1] - 6)
    # a keep-rectangle is the same box
    keep = CleanupOptions(keep=report["box"], border_mode="crop")
    np.testing.assert_array_equal(clean_trace(image, keep)[0], nist_trace)
    # later steps never spill into a blanked border, and lines still run up to it
    thick, _ = clean_trace(image, CleanupOptions(margins=margins, thickness=5, min_size=10, bridge=2))
    assert not (thick[:4].any() or thick[-40:].any() or thick[:, :6].any() or thick[:, -6:].any())
    reference = cleanup.set_thickness(nist_trace, 5)
    np.testing.assert_array_equal(thick[4:-40, 6:-6], reference)
    with pytest.raises(InputError, match="leave nothing"):
        clean_trace(image, CleanupOptions(margins=(400, 400, 0, 0)))
    with pytest.raises(InputError, match="does not fit"):
        clean_trace(image, CleanupOptions(keep=(0, 0, 10_000, 10)))


def test_binarize_blurry_export_both_polarities(nist_trace):
    blurry = ndi.gaussian_filter(nist_trace.astype(np.float32), 0.7)
    white = np.clip(np.rint(blurry * 255 * 1.6), 0, 255).astype(np.uint8)
    mask, polarity = cleanup.binarize(white)
    assert polarity == "white-on-black"
    assert tolerant_prf(mask.astype(np.float32), nist_trace, 1.0)[2] > 0.95
    black = 255 - white
    mask_b, polarity_b = cleanup.binarize(black)
    assert polarity_b == "black-on-white"
    np.testing.assert_array_equal(mask_b, cleanup.binarize(white, None, "white-on-black")[0])
    # an explicit threshold on the [0, 1] scale
    high, _ = cleanup.binarize(white, 0.9)
    low, _ = cleanup.binarize(white, 0.1)
    assert high.sum() < mask.sum() < low.sum()
    rgb = np.stack([black] * 3, axis=-1)
    np.testing.assert_array_equal(cleanup.binarize(rgb)[0], mask_b)
    with pytest.raises(InputError, match="threshold"):
        cleanup.binarize(white, 1.5)
    with pytest.raises(InputError, match="polarity"):
        cleanup.binarize(white, None, "sideways")


def test_extract_bundled_nist_painted_export_matches_their_tracing():
    painted, original = read_image(NIST_TRACED_ON_MICROGRAPH), read_image(NIST_MICROGRAPH)
    theirs = read_trace(NIST_TRACE)[0]
    mask, report = clean_trace(painted, CleanupOptions(), original=original)
    assert report["method"] == "extract"
    iou = (mask & theirs).sum() / (mask | theirs).sum()
    precision, recall, f = tolerant_prf(mask.astype(np.float32), theirs, sigma=1.0)
    assert iou > 0.95 and f >= 0.95 and precision > 0.99 and recall > 0.97


def test_extract_shared_tif_pair_and_coloured_paint(nist_micrograph_path, nist_trace):
    original = read_image(nist_micrograph_path)
    painted_path = nist_micrograph_path.with_name("steel_traced_on_micrograph.tif")
    mask = cleanup.extract_trace(read_image(painted_path), original)
    assert tolerant_prf(mask.astype(np.float32), nist_trace, 1.0)[2] >= 0.95
    # red paint over a grey micrograph: found channel by channel even where luma barely changes
    rgb = np.stack([original] * 3, axis=-1)
    red = rgb.copy()
    red[nist_trace] = [255, 0, 0]
    got = cleanup.extract_trace(red, rgb)
    changed = (np.abs(red.astype(int) - rgb.astype(int)).max(axis=2) > 0.05 * 255)
    np.testing.assert_array_equal(got, changed)
    with pytest.raises(InputError, match="shapes must match"):
        cleanup.extract_trace(original[:100], original)


def test_pipeline_order_and_report(al_film_trace_path, al_film_trace):
    image = read_image(al_film_trace_path)
    params = CleanupOptions(min_size=10, bridge=1, thickness=3, footprint="square")
    mask, report = clean_trace(image, params)
    assert report["polarity"] == "black-on-white" and report["threshold"] == "otsu"
    assert mask.shape == image.shape and n_components(mask) == n_components(al_film_trace)
    json.dumps(report)  # JSON-ready


def test_params_round_trip_and_validation():
    params = CleanupOptions(margins=(1, 2, 3, 4), border_mode="crop", threshold=0.4, polarity="black-on-white",
                           min_size=12, bridge=2, thickness=5, footprint="gaussian", sigma=1.5)
    data = json.loads(json.dumps(params.to_dict()))
    assert CleanupOptions.from_dict(data) == params
    assert CleanupOptions.from_dict({**data, "from_the_future": 1}) == params
    for bad in ({"margins": (1, 2)}, {"margins": (-1, 0, 0, 0)}, {"threshold": 2}, {"min_size": -3},
                {"bridge": 5}, {"border_mode": "erase"}, {"sigma": 0}, {"keep": (5, 5, 5, 9)}):
        with pytest.raises(InputError):
            CleanupOptions(**bad)
    with pytest.raises(InputError, match="JSON object"):
        CleanupOptions.from_dict([1, 2])


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def test_cli_clean_one_file_with_sidecar_and_replay(tmp_path, al_film_trace_path, capsys):
    out = tmp_path / "clean.png"
    args = ["clean", str(al_film_trace_path), "-o", str(out), "--thickness", "3", "--min-size", "10",
            "--border", "2,2,2,2"]
    assert main(args) == 0
    written = np.asarray(Image.open(out))
    assert written.dtype == np.uint8 and set(np.unique(written)) <= {0, 255}
    sidecar = json.loads((tmp_path / "clean.cleanup.json").read_text())
    assert sidecar["params"]["thickness"] == 3 and sidecar["params"]["margins"] == [2, 2, 2, 2]
    expected, _ = clean_trace(read_image(al_film_trace_path), CleanupOptions.from_dict(sidecar["params"]))
    np.testing.assert_array_equal(written == 255, expected)
    # replay the sidecar: identical bytes
    again = tmp_path / "again.png"
    assert main(["clean", str(al_film_trace_path), "-o", str(again), "--params",
                 str(tmp_path / "clean.cleanup.json")]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(again)), written)
    # never overwrite without --overwrite
    before = out.stat().st_mtime_ns
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err and out.stat().st_mtime_ns == before
    assert main(args + ["--thickness", "5", "--overwrite"]) == 0
    assert json.loads((tmp_path / "clean.cleanup.json").read_text())["params"]["thickness"] == 5


def test_cli_clean_folder_with_originals(tmp_path, nist_micrograph_path, capsys):
    painted, originals, out = tmp_path / "painted", tmp_path / "originals", tmp_path / "out"
    painted.mkdir(), originals.mkdir()
    micrograph = read_image(nist_micrograph_path)[:200, :300]
    paint = read_image(nist_micrograph_path.with_name("steel_traced_on_micrograph.tif"))[:200, :300]
    for name in ("a", "b"):
        Image.fromarray(paint).save(painted / f"{name}.png")
        Image.fromarray(micrograph).save(originals / f"{name}.png")
    assert main(["clean", str(painted), "--original", str(originals), "-o", str(out), "--min-size", "5"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.cleanup.json", "a.png", "b.cleanup.json", "b.png"]
    err = capsys.readouterr().err
    assert "[1/2]" in err and "[2/2]" in err
    expected = cleanup.despeckle(cleanup.extract_trace(paint, micrograph), 5)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "b.png")) == 255, expected)
    assert json.loads((out / "a.cleanup.json").read_text())["report"]["method"] == "extract"


def test_cli_bad_input_writes_nothing(tmp_path, al_film_trace_path, capsys):
    out = tmp_path / "out"
    cases = [
        [str(tmp_path / "missing.png"), "-o", str(out)],
        [str(al_film_trace_path), "-o", str(out), "--thickness", "4"],
        [str(al_film_trace_path), "-o", str(out), "--border", "200,200,0,0"],
        [str(al_film_trace_path), "-o", str(out), "--threshold", "3"],
        [str(al_film_trace_path), "-o", str(tmp_path / "x.jpg")],
        [str(al_film_trace_path), "-o", str(out), "--original", str(al_film_trace_path.parent)],
        [str(al_film_trace_path), "-o", str(out), "--params", str(tmp_path / "nope.json")],
    ]
    for case in cases:
        assert main(["clean", *case]) == 2, case
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("graintrace clean: error:"), (case, err)
    # a folder where one image is damaged: nothing at all is written
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(al_film_trace_path).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not a png")
    assert main(["clean", str(folder), "-o", str(out)]) == 2
    assert "b.png" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.png"))
