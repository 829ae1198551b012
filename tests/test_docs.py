"""Figures quoted in the README and docs, recomputed from the shipped data and compared with the text.

``pytest -m docs`` runs these. Each test reads the numbers from the markdown itself (``docs_text``) and
compares them at the precision the text prints, so a retrained demo checkpoint, a changed default or a
changed score fails here until the figures are regenerated (``make figures``, see docs/figures.md).
Predictions are fp32 on the CPU: the same on every machine.
"""

from __future__ import annotations

import numpy as np
import pytest
from docs_text import NUMBER, ROOT, assert_quotes, quoted, row_quotes
from scipy import ndimage as ndi

from napari_graintrace.cli import main as graintrace
from napari_graintrace.core import grains
from napari_graintrace.core.io import read_micrograph, read_trace, to_unit_float, unit_float_to_uint8
from napari_graintrace.core.model import load_checkpoint, predict
from napari_graintrace.core.scoring import boundary, scores
from napari_graintrace.data import DEMO_CHECKPOINTS, NIST_MICROGRAPH, NIST_TRACE

pytestmark = pytest.mark.docs

SCORES_MD = "docs/scores.md"
GRAINS_MD = "docs/grains.md"
DEMO_EPOCH = "demo_59.pth"  # the last epoch: what Inspect shows by default, and the docs' demo prediction


@pytest.fixture(scope="module")
def trace() -> np.ndarray:
    return read_trace(NIST_TRACE)[0]


@pytest.fixture(scope="module")
def demo_pred() -> np.ndarray:
    """The shipped demo checkpoint's map of the NIST micrograph, native size, fp32."""
    model = load_checkpoint(DEMO_CHECKPOINTS / DEMO_EPOCH)
    return predict(model, read_micrograph(NIST_MICROGRAPH), resolution=None, precision="fp32", device="cpu")


@pytest.fixture(scope="module")
def demo_grains(demo_pred, trace) -> dict:
    """The demo map's grains at the lab's defaults and after Tune (the Grains screenshots, the tuning table)."""
    truth = grains.trace_labels(trace)
    labels = grains.segment(demo_pred)
    return {"defaults": {**grains.compare(labels, truth), **grains.stats(labels)},
            "tuned": grains.tune(demo_pred, truth), "truth": truth}


def shifted(trace: np.ndarray, pixels: int) -> np.ndarray:
    pred = np.zeros(trace.shape, np.float32)
    pred[:, pixels:] = trace[:, : trace.shape[1] - pixels]
    return pred


def printed_numbers(text: str) -> list[float]:
    return [float(m.group().replace(",", "")) for m in NUMBER.finditer(text)]


# --------------------------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------------------------
def test_readme_quotes_what_the_headless_demo_prints(tmp_path, capsys):
    """Every number of the table `graintrace demo --headless` prints is the README's."""
    assert graintrace(["demo", "--headless", "-o", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]  # after the NIST notice
    printed = printed_numbers("\n".join(line for line in lines if not line.startswith("wrote ")))
    block = quoted("README.md", "$ graintrace demo --headless", count=len(printed))
    assert_quotes(block, printed)
    # and nothing more is quoted inside the block than the demo prints
    readme = (ROOT / "README.md").read_text()
    inside = readme.split("$ graintrace demo --headless", 1)[1].split("```", 1)[0]
    assert len(printed_numbers(inside)) == len(printed)


# --------------------------------------------------------------------------------------------
# docs/scores.md
# --------------------------------------------------------------------------------------------
def test_scores_shift_table_and_the_finding(trace):
    blank = np.zeros(trace.shape, np.float32)
    for label, pred in [*((str(s), shifted(trace, s)) for s in range(7)), ("blank", blank)]:
        assert_quotes(row_quotes(SCORES_MD, label, after="| shift (px) |"), [
            scores.bce(pred, trace), scores.tophat_loss(pred, trace, 3), scores.tophat_loss(pred, trace, 5),
            scores.gaussian_loss(pred, trace, 1.0, 15), scores.gaussian_loss(pred, trace, 3.0, 15),
            scores.tolerant_prf(pred, trace, 1.0, 15)[2]])
    assert_quotes(quoted(SCORES_MD, "predicting nothing at all (", 2),
                  [scores.bce(shifted(trace, 3), trace), scores.bce(blank, trace)])


def test_scores_boundary_case_table(trace):
    from skimage.morphology import disk, skeletonize

    skeleton = skeletonize(trace)
    assert_quotes(quoted(SCORES_MD, "| prediction | boundary P / R / F (", 2),
                  [boundary.match_distance_px(None, trace.shape), boundary.bsds_max_distance(trace.shape)])
    cases = {f"shift {s} px": shifted(trace, s) for s in range(7)}
    for width in (1, 3, 5, 9, 15):
        drawn = skeleton if width == 1 else ndi.binary_dilation(skeleton, disk(width // 2))
        cases[f"skeleton {width} px wide"] = drawn.astype(np.float32)
    cases["blank"] = np.zeros(trace.shape, np.float32)
    for name, pred in cases.items():
        assert_quotes(row_quotes(SCORES_MD, name, after="| prediction | boundary P / R / F"), [
            *scores.boundary_prf(pred, trace), scores.boundary_prf(pred, trace, max_distance="bsds")[2],
            scores.gaussian_loss(pred, trace, 3.0, 15), *scores.tolerant_prf(pred, trace, 1.0, 15)])
    thick, thin = (scores.boundary_prf(cases[f"skeleton {w} px wide"], trace)[2] for w in (9, 1))
    assert_quotes(quoted(SCORES_MD, "like a 1-px one (", 2), [thick, thin])
    assert_quotes(quoted(SCORES_MD, "Even the tracing itself scores", 1), [scores.boundary_prf(cases["shift 0 px"],
                                                                                                trace)[2]])


def test_scores_why_the_match_distance_is_3_px(trace):
    """The reasons given for the default tolerance: BSDS's rule at three frame sizes, the traced line's width."""
    from skimage.morphology import skeletonize

    assert_quotes(quoted(SCORES_MD, "a rule made for ", 3), [481, 321, boundary.bsds_max_distance((321, 481))])
    assert_quotes(quoted(SCORES_MD, "BSDS distance grows from ", 2),
                  [boundary.bsds_max_distance(trace.shape), boundary.bsds_max_distance((4096, 4096))])
    skeleton = skeletonize(trace)
    width = 2 * ndi.distance_transform_edt(trace)[skeleton]
    assert_quotes(quoted(SCORES_MD, "(at its skeleton: median ", 3),
                  [np.median(width), 95, np.percentile(width, 95)])
    off_centre = ndi.distance_transform_edt(~skeleton)[trace]
    assert_quotes(quoted(SCORES_MD, "of the traced pixels, ", 4),
                  [100 * np.mean(off_centre <= 2), 2, 100 * np.mean(off_centre <= 3), 3])
    assert boundary.match_distance_px(None, trace.shape) == 3.0


def test_scores_demo_boundary_prf_and_ods(demo_pred, trace):
    """The line under the BSDS picture: pairs and pixels at 0.5, P/R/F, and the ODS."""
    match = boundary.boundary_match(demo_pred, trace, 0.5)
    best_f, best_threshold = scores.boundary_ods(demo_pred, trace)
    assert_quotes(quoted(SCORES_MD, "On the whole map (", 11), [
        *demo_pred.shape, match.max_distance, 0.5, match.n_matched, match.n_predicted, match.n_true,
        *scores.boundary_prf(demo_pred, trace, 0.5), scores.boundary_prf(demo_pred, trace, 0.5, "bsds")[2]])
    assert_quotes(quoted(SCORES_MD, "(`boundary_ods`): best F", 2), [best_f, best_threshold])


def test_scores_bce_in_parts_float_and_8_bit(demo_pred, trace):
    eight_bit = to_unit_float(unit_float_to_uint8(demo_pred))
    for name, pred in (("float (`--format tiff`)", demo_pred), ("8-bit PNG (`--format png8`, the lab's)", eight_bit)):
        missed, false, clamped = scores.bce_parts(pred, trace)
        zeros, ones = np.count_nonzero(trace & (pred == 0)), np.count_nonzero(~trace & (pred == 1))
        assert_quotes(row_quotes(SCORES_MD, name, after="| map | BCE | missed"),
                      [scores.bce(pred, trace), missed, false, 100 * clamped, zeros, ones])
    _, _, clamped = scores.bce_parts(eight_bit, trace)
    assert_quotes(quoted(SCORES_MD, "on the demo prediction", 1), [np.count_nonzero(trace & (eight_bit == 0))])
    assert_quotes(quoted(SCORES_MD, "land on the clamp and carry", 1), [100 * clamped])


# --------------------------------------------------------------------------------------------
# docs/grains.md
# --------------------------------------------------------------------------------------------
def _tuning_row(result: grains.TuneResult) -> list[float]:
    o = result.options
    return [result.scores["grains"], result.scores["grain_f1"], o.high, o.low, o.dilations, o.min_area, o.prune,
            result.evaluated]


def test_grains_tuning_table_blurred_tracings(trace):
    truth = grains.trace_labels(trace)
    assert_quotes(quoted(GRAINS_MD, "normalised to 1),", 1), [grains.stats(truth)["grains"]])
    for sigma in (1.5, 2, 3):
        soft = ndi.gaussian_filter(trace.astype(np.float64), sigma)
        pred = (soft / soft.max()).astype(np.float32)
        labels = grains.segment(pred)
        defaults = [grains.stats(labels)["grains"], grains.compare(labels, truth)["grain_f1"]]
        assert_quotes(row_quotes(GRAINS_MD, f"blur sigma {sigma:g}"), defaults + _tuning_row(grains.tune(pred, truth)))


def test_grains_tuning_table_demo_unet(demo_grains):
    defaults = demo_grains["defaults"]
    assert_quotes(row_quotes(GRAINS_MD, "demo U-Net (epoch 59, screenshots)"),
                  [defaults["grains"], defaults["grain_f1"], *_tuning_row(demo_grains["tuned"])])


def test_grains_screenshot_captions(demo_grains):
    """The lines under the Grains screenshots (the widget shows the same map; fp32 and bf16 agree here)."""
    defaults, tuned = demo_grains["defaults"], demo_grains["tuned"]
    assert_quotes(quoted(GRAINS_MD, "cut in pieces in orange;", 4),
                  [defaults["grains"], defaults["grains_truth"], defaults["grain_f1"], defaults["size_ks"]])
    assert_quotes(quoted(GRAINS_MD, "*After Tune (", 7),
                  [tuned.evaluated, defaults["grain_f1"], tuned.scores["grain_f1"], defaults["grains"],
                   tuned.scores["grains"], tuned.scores["grains_truth"], tuned.scores["size_ks"]])


# --------------------------------------------------------------------------------------------
# benchmarks/RESULTS.md
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [None, (1200, 1600)], ids=["600x800", "1200x1600"])
def test_results_boundary_benchmark_counts(demo_pred, trace, shape):
    """The benchmark's input sizes: boundary pixels on both sides and the maximum matching's pairs."""
    from skimage.transform import resize

    pred = demo_pred
    if shape is not None:  # the benchmark's upsampled pair
        pred = np.clip(resize(demo_pred, shape, order=1), 0, 1).astype(np.float32)
        trace = resize(trace.astype(np.float32), shape, order=1) >= 0.5
    match = boundary.boundary_match(pred, trace, 0.5, "bsds")  # the benchmark against BSDS: BSDS's distance
    h, w = pred.shape
    anchor = f"\n{h} x {w}, distance"
    assert_quotes(quoted("benchmarks/RESULTS.md", anchor, 3), [match.max_distance, match.n_predicted, match.n_true])
    assert_quotes(quoted("benchmarks/RESULTS.md", "pairs:          ours", 1, occurrence=1 if shape is None else 2),
                  [match.n_matched])


def test_readme_bf16_speedups_are_the_results_rows():
    """The README's bf16 speed-ups, against the lab's NCHW fp32 and the package's own fp32, from RESULTS' times."""
    results = "benchmarks/RESULTS.md"
    lab = quoted(results, "fp32 eager NCHW (lab)", 1)[0].value
    bf16 = quoted(results, "predict(precision='auto'): bf16 autocast + channels_last", 1)[0].value
    own = quoted(results, "predict(precision='fp32'): channels_last", 1)[0].value
    assert_quotes(quoted("README.md", "(benchmarks/RESULTS.md))", 2), [lab / bf16, own / bf16])


def test_grains_mean_intercept_against_nist(trace):
    """grains.md's check against NIST GSAT: edge-to-edge segments over 2 px, and the centre-to-centre summary."""
    nist = quoted(GRAINS_MD, "lengths for this steel tracing average", 1)[0].value
    edges = grains.intercept_lengths(grains.label_grains(trace), between="edges")
    edge_mean = edges[edges > 2].mean()
    assert_quotes(quoted(GRAINS_MD, "segments over 2 px) gives", 2), [edge_mean, 100 * (edge_mean / nist - 1)])
    centres = grains.stats(grains.trace_labels(trace))["mean_intercept_px"]
    assert_quotes(quoted(GRAINS_MD, "centre to centre on the 1-px skeleton, is", 2),
                  [centres, 100 * (centres / nist - 1)])


def test_cleanup_extraction_table(trace):
    """docs/cleanup.md: the NIST tracing extracted from the painted micrograph, against NIST's own."""
    from napari_graintrace.core.data import CleanupOptions, clean_trace
    from napari_graintrace.core.io import read_image
    from napari_graintrace.data import NIST_TRACED_ON_MICROGRAPH

    painted, micrograph = read_image(NIST_TRACED_ON_MICROGRAPH), read_image(NIST_MICROGRAPH)
    extracted, _ = clean_trace(painted, CleanupOptions(), original=micrograph)
    cleanup_md, table = "docs/cleanup.md", "| | value |"
    missed = trace & ~extracted
    assert_quotes(row_quotes(cleanup_md, "boundary pixels, extracted / NIST", table),
                  [np.count_nonzero(extracted), np.count_nonzero(trace)])
    assert_quotes(row_quotes(cleanup_md, "IoU", table),
                  [np.count_nonzero(extracted & trace) / np.count_nonzero(extracted | trace)])
    for sigma in (1, 3):
        quotes = row_quotes(cleanup_md, f"tolerant P / R / F, sigma = {sigma}", table)[:3]  # then the target
        assert_quotes(quotes, scores.tolerant_prf(extracted.astype(np.float32), trace, float(sigma), 15))
    touching = np.count_nonzero(missed & ndi.binary_dilation(extracted, np.ones((3, 3), bool)))
    assert_quotes(row_quotes(cleanup_md, "NIST pixels not extracted", table), [np.count_nonzero(missed), touching])
    assert np.count_nonzero(missed & (painted == micrograph)) == np.count_nonzero(missed)  # "unchanged there"
    assert_quotes(row_quotes(cleanup_md, "extracted pixels NIST does not have", table),
                  [np.count_nonzero(extracted & ~trace)])


# --------------------------------------------------------------------------------------------
# the demo runs: docs/sweep.md and the demo checkpoints' README
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_run_scores(trace) -> dict[tuple[str, str], list[float]]:
    """(run, file) -> BCE, Gaussian (whole pair), BCE, Gaussian, tolerant F sigma=1 (held-out quarter)."""
    from napari_graintrace.core.model import find_checkpoints
    from napari_graintrace.data import DEMO_RUNS, HELD_OUT_COLUMNS

    image = read_micrograph(NIST_MICROGRAPH)
    held = (slice(None), HELD_OUT_COLUMNS)
    out = {}
    for run, folder in DEMO_RUNS.items():
        for item in find_checkpoints(folder):
            pred = predict(load_checkpoint(item.path), image, resolution=None, precision="fp32", device="cpu")
            out[run, item.path.name] = [scores.bce(pred, trace), scores.gaussian_loss(pred, trace),
                                        scores.bce(pred[held], trace[held]),
                                        scores.gaussian_loss(pred[held], trace[held]),
                                        scores.tolerant_prf(pred[held], trace[held], 1.0)[2]]
    return out


def test_demo_checkpoints_readme_score_table(demo_run_scores):
    readme = "src/napari_graintrace/data/demo_checkpoints/README.md"
    assert len(demo_run_scores) == 14
    for (run, name), values in demo_run_scores.items():
        assert_quotes(row_quotes(readme, (run, name), "| run | file |"), values)


def test_sweep_md_held_out_table_and_best_epochs(demo_run_scores, tmp_path, capsys):
    """docs/sweep.md: the last epoch of each run on the held-out quarter, and what its sweep command prints."""
    import contextlib

    for run in ("original", "with_crops"):
        assert_quotes(row_quotes("docs/sweep.md", f"{run}, epoch 59", "| run | BCE |"),
                      demo_run_scores[run, DEMO_EPOCH][2:])
    readme = (ROOT / "docs" / "sweep.md").read_text()
    shown = readme.split("```bash\ngraintrace sweep original=src/", 1)[1].split("\n```", 1)[0]
    command = ("original=src/" + shown).replace("\\\n", " ").split()
    outputs = {"demo.csv": str(tmp_path / "demo.csv"), "sweep_demo.png": str(tmp_path / "sweep_demo.png")}
    with contextlib.chdir(ROOT):
        assert graintrace(["sweep", *(outputs.get(a, a) for a in command), "--cache", str(tmp_path / "cache")]) == 0
    printed = "\n".join(line for line in capsys.readouterr().out.splitlines() if line.startswith(("best ", "  ")))
    numbers = printed_numbers(printed)
    assert len(numbers) > 12
    assert_quotes(quoted("docs/sweep.md", "```text\nbest gaussian", len(numbers)), numbers)


def test_grains_gap_experiment_table(trace):
    """docs/grains.md's gap experiment (benchmarks/gap_experiment.py's recipe): 9-px gaps cut into the tracing."""
    import importlib.util
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))  # the script's own helpers (_common)
    spec = importlib.util.spec_from_file_location("gap_experiment", ROOT / "benchmarks" / "gap_experiment.py")
    gaps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gaps)
    truth = grains.trace_labels(trace)
    centres = gaps.gap_centres(trace, max(gaps.COUNTS))
    rows = {}
    for count in gaps.TABLE_COUNTS:
        pred = gaps.soft(gaps.cut(trace, centres[:count], 9))
        labels = grains.segment(pred)
        rows[count] = {"bce": scores.bce(pred, trace), "gaussian": scores.gaussian_loss(pred, trace, 3.0, 15),
                       **grains.stats(labels), **grains.compare(labels, truth)}
    first = rows[0]
    assert_quotes(quoted(GRAINS_MD, "| interior grains (of", 1), [first["grains_truth"]])
    for count, row in rows.items():
        bce, gaussian = [row["bce"]], [row["gaussian"]]
        if count:  # the change from no gaps, in % after each loss
            bce.append(100 * (row["bce"] - first["bce"]) / abs(first["bce"]))
            gaussian.append(100 * (row["gaussian"] - first["gaussian"]) / abs(first["gaussian"]))
        assert_quotes(row_quotes(GRAINS_MD, str(count), "| gaps (9 px) |"),
                      [*bce, *gaussian, row["grains"], row["vi_merge"], row["grain_f1"]])
    forty = rows[40]
    assert_quotes(quoted(GRAINS_MD, "Forty 9-px gaps move the Gaussian loss by", 2),
                  [100 * (forty["gaussian"] - first["gaussian"]) / abs(first["gaussian"]),
                   100 * (1 - forty["grains"] / first["grains"])])
    assert_quotes(quoted(GRAINS_MD, "(VI merge x", 1), [forty["vi_merge"] / first["vi_merge"]])


def test_one_geometry_intercepts():
    """README and grains.md: the demo map's mean intercept native, from a 1024 input resampled back, and
    measured on the stretched 1024 x 1024 square (8-bit maps, as ``graintrace predict`` writes them)."""
    model = load_checkpoint(DEMO_CHECKPOINTS / DEMO_EPOCH)
    micrograph = read_micrograph(NIST_MICROGRAPH)

    def intercept(resolution, restore_shape: bool = True) -> float:
        pred = predict(model, micrograph, resolution=resolution, precision="fp32", device="cpu",
                       restore_shape=restore_shape)
        eight_bit = unit_float_to_uint8(pred) / 255.0
        return grains.stats(grains.segment(eight_bit))["mean_intercept_px"]

    values = [intercept(None), intercept(1024), intercept(1024, restore_shape=False)]
    assert_quotes(quoted("README.md", "the mean lineal intercept reads: native", 3), values)
    assert_quotes(quoted(GRAINS_MD, "the demo checkpoint's mean lineal intercept: native", 3), values)
