"""What a viewer shows while a tracing is corrected, kept up to date one edit region at a time.

:class:`CorrectionSession` wraps a :class:`~.edits.TracingEditor` with the three pictures the
"Correct tracing" widget draws: the tracing (1 = boundary, 2 = a suggested gap closure), the grains
(labels, so a missing boundary shows as one merged colour) and the dangling ends. After each edit
(or undo/redo) it recomputes them only where they can have changed, and returns a :class:`Redraw`
with the changed pixels of each picture, so a layer refreshes only those (napari's
``Labels.data_setitem`` redraws their bounding box). The grains are relabelled only inside the
bounding box of the grains the edit touched; a grain keeps its label (its colour) when it keeps
most of its pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .. import grains
from ..options import DraftOptions
from .edits import Change, GapSuggestion, Region, TracingEditor, bounding_region

__all__ = ["CorrectionSession", "Redraw"]

_CROSS = ndi.generate_binary_structure(2, 1)
BOUNDARY, SUGGESTED = 1, 2  # values of the tracing picture


@dataclass(frozen=True)
class Redraw:
    """Pixels to update after an edit: (rows, cols) and new values, per picture; ends as a whole."""

    tracing: tuple[tuple[np.ndarray, np.ndarray], np.ndarray]
    grains: tuple[tuple[np.ndarray, np.ndarray], np.ndarray]
    ends: np.ndarray
    change: Change | None


def _grow(region: Region, shape: tuple[int, int], margin: int) -> Region:
    return (slice(max(region[0].start - margin, 0), min(region[0].stop + margin, shape[0])),
            slice(max(region[1].start - margin, 0), min(region[1].stop + margin, shape[1])))


def _changed(old: np.ndarray, new: np.ndarray, region: Region) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    rows, cols = np.nonzero(old != new)
    return (rows + region[0].start, cols + region[1].start), new[rows, cols]


class CorrectionSession:
    """A tracing under correction: the editor, its pictures, the suggested gap closures, the time spent."""

    def __init__(self, tracing: np.ndarray, prob: np.ndarray | None = None,
                 options: DraftOptions | None = None) -> None:
        self.options = options or DraftOptions()
        self.editor = TracingEditor(tracing, prob)
        self.labels = grains.label_grains(self.editor.tracing)
        self.next_label = int(self.labels.max()) + 1
        self.boxes: dict[int, Region] = {label: found for label, found in
                                         enumerate(ndi.find_objects(self.labels), start=1) if found is not None}
        self.ends = self.editor.dangling_ends()
        self.suggestions: dict[tuple[int, int], GapSuggestion] = {}
        for end in self.ends:
            self._suggest(end)
        self.picture = self.editor.tracing.astype(np.uint8)
        for suggestion in self.suggestions.values():
            self._paint(suggestion, self.picture, (slice(0, self.shape[0]), slice(0, self.shape[1])))
        self.started = time.monotonic()

    @property
    def shape(self) -> tuple[int, int]:
        return self.editor.shape

    @property
    def seconds(self) -> float:
        """Time since the session began (the correction time the manifest records)."""
        return time.monotonic() - self.started

    # ---------------------------------------------------------------------------------------
    # suggestions
    # ---------------------------------------------------------------------------------------
    def _suggest(self, end: np.ndarray) -> None:
        if self.editor.prob is None:
            return
        # looser than the draft's own closing: a person reviews these before pressing the key
        suggestion = self.editor.suggest_closure(end, self.options.gap_radius, self.options.gap_turn)
        if suggestion is not None and (suggestion.mean_prob >= self.options.gap_prob / 2
                                       or suggestion.length <= 2 * self.options.gap_short):
            self.suggestions[tuple(int(v) for v in end)] = suggestion

    def _paint(self, suggestion: GapSuggestion, picture: np.ndarray, region: Region) -> None:
        path = suggestion.path
        inside = ((path[:, 0] >= region[0].start) & (path[:, 0] < region[0].stop)
                  & (path[:, 1] >= region[1].start) & (path[:, 1] < region[1].stop))
        rows, cols = path[inside, 0] - region[0].start, path[inside, 1] - region[1].start
        free = picture[rows, cols] == 0
        picture[rows[free], cols[free]] = SUGGESTED

    # ---------------------------------------------------------------------------------------
    # edits
    # ---------------------------------------------------------------------------------------
    def close_suggested_gaps(self) -> Redraw | None:
        """Draw every suggested closure (one key press); an end another closure reached is skipped."""
        paths, reached = [], np.zeros(self.shape, dtype=bool)
        for end, suggestion in self.suggestions.items():
            if reached[end]:
                continue
            paths.append(suggestion.path)
            reached[suggestion.path[:, 0], suggestion.path[:, 1]] = True
        if not paths:
            return None
        return self.after(self.editor.draw_paths("close gaps", paths, clicks=1))

    def after(self, change: Change | None) -> Redraw | None:
        """Bring the pictures up to date after an edit, undo or redo (``change``; None: nothing happened)."""
        if change is None:
            return None
        region = _grow(change.region, self.shape, 1)
        return Redraw(self._update_tracing(region), self._update_grains(change, region), self._update_ends(region),
                      change)

    def _update_ends(self, region: Region) -> np.ndarray:
        ends = self.ends
        inside = ((ends[:, 0] >= region[0].start) & (ends[:, 0] < region[0].stop)
                  & (ends[:, 1] >= region[1].start) & (ends[:, 1] < region[1].stop))
        self.ends = np.concatenate([ends[~inside], self.editor.dangling_ends(region)])
        return self.ends

    def _update_tracing(self, region: Region) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        # suggestions near the edit are recomputed: ends there may be new, gone, or see new lines
        reach = _grow(region, self.shape, self.options.gap_radius)
        stale = [end for end, s in self.suggestions.items()
                 if reach[0].start <= end[0] < reach[0].stop and reach[1].start <= end[1] < reach[1].stop]
        box = region
        for end in stale:
            box = _union(box, bounding_region(self.suggestions.pop(end).path, self.shape))
        ends_near = self.editor.dangling_ends(reach)
        for end in ends_near:
            self._suggest(end)
            suggestion = self.suggestions.get(tuple(int(v) for v in end))
            if suggestion is not None:
                box = _union(box, bounding_region(suggestion.path, self.shape))
        new = self.editor.tracing[box].astype(np.uint8)
        for suggestion in self.suggestions.values():
            self._paint(suggestion, new, box)
        old = self.picture[box]
        changed = _changed(old, new, box)
        self.picture[box] = new
        return changed

    def _update_grains(self, change: Change, region: Region) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        touched = np.unique(self.labels[region])
        touched = touched[touched > 0]
        box = region  # the grains the edit touched lie within their common bounding box
        for label in touched:
            box = _union(box, self.boxes[int(label)])
        old = self.labels[box]
        tracing = self.editor.tracing[box]
        mask = (np.isin(old, touched) | _in(region, box)) & ~tracing
        components, count = ndi.label(mask, structure=_CROSS)
        new = np.where(mask | tracing, 0, old).astype(old.dtype)
        if count:
            # each new grain keeps the label of the old grain it holds most of (its colour), once
            pairs = components.ravel() * (int(old.max()) + 1) + old.ravel()
            keys, counts = np.unique(pairs[components.ravel() > 0], return_counts=True)
            component_of, label_of = keys // (int(old.max()) + 1), keys % (int(old.max()) + 1)
            assigned = np.zeros(count + 1, dtype=np.int64)
            used: set[int] = set()
            for index in np.argsort(-counts, kind="stable"):
                component, label = int(component_of[index]), int(label_of[index])
                if label and not assigned[component] and label not in used:
                    assigned[component] = label
                    used.add(label)
            for component in range(1, count + 1):
                if not assigned[component]:
                    assigned[component] = self.next_label
                    self.next_label += 1
            new = np.where(mask, assigned[components], new).astype(old.dtype)
            for component, found in enumerate(ndi.find_objects(components), start=1):
                if found is not None:
                    self.boxes[int(assigned[component])] = (
                        slice(found[0].start + box[0].start, found[0].stop + box[0].start),
                        slice(found[1].start + box[1].start, found[1].stop + box[1].start))
        changed = _changed(old, new, box)
        self.labels[box] = new
        return changed

    def undo(self) -> Redraw | None:
        return self.after(self.editor.undo())

    def redo(self) -> Redraw | None:
        return self.after(self.editor.redo())


def _union(a: Region, b: Region) -> Region:
    return (slice(min(a[0].start, b[0].start), max(a[0].stop, b[0].stop)),
            slice(min(a[1].start, b[1].start), max(a[1].stop, b[1].stop)))


def _in(region: Region, box: Region) -> np.ndarray:
    """A mask of ``box``'s shape, True inside ``region``."""
    mask = np.zeros((box[0].stop - box[0].start, box[1].stop - box[1].start), dtype=bool)
    mask[region[0].start - box[0].start: region[0].stop - box[0].start,
         region[1].start - box[1].start: region[1].stop - box[1].start] = True
    return mask
