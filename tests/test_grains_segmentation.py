"""Grains: the lab's post-processing, statistics and comparison, against references written here.

References: brute-force loops straight from the definitions (design.md "Grains"), scikit-image's
own functions (regionprops, label, binary_dilation), the lab's ``confidence_overlap`` loop, and a
synthetic Voronoi tessellation whose grains are known by construction.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
from scipy.spatial import cKDTree
from skimage import filters, measure, morphology

from napari_graintrace.core import grains
from napari_graintrace.core.errors import InputError
from napari_graintrace.core.grains.compare import _centroid_matching

NIST_INTERCEPT_EDGES_PX = 37.18  # NIST GSAT, ex_grain_intercept/optical_etched, "All Lines" average


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def voronoi(shape: tuple[int, int], count: int, seed: int = 0, spacing: float = 0.0):
    """Nearest-seed labels (1..n) and boundaries where a right or lower neighbour differs."""
    rng = np.random.default_rng(seed)
    points: list[np.ndarray] = []
    while len(points) < count:  # dart throwing: seeds at least `spacing` apart keep cells large
        candidate = rng.uniform(0, 1, 2) * shape
        if all(np.hypot(*(candidate - p)) >= spacing for p in points):
            points.append(candidate)
    rows, cols = np.indices(shape)
    _, nearest = cKDTree(np.array(points)).query(np.c_[rows.ravel(), cols.ravel()])
    cells = nearest.reshape(shape) + 1
    boundary = np.zeros(shape, dtype=bool)
    boundary[:-1] |= cells[:-1] != cells[1:]
    boundary[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    return cells, boundary


def conditional_entropy(a: np.ndarray, b: np.ndarray) -> float:
    """H(a | b) in bits over the given paired samples, by counting."""
    joint = Counter(zip(a.tolist(), b.tolist(), strict=True))
    marginal = Counter(b.tolist())
    n = len(a)
    return -sum(c / n * math.log2(c / marginal[y]) for (_, y), c in joint.items())


def brute_vi(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    both = (pred > 0) & (truth > 0)
    return conditional_entropy(pred[both], truth[both]), conditional_entropy(truth[both], pred[both])


def brute_matches(pred: np.ndarray, truth: np.ndarray) -> int:
    """Every (true, predicted) grain pair, IoU from the masks; count those above 0.5."""
    matches = 0
    for t in np.unique(truth[truth > 0]):
        for p in np.unique(pred[pred > 0]):
            a, b = truth == t, pred == p
            if np.count_nonzero(a & b) / np.count_nonzero(a | b) > 0.5:
                matches += 1
    return matches


def lab_confidence_overlap(conservative: np.ndarray, liberal: np.ndarray) -> np.ndarray:
    """grain_unet's thresholding.confidence_overlap, loop for loop."""
    output = conservative.copy()
    lib_lab = measure.label(liberal)
    for label in np.unique(lib_lab[conservative]):
        if label == 0:
            continue
        output[lib_lab == label] = True
    return output


def brute_prune(skeleton: np.ndarray, length: int) -> np.ndarray:
    """Walk from every line end to the first junction; drop walks shorter than ``length``; then stubs."""
    h, w = skeleton.shape
    padded = np.pad(skeleton, 1, constant_values=True)  # the outside counts as boundary

    def neighbours(image, r, c):
        return [(r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                if (dr or dc) and 0 <= r + dr < h and 0 <= c + dc < w and image[r + dr, c + dc]]

    def degree(r, c):
        return int(padded[r:r + 3, c:c + 3].sum()) - 1

    out = skeleton.copy()
    junctions = [(r, c) for r, c in zip(*np.nonzero(skeleton), strict=True) if degree(r, c) >= 3]
    for r, c in zip(*np.nonzero(skeleton), strict=True):
        if degree(r, c) > 1:
            continue
        chain, current, previous = [], (r, c), set()
        while current is not None and degree(*current) < 3:
            chain.append(current)
            previous.add(current)
            following = [n for n in neighbours(skeleton, *current) if n not in previous]
            current = following[0] if following else None
        if len(chain) < length:
            for pixel in chain:
                out[pixel] = False
    for _ in range(2):
        stubs = [(r, c) for r, c in junctions if out[r, c] and 0 < r < h - 1 and 0 < c < w - 1
                 and len(neighbours(out, r, c)) <= 1]
        for pixel in stubs:
            out[pixel] = False
    return out


def brute_intercepts(labels: np.ndarray) -> list[float]:
    """Walk every row, column and diagonal; crossings = boundary runs (centre) or grain-to-grain steps."""
    lines = [(labels[r], 1.0) for r in range(labels.shape[0])]
    lines += [(labels[:, c], 1.0) for c in range(labels.shape[1])]
    for image in (labels, labels[:, ::-1]):
        lines += [(np.diagonal(image, d), math.sqrt(2)) for d in range(-labels.shape[0] + 1, labels.shape[1])]
    lengths = []
    for line, step in lines:
        crossings, i = [], 0
        while i < len(line):
            if line[i] == 0:
                j = i
                while j + 1 < len(line) and line[j + 1] == 0:
                    j += 1
                crossings.append((i + j) / 2)
                i = j + 1
                continue
            if i + 1 < len(line) and line[i + 1] > 0 and line[i + 1] != line[i]:
                crossings.append(i + 0.5)
            i += 1
        lengths += [(b - a) * step for a, b in itertools.pairwise(crossings)]
    return lengths


def gapped(skeleton: np.ndarray, count: int, seed: int = 3) -> np.ndarray:
    """Cut ``count`` gaps (3 x 3 squares) into a 1-px skeleton, away from the edge."""
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(skeleton[5:-5, 5:-5])
    out = skeleton.copy()
    for k in rng.choice(rows.size, count, replace=False):
        out[rows[k] + 4:rows[k] + 7, cols[k] + 4:cols[k] + 7] = False
    return out


@pytest.fixture(scope="module")
def nist_labels(nist_trace) -> np.ndarray:
    return grains.trace_labels(nist_trace)


# --------------------------------------------------------------------------------------------
# post-processing steps
# --------------------------------------------------------------------------------------------
def test_hysteresis_is_the_labs_confidence_overlap(rng):
    image = (filters.gaussian(rng.random((80, 90)), 1.5) * 255).astype(np.uint8)  # the lab's dark-boundary map
    image = np.clip((image.astype(float) - image.min()) * 255 / np.ptp(image), 0, 255).astype(np.uint8)
    expected = lab_confidence_overlap(image < 160, image < 200)
    pred = (255 - image).astype(np.float32) / np.float32(255)  # our polarity: p = boundary probability
    options = grains.GrainOptions()
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(grains.hysteresis(pred, options.low, options.high), expected)


def test_hysteresis_follows_diagonal_neighbours():
    """8-connected, as the lab's confidence_overlap: weak pixels touching the strong one only at corners stay."""
    pred = np.zeros((5, 5), np.float32)
    pred[1, 1] = 0.9  # strong
    pred[2, 2] = pred[3, 3] = 0.3  # weak, a diagonal chain from it
    pred[0, 4] = 0.3  # weak, alone: dropped
    np.testing.assert_array_equal(np.argwhere(grains.hysteresis(pred, 0.2, 0.5)), [[1, 1], [2, 2], [3, 3]])


def test_default_thresholds_split_8_bit_levels_like_the_lab():
    levels = np.arange(256, dtype=np.uint8)
    pred = (255 - levels).astype(np.float32)[None, :] / np.float32(255)
    options = grains.GrainOptions()
    np.testing.assert_array_equal(pred[0] > np.float32(options.high), levels < 160)
    np.testing.assert_array_equal(pred[0] > np.float32(options.low), levels < 200)
    # a strong pixel keeps every weak pixel of its 8-connected run
    np.testing.assert_array_equal(grains.hysteresis(pred, options.low, options.high)[0], levels < 200)


def test_dilate_matches_scikit_image(rng):
    mask = rng.random((60, 70)) > 0.97
    expected = mask  # the lab's morphology.binary_dilation(img): footprint = the 3 x 3 cross
    for _ in range(3):
        expected = morphology.dilation(expected, morphology.diamond(1))
    np.testing.assert_array_equal(grains.dilate(mask, 3), expected)
    np.testing.assert_array_equal(grains.dilate(mask, 0), mask)


def test_fill_small_holes_matches_a_regionprops_loop(rng):
    mask = rng.random((70, 80)) > 0.55
    expected = mask.copy()
    holes = measure.label(~mask, connectivity=1)
    for region in measure.regionprops(holes):
        if region.area < 5:
            expected[holes == region.label] = True
    np.testing.assert_array_equal(grains.fill_small_holes(mask, 5), expected)
    assert not np.array_equal(expected, mask)


def test_prune_matches_a_walk_from_every_line_end(rng):
    for seed in range(4):
        blobs = filters.gaussian(np.random.default_rng(seed).random((70, 90)), 2) > 0.5
        skeleton = morphology.skeletonize(blobs)
        for length in (3, 8, 30):
            np.testing.assert_array_equal(grains.prune_spurs(skeleton, length), brute_prune(skeleton, length),
                                          err_msg=f"seed {seed}, length {length}")


def test_prune_removes_a_short_spur_and_keeps_lines_that_leave_the_image():
    skeleton = np.zeros((30, 30), dtype=bool)
    skeleton[15, :] = True  # a boundary across the image: ends on the edge
    skeleton[5:15, 10] = True  # a spur of 10 px hanging off it
    skeleton[16:29, 20] = True  # a line from the boundary to near the bottom edge: a spur too
    pruned = grains.prune_spurs(skeleton, 12)
    assert pruned[15].all()
    assert not pruned[5:14, 10].any()  # the junction pixel (14, 10) stays: a 1-px bump on the line
    assert pruned[16:29, 20].all()  # 12 px below its junction pixel (16, 20): not shorter than 12
    assert not grains.prune_spurs(skeleton, 13)[17:29, 20].any()
    edge_line = np.zeros((30, 30), dtype=bool)
    edge_line[15, :] = True
    edge_line[16:30, 20] = True  # reaches the bottom edge: a boundary, never a spur
    assert np.array_equal(grains.prune_spurs(edge_line, 50), edge_line)


def test_a_tracing_is_only_skeletonized(nist_trace, nist_labels):
    as_map = nist_trace.astype(np.float32)
    assert grains.is_tracing(as_map) and not grains.is_tracing(as_map * 0.5)
    labels = grains.segment(as_map, grains.GrainOptions(high=0.9, low=0.9, dilations=5, min_area=1000, prune=99))
    np.testing.assert_array_equal(labels, nist_labels)
    skeleton = labels == 0
    assert np.array_equal(morphology.skeletonize(skeleton), skeleton)  # 1 px wide


def test_combine_max_and_mean(rng):
    a, b = rng.random((20, 30)).astype(np.float32), rng.random((20, 30)).astype(np.float32)
    np.testing.assert_array_equal(grains.combine_maps([a, b], "max"), np.maximum(a, b))
    np.testing.assert_allclose(grains.combine_maps([a, b], "mean"), (a + b) / 2, rtol=1e-6)
    stack_labels = grains.segment(np.stack([a, b]))
    np.testing.assert_array_equal(stack_labels, grains.segment(np.maximum(a, b)))
    with pytest.raises(InputError, match="share a shape"):
        grains.combine_maps([a, b[:, :10]])


@pytest.mark.parametrize("bad", [np.full((4, 4), np.nan, np.float32), np.full((4, 4), 2.0, np.float32),
                                 np.zeros(5, np.float32), np.zeros((4, 4), np.int64)])
def test_bad_maps_are_input_errors(bad):
    with pytest.raises(InputError):
        grains.segment(bad)


@pytest.mark.parametrize("changes, words", [
    ({"high": 1.5}, "high threshold"), ({"low": 0.5, "high": 0.3}, "must not exceed"),
    ({"dilations": -1}, "dilations"), ({"min_area": 2.5}, "min area"), ({"prune": "x"}, "prune"),
    ({"combine": "median"}, "combine"), ({"pixel_size": 0}, "pixel size"),
])
def test_options_check_their_fields(changes, words):
    with pytest.raises(InputError, match=words):
        grains.GrainOptions(**changes)


def test_options_parse_text_like_the_cli_gives_it():
    options = grains.GrainOptions(high="0.5", low="0.25", dilations="2", min_area="10", prune="0", pixel_size="0.5")
    assert options.post_processing == {"high": 0.5, "low": 0.25, "dilations": 2, "min_area": 10, "prune": 0}
    assert options.pixel_size == 0.5


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------
def test_grain_table_matches_regionprops(nist_labels):
    table = grains.grain_table(nist_labels)
    props = measure.regionprops_table(nist_labels, properties=("label", "area", "centroid",
                                                               "equivalent_diameter_area", "bbox"))
    np.testing.assert_array_equal(table.label, props["label"])
    np.testing.assert_array_equal(table.area_px, props["area"])
    np.testing.assert_allclose(table.centroid_row, props["centroid-0"])
    np.testing.assert_allclose(table.centroid_col, props["centroid-1"])
    np.testing.assert_allclose(table.equivalent_diameter_px, props["equivalent_diameter_area"])
    h, w = nist_labels.shape
    edge = (props["bbox-0"] == 0) | (props["bbox-1"] == 0) | (props["bbox-2"] == h) | (props["bbox-3"] == w)
    np.testing.assert_array_equal(table.touches_edge, edge)


def test_intercepts_match_a_walk_along_every_line():
    _cells, boundary = voronoi((40, 56), 12, seed=5, spacing=8)
    labels = grains.label_grains(morphology.skeletonize(boundary))
    expected = np.sort(brute_intercepts(labels))
    np.testing.assert_allclose(np.sort(grains.intercept_lengths(labels)), expected)
    assert expected.size > 100


def test_astm_numbers_on_a_case_computed_by_hand():
    """7 x 7 px, boundaries on rows and columns 0, 3 and 6: four 2 x 2 grains, none on the edge.

    Intercepts by hand: rows 1, 2, 4, 5 and the same columns cross at 0, 3, 6 (16 segments of 3).
    Down-right diagonals c - r = d: d = 0 crosses at 0, 3, 6 (3 + 3 samples); d = +-1 at runs
    centred 0, 2.5, 5 (2.5 + 2.5 each); d = +-2 at 0.5, 3.5 (3 each); d = +-3 at 0, 3 (3 each);
    d = +-4 at 0, 2 (2 each); |d| >= 5 has no complete segment: 12 segments, 32 samples of sqrt(2).
    The 135-degree lines mirror them. Mean = (48 + 64 sqrt(2)) / 40.
    """
    boundary = np.zeros((7, 7), dtype=bool)
    boundary[[0, 3, 6], :] = True
    boundary[:, [0, 3, 6]] = True
    labels = grains.label_grains(boundary)
    result = grains.stats(labels, pixel_size=2.0)
    mean_intercept = (48 + 64 * math.sqrt(2)) / 40
    assert result["grains"] == 4 and result["edge_grains"] == 0
    assert result["mean_area_px"] == 4.0
    assert result["mean_intercept_px"] == pytest.approx(mean_intercept, rel=1e-12)
    l_mm = mean_intercept * 2.0 / 1000
    assert result["astm_g_intercept"] == pytest.approx(-6.643856 * math.log10(l_mm) - 3.288, rel=1e-12)
    n_a = 4 / (49 * (2.0 / 1000) ** 2)  # grains per mm^2
    assert result["astm_g_planimetric"] == pytest.approx(3.321928 * math.log10(n_a) - 2.954, rel=1e-12)
    assert result["astm_g_planimetric"] == pytest.approx(11.363, abs=1e-3)  # worked out on paper


def test_planimetric_counts_edge_grains_as_half():
    boundary = np.zeros((5, 5), dtype=bool)
    boundary[:, [0, 2, 4]] = True  # two 1 x 5 strips, each touching the top and bottom edge
    result = grains.stats(grains.label_grains(boundary), pixel_size=10.0)
    assert result["grains"] == 0 and result["edge_grains"] == 2 and result["mean_area_px"] is None
    assert result["astm_g_planimetric"] == pytest.approx(3.321928 * math.log10(1 / 0.0025) - 2.954)


def test_mean_intercept_agrees_with_nist_gsat(nist_trace, nist_labels):
    """NIST's convention: grain runs between the thick painted boundaries, edge to edge, runs of at most
    2 px dropped. Ours (the summary): centre to centre on the 1-px skeleton, which adds about one
    boundary width."""
    edges = grains.intercept_lengths(grains.label_grains(nist_trace), between="edges")
    # +0.6 % measured; one pixel more or less per segment moves the mean by about 2.7 %
    assert edges[edges > 2].mean() == pytest.approx(NIST_INTERCEPT_EDGES_PX, rel=0.01)
    centres = grains.stats(nist_labels)["mean_intercept_px"]
    assert NIST_INTERCEPT_EDGES_PX < centres < NIST_INTERCEPT_EDGES_PX + 4  # + one boundary width (3-5 px)


def test_intercept_segment_lengths_by_hand():
    """Three vertical boundaries 3 px wide, 20 px apart, in a 3-row image: only the rows hold complete segments
    (columns never cross a boundary, diagonals are too short to cross two): two per row, 17 px between the
    bands' edges, 20 px between their centres."""
    boundary = np.zeros((3, 64), dtype=bool)
    boundary[:, 10:13] = boundary[:, 30:33] = boundary[:, 50:53] = True
    labels = grains.label_grains(boundary)
    np.testing.assert_array_equal(grains.intercept_lengths(labels, between="edges"), np.full(6, 17.0))
    np.testing.assert_array_equal(grains.intercept_lengths(labels), np.full(6, 20.0))
    assert grains.stats(labels)["mean_intercept_px"] == 20.0


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------
def test_the_tracing_against_itself_is_exact(nist_labels):
    result = grains.compare(nist_labels, nist_labels)
    assert result["grain_f1"] == result["grain_precision"] == result["grain_recall"] == 1.0
    assert result["vi_split"] == result["vi_merge"] == result["arand"] == 0.0
    assert result["orphan_fraction"] == 0.0 and result["disregistry"] == 0.0
    assert result["size_ks"] == 0.0
    assert result["grains_truth"] == grains.stats(nist_labels)["grains"] > 150


def test_size_ks_compares_interior_grains_of_two_different_partitions(nist_trace, nist_labels):
    """KS of the interior grains' equivalent diameters, against scipy on grains found here independently
    (edge grains: any label on the image's border; diameters from pixel counts)."""
    from scipy.stats import ks_2samp

    soft = filters.gaussian(nist_trace.astype(float), 2.0)
    pred_labels = grains.segment((soft / soft.max()).astype(np.float32))

    def interior_diameters(labels: np.ndarray) -> np.ndarray:
        areas = np.bincount(labels.ravel())
        edge = np.zeros(areas.size, dtype=bool)
        edge[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
        keep = (areas > 0) & ~edge
        keep[0] = False  # the boundary
        return np.sqrt(4 * areas[keep] / np.pi)

    pred_d, true_d = interior_diameters(pred_labels), interior_diameters(nist_labels)
    expected = ks_2samp(pred_d, true_d)
    result = grains.compare(pred_labels, nist_labels)
    assert 0.05 < expected.statistic < 1  # the partitions differ
    assert result["size_ks"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result["size_ks_p"] == pytest.approx(expected.pvalue, rel=1e-9)
    # over all grains (edge grains too) the answer would be another
    all_d = [np.sqrt(4 * np.bincount(x.ravel())[1:][np.bincount(x.ravel())[1:] > 0] / np.pi)
             for x in (pred_labels, nist_labels)]
    assert abs(ks_2samp(*all_d).statistic - expected.statistic) > 1e-3


def test_voronoi_tessellation_gives_its_known_grains():
    cells, boundary = voronoi((160, 200), 40, seed=1, spacing=18)
    labels = grains.segment(boundary.astype(np.float32))  # a tracing: skeletonized only
    inside = labels > 0
    pairs = np.unique(np.c_[labels[inside], cells[inside]], axis=0)
    # every grain lies in exactly one cell and every cell is exactly one grain
    assert np.unique(pairs[:, 0]).size == pairs.shape[0] == np.unique(pairs[:, 1]).size == 40
    # interior grains = cells whose pixels off the boundary do not reach the image edge
    rim = np.zeros(cells.shape, dtype=bool)
    rim[[0, -1], :] = rim[:, [0, -1]] = True
    on_edge = np.unique(cells[rim & inside])
    assert grains.stats(labels)["grains"] == 40 - on_edge.size
    # a soft map of the tessellation, through the lab's post-processing, finds the same grains
    soft = filters.gaussian(boundary.astype(float), 1.5)
    small_edge_cells_kept = grains.GrainOptions(min_area=10)  # cells cut by the edge can be under 100 px
    result = grains.compare(grains.segment((soft / soft.max()).astype(np.float32), small_edge_cells_kept), labels)
    assert result["grain_f1"] == 1.0 and result["orphan_fraction"] == 0.0
    assert result["vi_split"] + result["vi_merge"] < 0.05


def test_gaps_show_as_merges_not_splits(nist_labels):
    cut = gapped(nist_labels == 0, 40)
    pred = grains.label_grains(cut)
    result = grains.compare(pred, nist_labels)
    split, merge = brute_vi(pred, nist_labels)
    assert result["vi_split"] == pytest.approx(split, abs=1e-9) == 0.0  # a coarser partition splits nothing
    assert result["vi_merge"] == pytest.approx(merge, rel=1e-9)
    assert merge > 0.1
    assert grains.stats(pred)["grains"] < grains.stats(nist_labels)["grains"]
    assert result["grain_f1"] < 1.0 and result["orphan_fraction"] > 0


def test_vi_arand_and_matches_against_references(rng):
    _cells, boundary = voronoi((48, 64), 14, seed=2, spacing=9)
    truth = grains.label_grains(boundary)
    noisy = boundary.copy()
    noisy[rng.integers(0, 48, 40), rng.integers(0, 64, 40)] ^= True
    pred = grains.label_grains(noisy)
    result = grains.compare(pred, truth)
    split, merge = brute_vi(pred, truth)
    assert result["vi_split"] == pytest.approx(split, rel=1e-9)
    assert result["vi_merge"] == pytest.approx(merge, rel=1e-9)
    matches = brute_matches(pred, truth)
    assert result["grain_recall"] == pytest.approx(matches / (np.unique(truth).size - 1))
    assert result["grain_precision"] == pytest.approx(matches / (np.unique(pred).size - 1))
    # adapted Rand error from pair counts over pixels where both are grains
    both = (pred > 0) & (truth > 0)
    table = Counter(zip(truth[both].tolist(), pred[both].tolist(), strict=True))
    same_both = sum(c * (c - 1) for c in table.values())
    same_pred = sum(c * (c - 1) for c in Counter(pred[both].tolist()).values())
    same_true = sum(c * (c - 1) for c in Counter(truth[both].tolist()).values())
    f = 2 * same_both / (same_pred + same_true)
    assert result["arand"] == pytest.approx(1 - f, rel=1e-9)


def test_centroid_matching_is_the_labs_greedy_closest_first(rng):
    truth_points = rng.uniform(0, 100, (30, 2))
    pred_points = np.r_[truth_points[:20] + rng.normal(0, 1.5, (20, 2)), rng.uniform(0, 100, (6, 2))]
    # reference: every pair, closest first, one-to-one, within 0.3 x the mean true NN distance
    d_true = np.hypot(*(truth_points[:, None] - truth_points[None]).transpose(2, 0, 1))
    np.fill_diagonal(d_true, np.inf)
    cutoff = 0.3 * d_true.min(axis=1).mean()
    d = np.hypot(*(pred_points[:, None] - truth_points[None]).transpose(2, 0, 1))
    used_p, used_t, paired = set(), set(), []
    for flat in np.argsort(d, axis=None, kind="stable"):
        i, j = divmod(int(flat), d.shape[1])
        if d[i, j] < cutoff and i not in used_p and j not in used_t:
            used_p.add(i), used_t.add(j), paired.append(d[i, j])
    orphans, disregistry = _centroid_matching(pred_points, truth_points)
    assert orphans == pytest.approx((56 - 2 * len(paired)) / 56)
    assert disregistry == pytest.approx(sum(paired) / (len(paired) * cutoff))


def brute_fates(pred: np.ndarray, truth: np.ndarray) -> tuple[dict[int, str], dict[int, str]]:
    """The fate definitions of grains.grain_fates, one grain at a time from the masks."""
    pred_fate, true_fate = {}, {}
    true_ids, pred_ids = np.unique(truth[truth > 0]), np.unique(pred[pred > 0])
    for t in true_ids:
        mask = truth == t
        ious = [np.count_nonzero(mask & (pred == p)) / np.count_nonzero(mask | (pred == p))
                for p in np.unique(pred[mask & (pred > 0)])]
        true_fate[int(t)] = "matched" if max(ious, default=0) > 0.5 else "missed"
    for p in pred_ids:
        mask = pred == p
        inside = [(t, np.count_nonzero(mask & (truth == t))) for t in np.unique(truth[mask & (truth > 0)])]
        ious = [n / np.count_nonzero(mask | (truth == t)) for t, n in inside]
        held = [t for t, n in inside if 2 * n > np.count_nonzero(truth == t)]
        if max(ious, default=0) > 0.5:
            pred_fate[int(p)] = "matched"
        elif len(held) >= 2:
            pred_fate[int(p)] = "merged"
        elif max((n for _, n in inside), default=0) > 0.5 * np.count_nonzero(mask):
            pred_fate[int(p)] = "split"
        else:
            pred_fate[int(p)] = "spurious"
    return pred_fate, true_fate


def test_fates_against_their_definitions(nist_labels):
    crop = nist_labels[:250, :350]
    extra = gapped(crop == 0, 12)
    extra[120, 40:300] = True  # a spurious straight boundary splits the grains it crosses
    pred = grains.label_grains(extra)
    pred_fate, true_fate = grains.grain_fates(pred, crop)
    expected_pred, expected_true = brute_fates(pred, crop)
    assert {p: grains.FATES[pred_fate[p] - 1] for p in expected_pred} == expected_pred
    assert {t: grains.FATES[true_fate[t] - 1] for t in expected_true} == expected_true
    assert {"matched", "merged", "split"} <= set(expected_pred.values())
    assert pred_fate[0] == true_fate[0] == 0


def test_grain_metrics_for_sweeps(nist_trace):
    soft = filters.gaussian(nist_trace.astype(float), 2)
    metrics = grains.grain_metrics((soft / soft.max()).astype(np.float32), nist_trace)
    assert tuple(metrics) == grains.SWEEP_METRICS
    assert 0 < metrics["grain_f1"] < 1 and metrics["vi_merge"] > 0


# --------------------------------------------------------------------------------------------
# tuning
# --------------------------------------------------------------------------------------------
def test_tuning_recovers_grains_the_defaults_lose(nist_trace):
    crop = nist_trace[:300, :400]
    truth = grains.trace_labels(crop)
    soft = filters.gaussian(crop.astype(float), 2.0)
    soft = (soft / soft.max()).astype(np.float32)
    default = grains.compare(grains.segment(soft), truth)
    steps = grains.tune_steps(soft, truth)
    progress = []
    while True:
        try:
            progress.append(next(steps))
        except StopIteration as finished:
            result = finished.value
            break
    assert progress[-1][0] == progress[-1][1] and all(b[0] >= a[0] for a, b in itertools.pairwise(progress))
    assert result.scores["grain_f1"] > default["grain_f1"]
    assert result.scores["grain_f1"] == grains.compare(grains.segment(soft, result.options), truth)["grain_f1"]
    default_grains = grains.stats(grains.segment(soft))["grains"]
    lost_by_default = default["grains_truth"] - default_grains
    assert lost_by_default > 0
    assert abs(default["grains_truth"] - result.scores["grains"]) <= lost_by_default / 2
    with pytest.raises(InputError, match="tracing"):
        grains.tune(crop.astype(np.float32), truth)
