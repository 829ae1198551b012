"""The edits a person makes to a 1-px tracing, each local, undoable, and telling what it changed.

:class:`TracingEditor` holds a tracing (boolean, True on a boundary) and, when it came from a
prediction, the ridge cost ``-log p`` (:func:`ridge_cost`). Every edit works in a window around the
points it was given, so its cost does not grow with the image, and returns a :class:`Change`: the
region (a pair of slices) it rewrote with the pixels before and after, so a viewer redraws only that
region and undo/redo are patch swaps. The edits:

* :meth:`~TracingEditor.delete_branch`: the branch under a point (a chain of pixels between junctions
  or ends, see ``graph.branch_labels``), and a junction pixel its removal left dangling.
* :meth:`~TracingEditor.ridge_path`: connect two points along the probability ridge, the minimum-cost
  path on ``-log p`` (scikit-image's ``route_through_array``, geometric costs, 8-connected).
* :meth:`~TracingEditor.free_path`: a polyline, drawn as it was dragged.
* :meth:`~TracingEditor.close_end`: a dangling end joined to the nearest other line along the ridge
  (Dijkstra from the end: scikit-image's ``MCP_Geometric``); :meth:`~TracingEditor.gap_suggestions`
  proposes one closure per dangling end and :meth:`~TracingEditor.close_gaps` applies them.
* :meth:`~TracingEditor.merge_grains`: two touching grains become one (their shared boundary goes).
* :meth:`~TracingEditor.split_grain`: a ridge path across one grain, between two points of its rim.

Grains are the 4-connected components of the non-boundary pixels (``core.grains``): an 8-connected
path of 1 px separates them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError
from .graph import EIGHT, dangling_ends, neighbour_count

__all__ = ["Change", "GapSuggestion", "Region", "TracingEditor", "bounding_region", "ridge_cost"]

Region = tuple[slice, slice]
Point = tuple[int, int]
_CROSS = ndi.generate_binary_structure(2, 1)
_PROB_FLOOR = 1e-3  # -log p is capped at ~6.9: a path may cross a stretch the model missed entirely
_LENGTH_COST = 0.05  # added per pixel: among equally dark paths, the shorter one


def ridge_cost(prob: np.ndarray, floor: float = _PROB_FLOOR) -> np.ndarray:
    """Per-pixel cost of a path, ``-log p`` (+ a small length term): cheapest along the ridge of p."""
    prob = np.asarray(prob, dtype=np.float32)
    return (-np.log(np.clip(prob, floor, 1.0)) + _LENGTH_COST).astype(np.float32)


def bounding_region(points: np.ndarray, shape: tuple[int, int], margin: int = 0) -> Region:
    """The smallest pair of slices holding every point (row, col), grown by ``margin``, clipped."""
    points = np.asarray(points).reshape(-1, 2)
    top, left = points.min(axis=0) - margin
    bottom, right = points.max(axis=0) + margin + 1
    return (slice(max(int(top), 0), min(int(bottom), shape[0])),
            slice(max(int(left), 0), min(int(right), shape[1])))


def _union(a: Region, b: Region) -> Region:
    return (slice(min(a[0].start, b[0].start), max(a[0].stop, b[0].stop)),
            slice(min(a[1].start, b[1].start), max(a[1].stop, b[1].stop)))


def _offset(region: Region) -> np.ndarray:
    return np.array([region[0].start, region[1].start])


@dataclass(frozen=True)
class Change:
    """One edit: what it was, the region it rewrote, the pixels there before and after, its clicks."""

    kind: str
    region: Region
    before: np.ndarray
    after: np.ndarray
    clicks: int = 1

    @property
    def pixels(self) -> int:
        """How many pixels changed."""
        return int(np.count_nonzero(self.before != self.after))


@dataclass(frozen=True)
class GapSuggestion:
    """A proposed closure of a dangling end: the end, the path (row/col, end first) and its ridge."""

    end: Point
    path: np.ndarray
    mean_prob: float

    @property
    def length(self) -> int:
        return len(self.path) - 1


class TracingEditor:
    """A tracing being corrected: the edits above, undo/redo, and a count of edits and clicks.

    ``prob`` (the boundary probability map the tracing was drafted from) makes the ridge paths follow
    it; without one every pixel costs the same and a "ridge" path is a shortest path.
    """

    def __init__(self, tracing: np.ndarray, prob: np.ndarray | None = None) -> None:
        tracing = np.asarray(tracing)
        if tracing.ndim != 2:
            raise InputError(f"a tracing must be a 2-D image, got shape {tracing.shape}")
        self.tracing = np.array(tracing, dtype=bool, copy=True)
        if prob is not None:
            prob = np.asarray(prob)
            if prob.shape != self.tracing.shape:
                raise InputError(f"the prediction is {prob.shape[0]} x {prob.shape[1]} but the tracing is "
                                 f"{self.tracing.shape[0]} x {self.tracing.shape[1]}; the shapes must match")
            self.prob: np.ndarray | None = np.asarray(prob, dtype=np.float32)
            self.cost = ridge_cost(prob)
        else:
            self.prob = None
            self.cost = np.ones(self.tracing.shape, dtype=np.float32)
        self.done: list[Change] = []
        self.undone: list[Change] = []

    # ---------------------------------------------------------------------------------------
    # bookkeeping
    # ---------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.tracing.shape

    @property
    def edits(self) -> int:
        """Edits in effect (undone ones do not count)."""
        return len(self.done)

    @property
    def clicks(self) -> int:
        """Clicks of the edits in effect."""
        return sum(change.clicks for change in self.done)

    def _commit(self, kind: str, region: Region, after: np.ndarray, clicks: int) -> Change | None:
        before = self.tracing[region].copy()
        if np.array_equal(before, after):
            return None
        change = Change(kind, region, before, np.array(after, dtype=bool, copy=True), clicks)
        self.tracing[region] = change.after
        self.done.append(change)
        self.undone.clear()
        return change

    def _set_pixels(self, kind: str, points: np.ndarray, value: bool, clicks: int) -> Change | None:
        points = np.asarray(points, dtype=np.intp).reshape(-1, 2)
        if points.size == 0:
            return None
        region = bounding_region(points, self.shape)
        after = self.tracing[region].copy()
        local = points - _offset(region)
        after[local[:, 0], local[:, 1]] = value
        return self._commit(kind, region, after, clicks)

    def draw_paths(self, kind: str, paths: Sequence[np.ndarray], clicks: int = 1) -> Change | None:
        """Draw several paths (row/col arrays) as one edit, e.g. every suggested gap closure at once."""
        if not paths:
            return None
        return self._set_pixels(kind, np.concatenate([np.asarray(p).reshape(-1, 2) for p in paths]), True, clicks)

    def undo(self) -> Change | None:
        """Take back the last edit; returns it (its region is what to redraw), None if none is left."""
        if not self.done:
            return None
        change = self.done.pop()
        self.tracing[change.region] = change.before
        self.undone.append(change)
        return change

    def redo(self) -> Change | None:
        """Apply the last undone edit again."""
        if not self.undone:
            return None
        change = self.undone.pop()
        self.tracing[change.region] = change.after
        self.done.append(change)
        return change

    def _point(self, point: Sequence[float]) -> Point:
        row, col = (round(float(v)) for v in point)
        if not (0 <= row < self.shape[0] and 0 <= col < self.shape[1]):
            raise InputError(f"the point ({row}, {col}) lies outside the {self.shape[0]} x {self.shape[1]} image")
        return row, col

    def nearest_boundary(self, point: Sequence[float], radius: int = 5,
                         mask: np.ndarray | None = None) -> Point | None:
        """The boundary pixel (of ``mask`` if given) nearest to ``point`` within ``radius``, or None."""
        row, col = self._point(point)
        region = bounding_region(np.array([[row, col]]), self.shape, radius)
        window = (self.tracing if mask is None else mask)[region]
        found = np.argwhere(window)
        if found.size == 0:
            return None
        found += _offset(region)
        distance = np.hypot(found[:, 0] - row, found[:, 1] - col)
        best = int(np.argmin(distance))
        return (int(found[best, 0]), int(found[best, 1])) if distance[best] <= radius else None

    # ---------------------------------------------------------------------------------------
    # deleting
    # ---------------------------------------------------------------------------------------
    def branch_at(self, point: Sequence[float], radius: int = 5) -> np.ndarray | None:
        """(n, 2) pixels of the branch nearest to ``point`` (junction pixels excluded), or None."""
        row, col = self._point(point)
        window = 64
        while True:
            region = bounding_region(np.array([[row, col]]), self.shape, window)
            # junctions need the true neighbours: label a window grown by one pixel, then cut it back
            outer = bounding_region(np.array([[row, col]]), self.shape, window + 1)
            skeleton = self.tracing[outer]
            counts = neighbour_count(skeleton)
            inner = (slice(region[0].start - outer[0].start, region[0].stop - outer[0].start),
                     slice(region[1].start - outer[1].start, region[1].stop - outer[1].start))
            chains = skeleton & (counts < 3)
            labels, _ = ndi.label(chains[inner], structure=EIGHT)
            found = np.argwhere(labels > 0)
            if found.size == 0:
                return None
            local = np.array([row, col]) - _offset(region)
            distance = np.hypot(*(found - local).T)
            best = int(np.argmin(distance))
            if distance[best] > radius:
                return None
            label = labels[tuple(found[best])]
            pixels = np.argwhere(labels == label)
            touches_cut = ((pixels[:, 0] == 0) & (region[0].start > 0)).any() or \
                ((pixels[:, 1] == 0) & (region[1].start > 0)).any() or \
                ((pixels[:, 0] == labels.shape[0] - 1) & (region[0].stop < self.shape[0])).any() or \
                ((pixels[:, 1] == labels.shape[1] - 1) & (region[1].stop < self.shape[1])).any()
            if not touches_cut:
                return pixels + _offset(region)
            window *= 2

    def delete_branch(self, point: Sequence[float], radius: int = 5) -> Change | None:
        """Delete the branch nearest to ``point`` (one click); None if no boundary is within ``radius``.

        A junction pixel left as a dangling stub by the removal goes too, as in spur pruning.
        """
        pixels = self.branch_at(point, radius)
        if pixels is None:
            return None
        region = bounding_region(pixels, self.shape, 2)
        after = self.tracing[region].copy()
        local = pixels - _offset(region)
        after[local[:, 0], local[:, 1]] = False
        # stubs: a junction pixel next to the removed branch that is now a line end goes too
        near = np.zeros_like(after)
        near[local[:, 0], local[:, 1]] = True
        near = ndi.binary_dilation(near, EIGHT) & after & self._was_junction(region) & self._inside(region)
        for _ in range(2):
            stub = near & (neighbour_count(after, outside=0) <= 1)
            if not stub.any():
                break
            after &= ~stub
            near &= ~stub
        return self._commit("delete branch", region, after, 1)

    def _inside(self, region: Region) -> np.ndarray:
        """True where a pixel of ``region`` is not on the image edge (edge pixels never dangle)."""
        inside = np.ones((region[0].stop - region[0].start, region[1].stop - region[1].start), dtype=bool)
        if region[0].start == 0:
            inside[0] = False
        if region[1].start == 0:
            inside[:, 0] = False
        if region[0].stop == self.shape[0]:
            inside[-1] = False
        if region[1].stop == self.shape[1]:
            inside[:, -1] = False
        return inside

    def _was_junction(self, region: Region) -> np.ndarray:
        grown = bounding_region(np.array([[region[0].start, region[1].start],
                                          [region[0].stop - 1, region[1].stop - 1]]), self.shape, 1)
        counts = neighbour_count(self.tracing[grown])
        cut = (slice(region[0].start - grown[0].start, region[0].stop - grown[0].start),
               slice(region[1].start - grown[1].start, region[1].stop - grown[1].start))
        return self.tracing[region] & (counts[cut] >= 3)

    # ---------------------------------------------------------------------------------------
    # drawing
    # ---------------------------------------------------------------------------------------
    def route(self, start: Sequence[float], stop: Sequence[float], allowed: np.ndarray | None = None,
              margin: int | None = None) -> np.ndarray:
        """The minimum-cost 8-connected path (row/col, start to stop) on the ridge cost.

        Searched in the two points' bounding box grown by ``margin`` (default: half their distance,
        at least 16 px); ``allowed``: a mask of the whole image outside which the path may not go.
        """
        from skimage.graph import route_through_array

        start, stop = self._point(start), self._point(stop)
        if start == stop:
            return np.array([start])
        if margin is None:
            margin = max(16, int(math.dist(start, stop) / 2))
        region = bounding_region(np.array([start, stop]), self.shape, margin)
        cost = self.cost[region]
        if allowed is not None:
            cost = np.where(allowed[region], cost, np.inf)
        offset = _offset(region)
        try:
            path, total = route_through_array(cost, tuple(np.subtract(start, offset)),
                                              tuple(np.subtract(stop, offset)), fully_connected=True,
                                              geometric=True)
        except ValueError:  # no route at all
            return np.zeros((0, 2), dtype=np.intp)
        if not math.isfinite(total):
            return np.zeros((0, 2), dtype=np.intp)
        return np.asarray(path, dtype=np.intp) + offset

    def ridge_path(self, start: Sequence[float], stop: Sequence[float]) -> Change | None:
        """Draw the line between two points along the ridge of p (two clicks)."""
        return self._set_pixels("ridge path", self.route(start, stop), True, 2)

    def free_path(self, points: Sequence[Sequence[float]], clicks: int = 2) -> Change | None:
        """Draw a polyline through ``points`` as given (a drag: press and release)."""
        from skimage.draw import line

        vertices = [self._point(p) for p in points]
        if not vertices:
            return None
        rows, cols = [np.array([vertices[0][0]])], [np.array([vertices[0][1]])]
        for (r0, c0), (r1, c1) in itertools.pairwise(vertices):
            rr, cc = line(r0, c0, r1, c1)
            rows.append(rr)
            cols.append(cc)
        return self._set_pixels("free path", np.c_[np.concatenate(rows), np.concatenate(cols)], True, clicks)

    # ---------------------------------------------------------------------------------------
    # gaps
    # ---------------------------------------------------------------------------------------
    def dangling_ends(self, region: Region | None = None) -> np.ndarray:
        """(k, 2) line ends away from the image edge (in ``region`` if given)."""
        return dangling_ends(self.tracing, region)

    def suggest_closure(self, end: Sequence[float], radius: int = 40, max_turn: float = 180.0,
                        loop_ratio: float = 3.0, own: int = 10) -> GapSuggestion | None:
        """The cheapest ridge path from a dangling end to another line within ``radius`` px.

        Lines the end is already joined to nearby do not count as "another line": a target pixel must
        lie further along the tracing from the end (geodesic distance, inside the window) than
        ``own`` px and than ``loop_ratio`` x its straight distance, so a spur is not bent back onto its
        own junction to enclose a sliver. ``max_turn`` (degrees): how far the path may turn away from
        the direction the line arrives in (a gap continues its line; a spur closed sideways does not).
        """
        from skimage.graph import MCP, MCP_Geometric

        end = self._point(end)
        region = bounding_region(np.array([end]), self.shape, radius)
        skeleton = self.tracing[region]
        local = tuple(np.subtract(end, _offset(region)))
        if not skeleton[local]:
            return None
        along, _ = MCP(np.where(skeleton, 1.0, np.inf), fully_connected=True).find_costs([local])
        rows, cols = np.indices(skeleton.shape)
        straight = np.hypot(rows - local[0], cols - local[1])
        own_line = skeleton & (along <= own)
        # the path may not hug its own line (a double line): 2 px around it are closed, but near the end
        blocked = ndi.binary_dilation(own_line, EIGHT, iterations=2) & (straight > 2.5)
        targets = skeleton & (along > own) & (along > loop_ratio * straight) & (straight <= radius) & ~blocked
        if max_turn < 180:
            # the direction the line arrives in: from its own pixels up to the first junction
            junctions = skeleton & (neighbour_count(skeleton) >= 3)
            first_junction = along[junctions].min() if junctions.any() else np.inf
            behind = np.argwhere(own_line & (along < first_junction)).mean(axis=0)
            heading = np.subtract(local, behind)
            if np.hypot(*heading) > 0:
                ahead = (rows - local[0]) * heading[0] + (cols - local[1]) * heading[1]
                targets &= ahead >= np.cos(np.radians(max_turn)) * straight * np.hypot(*heading)
        if not targets.any():
            return None
        # a path ends at the first line it meets: lines that are not targets (and 2 px around them: a
        # line's blurred shoulder is a cheap ridge too) cannot be walked along
        fenced = ndi.binary_dilation(skeleton & ~targets, EIGHT, iterations=2) & (straight > 2.5)
        cost = np.where(own_line | blocked | fenced | (skeleton & ~targets), np.inf, self.cost[region])
        cost[local] = self.cost[region][local]
        search = MCP_Geometric(cost, fully_connected=True)
        reached, _ = search.find_costs([local], np.argwhere(targets), find_all_ends=False)
        reached = np.where(targets, reached, np.inf)
        target = np.unravel_index(int(np.argmin(reached)), reached.shape)
        if not math.isfinite(reached[target]):
            return None
        path = np.asarray(search.traceback(target), dtype=np.intp)
        if path[0].tolist() != list(local):
            path = path[::-1]
        path = path + _offset(region)
        inner = path[1:-1]
        mean_prob = float(self.prob[inner[:, 0], inner[:, 1]].mean()) if self.prob is not None and len(inner) \
            else 1.0
        return GapSuggestion(end, path, mean_prob)

    def close_end(self, end: Sequence[float], radius: int = 40) -> Change | None:
        """Join a dangling end (the nearest one to ``end`` within 5 px) to the nearest line (one click)."""
        row, col = self._point(end)
        ends = self.dangling_ends(bounding_region(np.array([[row, col]]), self.shape, 5))
        if ends.size == 0:
            return None
        nearest = ends[int(np.argmin(np.hypot(ends[:, 0] - row, ends[:, 1] - col)))]
        suggestion = self.suggest_closure(nearest, radius)
        if suggestion is None:
            return None
        return self._set_pixels("close gap", suggestion.path, True, 1)

    def gap_suggestions(self, radius: int = 40, min_prob: float = 0.0, max_turn: float = 180.0,
                        region: Region | None = None) -> list[GapSuggestion]:
        """One closure per dangling end (in ``region`` if given) whose path's mean p is ``min_prob`` or more."""
        found = []
        for end in self.dangling_ends(region):
            suggestion = self.suggest_closure(end, radius, max_turn)
            if suggestion is not None and suggestion.mean_prob >= min_prob:
                found.append(suggestion)
        return found

    def close_gaps(self, radius: int = 40, min_prob: float = 0.0, max_turn: float = 180.0,
                   short: int = 0, clicks: int = 1) -> Change | None:
        """Close every dangling end whose closure's mean p is ``min_prob`` or more, as one edit (one key).

        A closure of at most ``short`` px is a break in a line and is taken whatever p is along it.
        Ends are taken one at a time on the tracing as it grows, so two ends facing each other across
        a gap are joined once, not twice.
        """
        start = self.tracing.copy()
        region = None
        try:
            for end in self.dangling_ends():
                suggestion = self.suggest_closure(end, radius, max_turn) if self._still_dangling(end) else None
                if suggestion is None or (suggestion.mean_prob < min_prob and suggestion.length > short):
                    continue
                self.tracing[suggestion.path[:, 0], suggestion.path[:, 1]] = True
                found = bounding_region(suggestion.path, self.shape)
                region = found if region is None else _union(region, found)
        finally:
            if region is not None:
                after = self.tracing[region].copy()
            self.tracing[...] = start
        if region is None:
            return None
        return self._commit("close gaps", region, after, clicks)

    def _still_dangling(self, end: np.ndarray) -> bool:
        return len(dangling_ends(self.tracing, bounding_region(end, self.shape))) > 0

    # ---------------------------------------------------------------------------------------
    # grains
    # ---------------------------------------------------------------------------------------
    def grain_at(self, point: Sequence[float]) -> np.ndarray:
        """Boolean mask of the grain (4-connected non-boundary pixels) holding ``point``."""
        from skimage.segmentation import flood

        row, col = self._point(point)
        if self.tracing[row, col]:
            raise InputError(f"the point ({row}, {col}) lies on a boundary, not in a grain")
        return flood(self.tracing, (row, col), connectivity=1)

    def merge_grains(self, first: Sequence[float], second: Sequence[float]) -> Change | None:
        """Merge the grains at two points by deleting the boundary they share (two clicks).

        A boundary pixel goes when the grains around it are these two only, so no third grain leaks
        in. None if they are one grain already; an error if they do not touch.
        """
        a, b = self.grain_at(first), self.grain_at(second)
        if a[self._point(second)]:
            return None
        rows, cols = np.flatnonzero(a.any(axis=1) | b.any(axis=1)), np.flatnonzero(a.any(axis=0) | b.any(axis=0))
        box = bounding_region(np.array([[rows[0], cols[0]], [rows[-1], cols[-1]]]), self.shape, 2)
        a, b, tracing = a[box], b[box], self.tracing[box]
        shared = tracing & ndi.binary_dilation(a, EIGHT) & ndi.binary_dilation(b, EIGHT)
        if not shared.any():
            raise InputError("these two grains do not share a boundary")
        region = bounding_region(np.argwhere(shared) + _offset(box), self.shape, 1)
        inner = (slice(region[0].start - box[0].start, region[0].stop - box[0].start),
                 slice(region[1].start - box[1].start, region[1].stop - box[1].start))
        others = ~tracing[inner] & ~a[inner] & ~b[inner]
        shared_here = shared[inner] & ~ndi.binary_dilation(others, EIGHT)
        after = self.tracing[region] & ~shared_here
        return self._commit("merge grains", region, after, 2)

    def split_grain(self, first: Sequence[float], second: Sequence[float]) -> Change | None:
        """Split one grain with a ridge path across it between two points of its rim (two clicks).

        The grain is the one under the middle of the two points; each point is moved to the nearest
        boundary pixel of that grain's rim, and the path runs through the grain's own pixels only.
        """
        a, b = self._point(first), self._point(second)
        middle = ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2)
        if self.tracing[middle]:
            nearby = self.nearest_boundary(middle, 3, mask=~self.tracing)
            if nearby is None:
                raise InputError("no grain between these two points")
            middle = nearby
        grain = self.grain_at(middle)
        rim = self.tracing & ndi.binary_dilation(grain, _CROSS)
        reach = int(max(8, math.dist(a, b) / 4))
        start, stop = self.nearest_boundary(a, reach, rim), self.nearest_boundary(b, reach, rim)
        if start is None or stop is None or start == stop:
            raise InputError("click two points on the rim of the grain to split")
        allowed = grain.copy()
        allowed[start] = allowed[stop] = True
        path = self.route(start, stop, allowed=allowed, margin=max(16, int(math.dist(start, stop))))
        if path.size == 0:
            raise InputError("no path across the grain between these two points")
        return self._set_pixels("split grain", path, True, 2)
