"""The effort of turning a prediction into a training tracing, and the speed of each edit (issue: drafting).

Part 1, **effort** (``docs/correct.md``): the oracle (``core.draft.correct``) corrects a tracing into
the true NIST tracing with the editor's own edits and counts clicks (1 to delete a branch or close an
end, 2 to draw a missing stretch). Compared, on the shipped demo model's NIST map (original run,
demo_59, native size, fp32) and on soft maps of the true tracing with faint boundaries
(``draft.faint_map``, three seeds): the lab's post-processing at its defaults; the same with lowered
thresholds and hole size (no ridge following); the draft at its defaults; tracing from scratch.

Part 2, **edit speed** at 2048 x 2048 (the tiled NIST tracing as a faint map): CPU and wall time of
each kind of edit including the session's picture updates (grains relabelled, ends and suggestions
refreshed) — what the widget does before napari redraws the changed pixels.

    OMP_NUM_THREADS=1 python benchmarks/bench_draft.py            # both parts
    OMP_NUM_THREADS=1 python benchmarks/bench_draft.py --effort   # part 1 only (markdown table)
    OMP_NUM_THREADS=1 python benchmarks/bench_draft.py --speed    # part 2 only
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import cpu_model, print_machine

from napari_graintrace.core import grains
from napari_graintrace.core.draft import (
    CorrectionSession,
    DraftOptions,
    correct,
    draft_tracing,
    faint_map,
    scratch_clicks,
    truth_skeleton,
)
from napari_graintrace.core.options import GrainOptions

LOWERED = GrainOptions(high=0.3, low=0.1, dilations=1, min_area=10, prune=15)  # thresholds and holes lowered
FAINT_SEEDS = (0, 1, 2)
FAINT = {"faint_fraction": 0.25, "faint_level": (0.12, 0.35)}


def nist_demo_map() -> np.ndarray:
    import torch

    from napari_graintrace.core.io import read_micrograph
    from napari_graintrace.core.model import load_checkpoint, predict
    from napari_graintrace.data import DEMO_CHECKPOINTS, NIST_MICROGRAPH

    torch.set_num_threads(1)
    model = load_checkpoint(DEMO_CHECKPOINTS / "demo_59.pth")
    return predict(model, read_micrograph(NIST_MICROGRAPH), resolution=None, precision="fp32", device="cpu")


def nist_truth() -> np.ndarray:
    from napari_graintrace.core.io import read_trace
    from napari_graintrace.data import NIST_TRACE

    return truth_skeleton(read_trace(NIST_TRACE)[0])


def effort_rows(prob: np.ndarray, truth: np.ndarray) -> dict[str, dict]:
    """Oracle corrections of the three tracings of one map (and the scratch count)."""
    tracings = {"lab defaults": grains.boundaries(prob), "lowered thresholds": grains.boundaries(prob, LOWERED),
                "draft": draft_tracing(prob, DraftOptions()).tracing}
    rows = {name: correct(tracing, truth, prob).to_dict() for name, tracing in tracings.items()}
    rows["from scratch"] = {"clicks": scratch_clicks(truth)}
    return rows


def effort_maps() -> dict[str, np.ndarray]:
    """The maps of the effort table, by the name its rows start with."""
    truth = nist_truth()
    maps = {"NIST demo_59": nist_demo_map()}
    for seed in FAINT_SEEDS:
        maps[f"faint seed {seed}"] = faint_map(truth, seed=seed, **FAINT)
    return maps


def row_cells(row: dict, lab_clicks: int) -> str:
    """One table row's numbers, as ``docs/correct.md`` prints them (and its docs test reads them)."""
    return (f"{row['grain_f1_before']:.3f} | {row['clicks']} | {row['deleted']} | {row['ridge_paths']} + "
            f"{row['free_paths']} | {row['ends_closed']} | {row['clicks'] / lab_clicks:.2f} | "
            f"{row['grain_f1_after']:.3f}")


def effort() -> str:
    truth = nist_truth()
    lines = [("| map, tracing | grain F1 | clicks | deleted | drawn (ridge + free) | ends closed | x lab | "
             "grain F1 after |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, prob in effort_maps().items():
        rows = effort_rows(prob, truth)
        lab = rows["lab defaults"]["clicks"]
        for method, row in rows.items():
            if method == "from scratch":
                lines.append(f"| {name}, from scratch | - | {row['clicks']:,} | - | - | - | "
                             f"{row['clicks'] / lab:.2f} | - |")
            else:
                lines.append(f"| {name}, {method} | {row_cells(row, lab)} |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def tiled_truth(size: int) -> np.ndarray:
    trace = nist_truth()
    reps = (-(-size // trace.shape[0]) + 1, -(-size // trace.shape[1]) + 1)
    tiled = np.block([[trace if (i + j) % 2 == 0 else trace[::-1, ::-1] for j in range(reps[1])]
                      for i in range(reps[0])])
    return np.ascontiguousarray(tiled[:size, :size])


def timed(func):
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def speed(size: int = 2048, edits: int = 20) -> str:
    """Each kind of edit at ``size`` x ``size``: the edit, the session's picture updates, and napari's
    ``Labels.data_setitem`` of the changed pixels on two standalone Labels layers (the widget's redraw
    without the GPU upload)."""
    from napari.layers import Labels

    truth = tiled_truth(size)
    prob = faint_map(truth, seed=0, **FAINT)
    draft, wall, cpu = timed(lambda: draft_tracing(prob))
    lines = [f"Draft of a {size} x {size} faint-boundary map: {wall / 1e3:.1f} s wall, {cpu / 1e3:.1f} s CPU."]
    session, wall, cpu = timed(lambda: CorrectionSession(draft.tracing, draft.prob))
    lines.append(f"Correction session (grains, ends, suggestions): {wall / 1e3:.1f} s wall, {cpu / 1e3:.1f} s CPU.")
    tracing_layer, grains_layer = Labels(session.picture.copy()), Labels(session.labels.copy())
    rng = np.random.default_rng(0)
    edge = np.argwhere(session.editor.tracing)
    interior = np.argwhere(session.labels > 0)
    # the points of every edit are drawn before the clock starts
    kinds = {
        "delete branch": [(session.editor.delete_branch, (edge[rng.integers(len(edge))],)) for _ in range(edits)],
        "ridge path (<= 40 px)": [(session.editor.ridge_path, _pair(edge, rng, 40)) for _ in range(edits)],
        "free path (drag)": [(session.editor.free_path, (list(_pair(interior, rng, 30)),)) for _ in range(edits)],
        "merge grains": [(session.editor.merge_grains, _touching(session, rng, interior)) for _ in range(edits)],
        "undo": [(session.editor.undo, ()) for _ in range(edits)],
    }

    def edit_and_redraw(edit, points):
        from napari_graintrace.core.errors import InputError

        try:
            redraw = session.after(edit(*points))
        except InputError:  # two grains an earlier edit already merged or split
            return None
        if redraw is not None:
            for layer, (indices, values) in ((tracing_layer, redraw.tracing), (grains_layer, redraw.grains)):
                if indices[0].size:
                    layer.data_setitem(indices, values)
        return redraw

    lines += ["", (f"| edit at {size} x {size} | edits | median CPU (ms) | max CPU (ms) | median wall (ms) | "
                  "max wall (ms) |"), "|---|---:|---:|---:|---:|---:|"]
    for name, calls in kinds.items():
        cpus, walls = [], []
        for edit, points in calls:
            _, wall, cpu = timed(lambda edit=edit, points=points: edit_and_redraw(edit, points))
            cpus.append(cpu)
            walls.append(wall)
        lines.append(f"| {name} | {edits} | {statistics.median(cpus):.1f} | {max(cpus):.1f} | "
                     f"{statistics.median(walls):.1f} | {max(walls):.1f} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def _pair(points: np.ndarray, rng, distance: int):
    first = points[rng.integers(len(points))]
    near = points[np.abs(points - first).max(axis=1) <= distance]
    return first, near[rng.integers(len(near))]


def _touching(session: CorrectionSession, rng, interior: np.ndarray):
    """Two points in two different grains 12 px apart (most such pairs share a boundary)."""
    while True:
        first = interior[rng.integers(len(interior))]
        second = np.clip(first + (0, 12), 0, np.array(session.shape) - 1)
        a, b = session.labels[tuple(first)], session.labels[tuple(second)]
        if a and b and a != b:
            return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--effort", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--write", action="store_true", help="put the tables into docs/correct.md")
    args = parser.parse_args()
    both = not (args.effort or args.speed)
    print_machine()
    if args.effort or both:
        table = effort()
        if args.write:
            from docs_text import replace_block

            replace_block("docs/correct.md", "effort", f"Measured by `python benchmarks/bench_draft.py --effort "
                          f"--write` on {cpu_model()}.\n\n{table}")
    if args.speed or both:
        table = speed()
        print(table)
        if args.write:
            from docs_text import replace_block

            replace_block("docs/correct.md", "speed", f"Measured by `python benchmarks/bench_draft.py --speed "
                          f"--write` on {cpu_model()} (one thread, a machine shared with other jobs: CPU time is "
                          f"the fairer figure).\n\n{table}")


if __name__ == "__main__":
    main()
