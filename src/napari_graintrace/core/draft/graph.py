"""A 1-px tracing as a graph: junctions, branches and dangling ends.

The whole-image summary (how many branches, which ends dangle, each branch's pixels) comes from
skan's :class:`~skan.Skeleton`, the field's library for skeleton graphs. The editor works on small
windows instead and needs the same notions array-at-a-time, so this module also defines them with
``scipy.ndimage`` (:func:`junction_mask`, :func:`dangling_ends`, :func:`branch_labels`); the tests
check both definitions against each other.

Conventions shared with ``core.grains.prune_spurs``: pixels are 8-connected; a pixel with three or
more 8-neighbours is a junction pixel; a pixel with one neighbour is an end; a pixel on the image
edge counts the outside as neighbours, so a boundary that runs out of the image never dangles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["BoundaryGraph", "boundary_graph", "branch_labels", "dangling_ends", "junction_mask", "neighbour_count"]

EIGHT = np.ones((3, 3), dtype=bool)


def neighbour_count(skeleton: np.ndarray, outside: int = 1) -> np.ndarray:
    """8-neighbours of every pixel (uint8); ``outside`` = what a pixel beyond the image edge counts as."""
    skeleton = np.asarray(skeleton, dtype=bool)
    weights = EIGHT.astype(np.uint8)
    weights[1, 1] = 0
    return ndi.correlate(skeleton.astype(np.uint8), weights, mode="constant", cval=outside)


def junction_mask(skeleton: np.ndarray) -> np.ndarray:
    """Skeleton pixels with three or more 8-neighbours."""
    skeleton = np.asarray(skeleton, dtype=bool)
    return skeleton & (neighbour_count(skeleton) >= 3)


def dangling_ends(skeleton: np.ndarray, region: tuple[slice, slice] | None = None) -> np.ndarray:
    """(k, 2) row/col of line ends (one 8-neighbour or none) away from the image edge.

    With ``region`` only the ends inside it are returned, counted on the region and a 1-px margin
    around it: every neighbour of a pixel inside is seen, so a window's cut edge is not mistaken for
    the image edge, and the work is the window's, not the image's (a draft closes thousands of ends).
    """
    skeleton = np.asarray(skeleton, dtype=bool)
    if region is None:
        ends = skeleton & (neighbour_count(skeleton) <= 1)
        return np.argwhere(ends)
    rows, cols = region
    padded = (slice(max(rows.start - 1, 0), min(rows.stop + 1, skeleton.shape[0])),
              slice(max(cols.start - 1, 0), min(cols.stop + 1, skeleton.shape[1])))
    window = skeleton[padded]
    counts = neighbour_count(window)
    inner = (slice(rows.start - padded[0].start, rows.stop - padded[0].start),
             slice(cols.start - padded[1].start, cols.stop - padded[1].start))
    return np.argwhere(window[inner] & (counts[inner] <= 1)) + (rows.start, cols.start)


def branch_labels(skeleton: np.ndarray) -> tuple[np.ndarray, int]:
    """Branches as labels: 8-connected components of the skeleton without its junction pixels."""
    skeleton = np.asarray(skeleton, dtype=bool)
    labels, count = ndi.label(skeleton & ~junction_mask(skeleton), structure=EIGHT)
    return labels, int(count)


@dataclass(frozen=True)
class BoundaryGraph:
    """A tracing's graph (skan): every branch's pixels, junction pixels and dangling ends."""

    shape: tuple[int, int]
    branches: list[np.ndarray]  # (n_i, 2) row/col, junction pixels at both ends included
    branch_types: np.ndarray  # skan's: 0 end-end, 1 junction-end, 2 junction-junction, 3 cycle
    junctions: np.ndarray  # (m, 2) pixels with three or more neighbours
    ends: np.ndarray  # (k, 2) dangling ends (not on the image edge)

    @property
    def summary(self) -> dict[str, int]:
        """The counts ``graintrace draft --json`` prints."""
        return {"branches": len(self.branches), "junctions": len(self.junctions),
                "dangling_ends": len(self.ends)}


def boundary_graph(skeleton: np.ndarray) -> BoundaryGraph:
    """The graph of a 1-px tracing by skan (an empty tracing has no branches)."""
    skeleton = np.asarray(skeleton, dtype=bool)
    junctions = np.argwhere(junction_mask(skeleton))
    ends = dangling_ends(skeleton)
    if np.count_nonzero(skeleton) < 2:
        return BoundaryGraph(skeleton.shape, [], np.zeros(0, dtype=int), junctions, ends)
    from skan import Skeleton

    graph = Skeleton(skeleton)
    branches = [graph.path_coordinates(i).astype(np.intp) for i in range(graph.n_paths)]
    degrees = graph.degrees
    types = np.zeros(graph.n_paths, dtype=int)
    for i in range(graph.n_paths):
        path = graph.path(i)
        first, last = degrees[path[0]], degrees[path[-1]]
        if path[0] == path[-1] and len(path) > 1:
            types[i] = 3
        else:
            types[i] = int(first > 1) + int(last > 1)
    return BoundaryGraph(skeleton.shape, branches, types, junctions, ends)
