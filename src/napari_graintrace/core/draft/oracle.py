"""How many clicks a tracing needs to become the true one: an oracle that corrects it with the editor.

The oracle knows the truth and uses the same edits a person has in the "Correct tracing" widget
(``edits.TracingEditor``), counting what a branch-aware editor costs: one click to delete a branch,
two to draw a missing one (along the ridge, or dragged freely where the ridge is not there), one to
close a dangling end. In three passes:

1. **spurious branches**: a branch of the tracing with less than half of its pixels within
   ``tolerance`` px of the truth is deleted (repeated until none is left: deleting one can merge its
   neighbours into one branch);
2. **missing stretches**: true boundary pixels further than ``tolerance`` px from the tracing, cut at
   the truth's junctions, are drawn stretch by stretch between the tracing pixels nearest to their
   two ends: along the ridge when that path stays within ``tolerance`` of the truth, otherwise along
   the truth itself (a free path);
3. **dangling ends** left (small gaps step 2 cannot see): closed along the ridge when the closure
   lies on the truth, deleted with their branch when they are short spurs the truth does not have;
4. **pieces**: a grain that is only a piece of a true grain (a sliver between two lines that both lie
   within ``tolerance`` of one true boundary) loses the line that cuts it off (one click).

Tracing from scratch costs two clicks per branch of the true tracing (every branch drawn).
The result is checked by the grain F1 (IoU > 0.5) of the corrected tracing against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from .. import grains
from .edits import TracingEditor, bounding_region
from .graph import EIGHT, boundary_graph, branch_labels

__all__ = ["Correction", "correct", "grain_f1", "scratch_clicks", "truth_skeleton"]


def truth_skeleton(trace: np.ndarray) -> np.ndarray:
    """The true tracing as 1-px lines, exactly as ``grains.trace_labels`` sees it (boundary = label 0)."""
    return grains.trace_labels(trace) == 0


def grain_f1(tracing: np.ndarray, truth: np.ndarray) -> float:
    """Grain F1 (one-to-one matches with IoU > 0.5) of a 1-px tracing against the true skeleton."""
    return float(grains.compare(grains.label_grains(tracing), grains.label_grains(truth))["grain_f1"])


def scratch_clicks(truth: np.ndarray) -> int:
    """Clicks to trace the truth from nothing: two per branch."""
    return 2 * len(boundary_graph(truth).branches)


@dataclass
class Correction:
    """What the oracle did: clicks by kind, and the corrected tracing's grain F1."""

    deleted: int = 0  # branches deleted (1 click each)
    ridge_paths: int = 0  # missing stretches drawn along the ridge (2)
    free_paths: int = 0  # missing stretches drawn along the truth where the ridge strays (2)
    ends_closed: int = 0  # dangling ends joined along the ridge (1)
    f1_before: float = 0.0
    f1_after: float = 0.0
    tracing: np.ndarray = field(default=None, repr=False)

    @property
    def clicks(self) -> int:
        return self.deleted + 2 * (self.ridge_paths + self.free_paths) + self.ends_closed

    @property
    def missing(self) -> int:
        return self.ridge_paths + self.free_paths

    def to_dict(self) -> dict[str, float | int]:
        return {"clicks": self.clicks, "deleted": self.deleted, "ridge_paths": self.ridge_paths,
                "free_paths": self.free_paths, "ends_closed": self.ends_closed,
                "grain_f1_before": self.f1_before, "grain_f1_after": self.f1_after}


def _near(pixels: np.ndarray, distance: np.ndarray, tolerance: float) -> float:
    if len(pixels) == 0:
        return 1.0
    return float(np.mean(distance[pixels[:, 0], pixels[:, 1]] <= tolerance))


def _delete_spurious(editor: TracingEditor, to_truth: np.ndarray, tolerance: float, result: Correction) -> None:
    for _ in range(5):
        deleted = 0
        for branch in boundary_graph(editor.tracing).branches:
            inner = branch[1:-1] if len(branch) > 2 else branch
            if _near(inner, to_truth, tolerance) >= 0.5:
                continue
            far = inner[to_truth[inner[:, 0], inner[:, 1]] > tolerance]
            point = far[len(far) // 2]
            current = editor.branch_at(point, radius=1)
            if current is None or _near(current, to_truth, tolerance) >= 0.5:
                continue  # merged with a good branch by an earlier deletion: left for pass 3
            if editor.delete_branch(point, radius=1) is not None:
                deleted += 1
        result.deleted += deleted
        if not deleted:
            return


def _ordered(stretch: np.ndarray) -> np.ndarray:
    """The pixels of a chain from one end to the other (by distance along the chain)."""
    from skimage.graph import MCP

    region = bounding_region(stretch, (int(stretch[:, 0].max()) + 2, int(stretch[:, 1].max()) + 2), 1)
    mask = np.zeros((region[0].stop - region[0].start, region[1].stop - region[1].start), dtype=bool)
    local = stretch - (region[0].start, region[1].start)
    mask[local[:, 0], local[:, 1]] = True
    counts = ndi.correlate(mask.astype(np.uint8), EIGHT.astype(np.uint8), mode="constant") - 1
    ends = np.argwhere(mask & (counts <= 1))
    first = ends[0] if len(ends) else local[0]
    along, _ = MCP(np.where(mask, 1.0, np.inf), fully_connected=True).find_costs([tuple(first)])
    order = np.argsort(along[local[:, 0], local[:, 1]], kind="stable")
    return stretch[order]


def _draw_missing(editor: TracingEditor, truth: np.ndarray, to_truth: np.ndarray, tolerance: float,
                  min_stretch: int, result: Correction) -> None:
    to_tracing = ndi.distance_transform_edt(~editor.tracing)
    chains, _ = branch_labels(truth)
    missing = (chains > 0) & (to_tracing > tolerance)
    stretches, _count = ndi.label(missing, structure=EIGHT)
    for index, pixels in enumerate(ndi.find_objects(stretches), start=1):
        if pixels is None:
            continue
        stretch = np.argwhere(stretches[pixels] == index) + (pixels[0].start, pixels[1].start)
        if len(stretch) < min_stretch:
            continue
        chain = _ordered(stretch)
        anchors = []
        for end in (chain[0], chain[-1]):
            near = editor.nearest_boundary(end, int(np.ceil(tolerance)) + 2)
            anchors.append(end if near is None else np.array(near))
        change = editor.ridge_path(anchors[0], anchors[1])
        if change is not None:
            added = np.argwhere(change.after & ~change.before) + (change.region[0].start, change.region[1].start)
            covered = np.hypot(*(chain[:, None, :] - added[None, :, :]).transpose(2, 0, 1)).min(axis=1) \
                if len(added) else np.full(len(chain), np.inf)
            # the path must run along the stretch (not around it on other lines) and stay on the truth
            if np.mean(covered <= tolerance) >= 0.9 and _near(added, to_truth, tolerance) >= 0.9:
                result.ridge_paths += 1
                continue
            editor.undo()
            editor.undone.clear()
        if editor.free_path([anchors[0], *chain, anchors[1]]) is not None:
            result.free_paths += 1


def _close_ends(editor: TracingEditor, truth: np.ndarray, to_truth: np.ndarray, tolerance: float,
                result: Correction) -> None:
    truth_ends = boundary_graph(truth).ends
    for end in editor.dangling_ends():
        if not len(editor.dangling_ends(bounding_region(end, editor.shape))):
            continue  # joined by an earlier closure
        if len(truth_ends) and np.hypot(*(truth_ends - end).T).min() <= tolerance:
            continue  # the truth ends here too
        suggestion = editor.suggest_closure(end, radius=int(4 * tolerance) + 8)
        if suggestion is not None and _near(suggestion.path, to_truth, tolerance) >= 0.8:
            editor._set_pixels("close gap", suggestion.path, True, 1)
            result.ends_closed += 1
            continue
        branch = editor.branch_at(end, radius=1)
        if branch is not None and _near(branch, to_truth, tolerance) < 0.5 \
                and editor.delete_branch(end, radius=1) is not None:
            result.deleted += 1


def _merge_pieces(editor: TracingEditor, truth_labels: np.ndarray, result: Correction) -> None:
    """Delete the line that cuts a piece off a true grain (a sliver between two near lines): one click each."""
    labels = grains.label_grains(editor.tracing)
    pred_fate, _ = grains.grain_fates(labels, truth_labels)
    unmatched = [g for g in np.flatnonzero(pred_fate) if grains.FATES[pred_fate[g] - 1] in ("split", "spurious")]
    if not unmatched:
        return
    objects = ndi.find_objects(labels)
    for grain in unmatched:
        box = objects[grain - 1]
        if box is None:
            continue
        region = bounding_region(np.array([[box[0].start, box[1].start], [box[0].stop - 1, box[1].stop - 1]]),
                                 editor.shape, 2)
        current = grains.label_grains(editor.tracing)
        piece = labels[region] == grain
        # the true grain this piece belongs to, and the grain (now) holding most of that true grain
        true_grain = np.bincount(truth_labels[region][piece]).argmax()
        if true_grain == 0:
            continue
        holders = np.bincount(current[truth_labels == true_grain])
        holders[0] = 0
        here = np.bincount(current[region][piece])
        own = here.argmax()
        holders[own] = 0
        if holders.max() == 0:
            continue
        neighbour = holders.argmax()
        touches_own = ndi.binary_dilation(current[region] == own, EIGHT)
        touches_other = ndi.binary_dilation(current[region] == neighbour, EIGHT)
        shared = np.argwhere(editor.tracing[region] & touches_own & touches_other)
        if len(shared) == 0:
            continue
        point = shared[len(shared) // 2] + (region[0].start, region[1].start)
        if editor.delete_branch(point, radius=1) is not None:
            result.deleted += 1


def correct(tracing: np.ndarray, truth: np.ndarray, prob: np.ndarray | None = None, tolerance: float = 5.0,
            min_stretch: int = 3) -> Correction:
    """Correct a 1-px ``tracing`` into the true 1-px ``truth`` (see the module docstring)."""
    truth = np.asarray(truth, dtype=bool)
    editor = TracingEditor(tracing, prob)
    result = Correction(f1_before=grain_f1(editor.tracing, truth))
    to_truth = ndi.distance_transform_edt(~truth)
    _delete_spurious(editor, to_truth, tolerance, result)
    _draw_missing(editor, truth, to_truth, tolerance, min_stretch, result)
    _close_ends(editor, truth, to_truth, tolerance, result)
    _merge_pieces(editor, grains.label_grains(truth), result)
    result.f1_after = grain_f1(editor.tracing, truth)
    result.tracing = editor.tracing
    return result
