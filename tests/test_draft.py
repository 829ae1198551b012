"""core.draft: the boundary graph, each edit against a brute-force reference, the draft, the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import cheapest_path_cost, four_connected_regions, geometric_path_cost

from napari_graintrace.core import grains
from napari_graintrace.core.draft import (
    DraftOptions,
    TracingEditor,
    boundary_graph,
    correct,
    dangling_ends,
    draft_tracing,
    faint_map,
    grain_f1,
    junction_mask,
    truth_skeleton,
)
from napari_graintrace.core.errors import InputError


def grid_tracing(size: int = 61, step: int = 20) -> np.ndarray:
    """Square grains: 1-px lines every ``step`` px, running out of the image."""
    tracing = np.zeros((size, size), dtype=bool)
    tracing[step::step] = True
    tracing[:, step::step] = True
    return tracing


def soft(tracing: np.ndarray, level: float = 0.9, background: float = 0.02) -> np.ndarray:
    return np.where(tracing, level, background).astype(np.float32)


@pytest.fixture(scope="module")
def nist_skeleton(nist_trace) -> np.ndarray:
    return truth_skeleton(nist_trace[:200, :260])


# ---------------------------------------------------------------------------------------------
# the graph
# ---------------------------------------------------------------------------------------------
def test_graph_ends_and_branches_agree_with_skan(nist_skeleton):
    from skan import Skeleton

    graph = boundary_graph(nist_skeleton)
    skeleton = Skeleton(nist_skeleton)
    assert len(graph.branches) == skeleton.n_paths
    # skan's degree-1 nodes away from the image edge are the dangling ends
    h, w = nist_skeleton.shape
    ends = {tuple(c) for c, d in zip(skeleton.coordinates.astype(int), skeleton.degrees, strict=True)
            if d == 1 and 0 < c[0] < h - 1 and 0 < c[1] < w - 1}
    assert {tuple(e) for e in graph.ends} == ends
    # a region-restricted search finds the same ends as the whole-image one
    region = (slice(40, 150), slice(30, 200))
    inside = {e for e in ends if 40 <= e[0] < 150 and 30 <= e[1] < 200}
    assert {tuple(e) for e in dangling_ends(nist_skeleton, region)} == inside


def test_ends_in_a_region_are_the_image_ends_inside_it_at_every_edge(nist_skeleton, rng):
    """A window on any edge or corner: its ends are the whole image's ends inside it (a line leaving
    the image is no end; a line cut by the window's own edge is not one either)."""
    skeleton = nist_skeleton.copy()
    h, w = skeleton.shape
    skeleton[rng.integers(1, h - 1, 60), rng.integers(1, w - 1, 60)] = True  # isolated dots: ends too
    skeleton[1, 10:30] = True  # a line one pixel from the top edge
    ends = {tuple(e) for e in dangling_ends(skeleton)}
    for rows in (slice(0, 40), slice(h - 40, h), slice(100, 160)):
        for cols in (slice(0, 50), slice(w - 50, w), slice(200, 260)):
            inside = {e for e in ends if rows.start <= e[0] < rows.stop and cols.start <= e[1] < cols.stop}
            assert {tuple(e) for e in dangling_ends(skeleton, (rows, cols))} == inside, (rows, cols)


def test_lines_running_out_of_the_image_do_not_dangle():
    tracing = grid_tracing()
    assert len(dangling_ends(tracing)) == 0
    tracing[20, 45:] = False  # cut a line: its loose end dangles
    assert [tuple(e) for e in dangling_ends(tracing)] == [(20, 44)]


# ---------------------------------------------------------------------------------------------
# edits
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_ridge_path_is_as_cheap_as_dijkstra(seed):
    rng = np.random.default_rng(seed)
    prob = rng.random((14, 17)).astype(np.float32)
    editor = TracingEditor(np.zeros(prob.shape, dtype=bool), prob)
    start, stop = tuple(rng.integers(0, 14, 2)), (int(rng.integers(0, 14)), int(rng.integers(0, 17)))
    path = editor.route(start, stop)
    assert tuple(path[0]) == start and tuple(path[-1]) == stop
    assert geometric_path_cost(editor.cost, path) == pytest.approx(
        cheapest_path_cost(editor.cost, start, stop), rel=1e-5)
    # with a wall the path may not cross, it goes around it as Dijkstra does
    allowed = np.ones(prob.shape, dtype=bool)
    allowed[3:, 8] = False
    allowed[start] = allowed[stop] = True
    path = editor.route(start, stop, allowed=allowed)
    assert allowed[path[:, 0], path[:, 1]].all()
    assert geometric_path_cost(editor.cost, path) == pytest.approx(
        cheapest_path_cost(editor.cost, start, stop, allowed), rel=1e-5)


def test_ridge_path_follows_a_faint_ridge_and_draws_it():
    tracing = np.zeros((40, 60), dtype=bool)
    ridge = np.zeros(tracing.shape, dtype=bool)
    rows = (20 + 8 * np.sin(np.arange(60) / 9)).astype(int)
    ridge[rows, np.arange(60)] = True
    editor = TracingEditor(tracing, soft(ridge, level=0.15, background=0.01))
    change = editor.ridge_path((rows[5], 5), (rows[55], 55))
    drawn = np.argwhere(editor.tracing)
    assert (ridge[drawn[:, 0], drawn[:, 1]]).mean() > 0.9  # on the faint ridge, not the straight chord
    assert change.clicks == 2 and editor.edits == 1


def test_delete_branch_removes_skans_branch(nist_skeleton):
    from skan import Skeleton

    skeleton = Skeleton(nist_skeleton)
    junction = junction_mask(nist_skeleton)
    tested = 0
    for index in range(skeleton.n_paths):
        path = skeleton.path_coordinates(index).astype(int)
        if len(path) < 8 or not (junction[tuple(path[0])] and junction[tuple(path[-1])]):
            continue
        editor = TracingEditor(nist_skeleton)
        change = editor.delete_branch(path[len(path) // 2], radius=0)
        removed = {tuple(p) for p in np.argwhere(nist_skeleton & ~editor.tracing)}
        interior = {tuple(p) for p in path[1:-1]}
        # skan keeps a corner pixel of a staircase in the path that counts three neighbours here
        assert {p for p in interior if not junction[p]} <= removed
        assert all(junction[p] for p in removed ^ interior)  # besides, only junction pixels: stubs
        # the change's region holds every changed pixel, and undo restores the tracing exactly
        outside = (nist_skeleton != editor.tracing)
        outside[change.region] = False
        assert not outside.any()
        editor.undo()
        assert np.array_equal(editor.tracing, nist_skeleton)
        editor.redo()
        assert {tuple(p) for p in np.argwhere(nist_skeleton & ~editor.tracing)} == removed
        tested += 1
        if tested == 12:
            break
    assert tested == 12


def test_delete_far_from_any_boundary_does_nothing():
    editor = TracingEditor(grid_tracing())
    assert editor.delete_branch((10, 10), radius=3) is None
    assert editor.edits == 0


def test_free_path_draws_the_polyline():
    editor = TracingEditor(np.zeros((30, 30), dtype=bool))
    editor.free_path([(2, 2), (2, 20), (25, 20)])
    drawn = {tuple(p) for p in np.argwhere(editor.tracing)}
    assert drawn == {(2, c) for c in range(2, 21)} | {(r, 20) for r in range(2, 26)}


def test_close_end_joins_the_gap_along_the_ridge_and_splits_the_grains():
    truth = grid_tracing()
    tracing = truth.copy()
    tracing[20, 26:35] = False  # a 9-px gap in a line between two grains
    editor = TracingEditor(tracing, soft(truth, level=0.3))
    before = four_connected_regions(editor.tracing)
    suggestions = editor.gap_suggestions()
    assert len(suggestions) == 2  # both ends of the gap propose a closure
    change = editor.close_gaps()
    assert change is not None and change.clicks == 1
    assert four_connected_regions(editor.tracing) == four_connected_regions(truth)
    assert len(four_connected_regions(editor.tracing)) == len(before) + 1
    assert len(editor.dangling_ends()) == 0


def test_a_spur_is_not_closed_back_onto_its_own_junction():
    tracing = grid_tracing()
    tracing[21:27, 30] = True  # a 6-px spur off the line at row 20 into a grain
    editor = TracingEditor(tracing, soft(tracing))
    assert editor.suggest_closure((26, 30), radius=8) is None


def regions_of(tracing: np.ndarray) -> set[frozenset]:
    return set(four_connected_regions(tracing))


def test_merge_leaves_the_two_grains_as_one_and_the_rest_alone():
    tracing = grid_tracing()
    editor = TracingEditor(tracing)
    before = regions_of(tracing)
    a = next(r for r in before if (10, 10) in r)
    b = next(r for r in before if (10, 30) in r)
    editor.merge_grains((10, 10), (10, 30))
    after = regions_of(editor.tracing)
    merged = next(r for r in after if (10, 10) in r)
    deleted = {tuple(p) for p in np.argwhere(tracing & ~editor.tracing)}
    assert merged == a | b | deleted
    assert after - {merged} == before - {a, b}
    with pytest.raises(InputError, match="do not share"):
        editor.merge_grains((10, 10), (50, 50))
    assert editor.merge_grains((10, 10), (10, 30)) is None  # one grain already


def test_split_cuts_one_grain_in_two_and_leaves_the_rest_alone():
    tracing = grid_tracing()
    prob = soft(tracing)
    editor = TracingEditor(tracing, prob)
    before = regions_of(tracing)
    grain = next(r for r in before if (30, 30) in r)
    editor.split_grain((20, 27), (40, 33))
    after = regions_of(editor.tracing)
    path = {tuple(p) for p in np.argwhere(editor.tracing & ~tracing)}
    new = after - before
    assert len(new) == 2 and set().union(*new) | path == grain
    assert after - new == before - {grain}


def test_undo_redo_walk_the_history():
    tracing = grid_tracing()
    editor = TracingEditor(tracing)
    states = [editor.tracing.copy()]
    editor.free_path([(5, 5), (5, 15)])
    states.append(editor.tracing.copy())
    editor.delete_branch((20, 10))
    states.append(editor.tracing.copy())
    assert editor.edits == 2 and editor.clicks == 3
    editor.undo()
    assert np.array_equal(editor.tracing, states[1])
    editor.undo()
    assert np.array_equal(editor.tracing, states[0]) and editor.undo() is None
    editor.redo()
    editor.redo()
    assert np.array_equal(editor.tracing, states[2]) and editor.redo() is None


# ---------------------------------------------------------------------------------------------
# the draft and the oracle
# ---------------------------------------------------------------------------------------------
def test_draft_of_a_clean_map_is_the_tracing(nist_skeleton):
    draft = draft_tracing(faint_map(nist_skeleton, faint_fraction=0.0, noise=0.0))
    # (the skeleton of the thick NIST tracing has a few 2-3 px grains that no blurred map resolves)
    assert grain_f1(draft.tracing, nist_skeleton) > 0.9
    assert draft.summary()["dangling_ends"] <= 2


def test_draft_closes_gaps_the_lab_defaults_leave(nist_skeleton):
    prob = faint_map(nist_skeleton, faint_fraction=0.0, gaps=8, gap_length=(6, 10), seed=3)
    lab = grain_f1(grains.boundaries(prob), nist_skeleton)
    draft = draft_tracing(prob)
    assert draft.ends_closed > 0
    assert grain_f1(draft.tracing, nist_skeleton) > max(lab + 0.1, 0.85)  # 0.94 with no gaps at all


def test_draft_follows_faint_stretches(nist_skeleton):
    prob = faint_map(nist_skeleton, faint_fraction=0.3, faint_level=(0.15, 0.3), seed=4)
    lab = grain_f1(grains.boundaries(prob), nist_skeleton)
    assert grain_f1(draft_tracing(prob).tracing, nist_skeleton) > lab + 0.1


def test_draft_prunes_spurs(nist_skeleton):
    prob = faint_map(nist_skeleton, faint_fraction=0.0, spurs=30, spur_length=(5, 10), seed=5)
    draft = draft_tracing(prob)
    clean = draft_tracing(faint_map(nist_skeleton, faint_fraction=0.0, seed=5))
    assert draft.summary()["dangling_ends"] <= clean.summary()["dangling_ends"] + 2
    assert grain_f1(draft.tracing, nist_skeleton) >= grain_f1(clean.tracing, nist_skeleton) - 0.02


def test_draft_of_several_maps_combines_them(nist_skeleton):
    first = faint_map(nist_skeleton, faint_fraction=0.0, gaps=20, seed=6)
    second = faint_map(nist_skeleton, faint_fraction=0.0, gaps=20, seed=7)
    both = draft_tracing([first, second])
    assert np.array_equal(both.prob, np.maximum(first, second))
    with pytest.raises(InputError, match="share a shape"):
        draft_tracing([first, second[:-1]])


def test_draft_options_are_checked():
    with pytest.raises(InputError, match="low threshold"):
        DraftOptions(high=0.2, low=0.3)
    with pytest.raises(InputError, match="thickness"):
        DraftOptions(thickness=2)


def test_oracle_counts_one_click_per_spurious_branch_and_two_per_missing(nist_skeleton):
    perfect = correct(nist_skeleton, nist_skeleton, soft(nist_skeleton))
    assert perfect.clicks == 0 and perfect.f1_after == 1.0
    graph = boundary_graph(nist_skeleton)
    junction = junction_mask(nist_skeleton)
    long_branches = [b for b in graph.branches if len(b) > 25 and junction[tuple(b[0])] and junction[tuple(b[-1])]]
    damaged = nist_skeleton.copy()
    for branch in long_branches[:3]:
        damaged[branch[1:-1, 0], branch[1:-1, 1]] = False
    from scipy import ndimage as ndi

    away = ndi.distance_transform_edt(np.pad(~nist_skeleton, 1))[1:-1, 1:-1]  # from lines and the image edge
    row, col = np.unravel_index(np.argmax(away), damaged.shape)
    damaged[row, col - 6:col + 7] = True  # a free line in the middle of the largest grain
    result = correct(damaged, nist_skeleton, soft(nist_skeleton))
    assert result.missing == 3 and result.deleted >= 1
    assert result.clicks == 2 * 3 + result.deleted + result.ends_closed
    assert result.f1_after > result.f1_before and result.f1_after > 0.97


# ---------------------------------------------------------------------------------------------
# the session's local picture updates, against recomputing everything
# ---------------------------------------------------------------------------------------------
def same_partition(first: np.ndarray, second: np.ndarray) -> bool:
    """Two label images describe the same grains (label values may differ)."""
    pairs = np.unique(np.c_[first.ravel(), second.ravel()], axis=0)
    return len(pairs) == len(np.unique(first)) == len(np.unique(second))


def test_session_updates_match_a_full_recomputation(nist_skeleton):
    from napari_graintrace.core.draft import CorrectionSession

    prob = faint_map(nist_skeleton, faint_fraction=0.2, gaps=6, seed=8)
    draft = draft_tracing(prob)
    session = CorrectionSession(draft.tracing, draft.prob)
    rng = np.random.default_rng(8)
    lines = np.argwhere(session.editor.tracing)
    edits = [lambda: session.editor.delete_branch(lines[rng.integers(len(lines))]),
             lambda: session.editor.ridge_path(lines[rng.integers(len(lines))], lines[rng.integers(len(lines))]),
             lambda: session.editor.free_path([(20, 20), (60, 90), (120, 100)]),
             session.close_suggested_gaps, session.undo, session.undo, session.redo]
    for edit in edits:
        result = edit()
        redraw = result if result is None or hasattr(result, "grains") else session.after(result)
        tracing = session.editor.tracing
        assert same_partition(session.labels, grains.label_grains(tracing))
        assert (session.labels[tracing] == 0).all()
        assert {tuple(e) for e in session.ends} == {tuple(e) for e in dangling_ends(tracing)}
        np.testing.assert_array_equal(session.picture == 1, tracing)
        if redraw is not None:  # the redraw lists exactly the pixels to change to get there
            (rows, cols), values = redraw.grains
            assert (session.labels[rows, cols] == values).all()


def test_save_to_dataset_pairs_and_never_overwrites(tmp_path, nist_skeleton):
    import csv

    from PIL import Image

    from napari_graintrace.core.data.dataset import check
    from napari_graintrace.core.draft import free_name, save_to_dataset
    from napari_graintrace.core.io import OutputExistsError

    micrographs = [np.full(nist_skeleton.shape, 7, dtype=np.uint8), np.full(nist_skeleton.shape, 9, dtype=np.uint8)]
    saved = save_to_dataset(tmp_path / "set", "area", nist_skeleton, micrographs, thickness=3,
                            record={"source_checkpoint": "demo_59.pth", "edits": 4, "clicks": 6, "seconds": 12.5})
    assert [p.image.name for p in saved] == ["area_1.png", "area_2.png"]
    assert check(tmp_path / "set") == []  # the trainer pairs them
    label = np.asarray(Image.open(saved[1].label)) == 255
    assert label[nist_skeleton].all() and label.sum() > 2 * nist_skeleton.sum()
    np.testing.assert_array_equal(np.asarray(Image.open(saved[1].image)), micrographs[1])
    with open(tmp_path / "set" / "corrections.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"] for r in rows] == ["area_1.png", "area_2.png"] and rows[0]["clicks"] == "6"
    before = saved[0].label.read_bytes()
    with pytest.raises(OutputExistsError):
        save_to_dataset(tmp_path / "set", "area", ~nist_skeleton, micrographs[:1])
    assert saved[0].label.read_bytes() == before
    assert free_name(tmp_path / "set", "area", 2) == "area_001"
    with pytest.raises(InputError, match="must match"):
        save_to_dataset(tmp_path / "set", "other", nist_skeleton, [micrographs[0][:-1]])
    assert not (tmp_path / "set" / "image" / "other_1.png").exists()
