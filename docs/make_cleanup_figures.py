"""Make the before/after pictures of docs/cleanup.md and print its figures (run from the repository root).

    python docs/make_cleanup_figures.py

Uses the bundled NIST pair: the tracing painted in black over the micrograph
(``steel_traced_on_micrograph``) is extracted from its difference to the micrograph, compared with
NIST's own binarized tracing (``steel_trace``) by IoU and the tolerant P/R/F of the core, and
re-drawn at 1, 3 and 5 px. Pictures are one 150 x 150 px window, enlarged 2x without smoothing so
that single pixels stay visible.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from napari_graintrace.core.data import CleanupOptions, clean_trace
from napari_graintrace.core.io import read_image, read_trace, write_image
from napari_graintrace.core.scoring import tolerant_prf
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE, NIST_TRACED_ON_MICROGRAPH

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine
from docs_text import replace_block  # tests/, put on the path by _common

OUT = Path(__file__).parent / "images"
WINDOW = (slice(120, 270), slice(300, 450))  # rows, columns of the 600 x 800 NIST images
ZOOM = 2


def enlarge(picture: np.ndarray) -> np.ndarray:
    picture = picture[WINDOW]
    return np.repeat(np.repeat(picture, ZOOM, axis=0), ZOOM, axis=1)


def grey(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.uint8) * np.uint8(255)


def comparison(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """White = both, red = only in NIST's tracing, blue = only in ours (the BCE overlay's colours)."""
    rgb = np.zeros((*ours.shape, 3), np.uint8)
    rgb[ours & theirs] = (255, 255, 255)
    rgb[theirs & ~ours] = (255, 0, 0)
    rgb[ours & ~theirs] = (0, 128, 255)
    return rgb


def main() -> None:
    print_machine()
    OUT.mkdir(exist_ok=True)
    painted = read_image(NIST_TRACED_ON_MICROGRAPH)
    micrograph = read_image(NIST_MICROGRAPH)
    theirs, _ = read_trace(NIST_TRACE)

    params = CleanupOptions()
    start = time.perf_counter()
    extracted, report = clean_trace(painted, params, original=micrograph)
    elapsed = time.perf_counter() - start
    iou = np.count_nonzero(extracted & theirs) / np.count_nonzero(extracted | theirs)
    print(f"extraction ({report['method']}, threshold {report['threshold']}): {elapsed * 1e3:.0f} ms, "
          f"{np.count_nonzero(extracted)} px vs NIST's {np.count_nonzero(theirs)} px")
    print(f"  IoU {iou:.4f}")
    prf = {}
    for sigma in (1.0, 3.0):
        p, r, f = prf[sigma] = tolerant_prf(extracted.astype(np.float32), theirs, sigma=sigma, window=15)
        print(f"  tolerant sigma={sigma:g}: P {p:.4f}  R {r:.4f}  F {f:.4f}")
    missed = theirs & ~extracted
    unchanged = np.count_nonzero(missed & (painted == micrograph))
    beside = np.count_nonzero(missed & ndi.binary_dilation(extracted, np.ones((3, 3), bool)))
    extra = np.count_nonzero(extracted & ~theirs)
    print(f"  NIST pixels not extracted: {np.count_nonzero(missed)} ({unchanged} of them unpainted: "
          f"painted == original there; {beside} touch an extracted pixel); extra pixels: {extra}")
    unpainted = ("the painted file is unchanged there (painted = original)" if unchanged == np.count_nonzero(missed)
                 else f"{unchanged} of them where the painted file is unchanged (painted = original)")
    (p1, r1, f1), (p3, r3, f3) = prf[1.0], prf[3.0]
    replace_block("docs/cleanup.md", "cleanup-extraction", "\n".join([
        "| | value |", "|---|---|",
        f"| boundary pixels, extracted / NIST | {np.count_nonzero(extracted):,} / {np.count_nonzero(theirs):,} |",
        f"| IoU | **{iou:.4f}** |",
        f"| tolerant P / R / F, sigma = 1 | {p1:.4f} / {r1:.4f} / **{f1:.4f}** (target: F >= 0.95) |",
        f"| tolerant P / R / F, sigma = 3 | {p3:.4f} / {r3:.4f} / {f3:.4f} |",
        (f"| NIST pixels not extracted | {np.count_nonzero(missed):,}: {unpainted}, and {beside:,} of them touch "
         "an extracted pixel |"),
        f"| extracted pixels NIST does not have | {extra:,} |"]))

    pictures = {
        "cleanup_painted": painted,
        "cleanup_extracted": grey(extracted),
        "cleanup_vs_nist": comparison(extracted, theirs),
    }
    for thickness, footprint in ((1, "disk"), (3, "disk"), (5, "gaussian")):
        mask, _ = clean_trace(painted, CleanupOptions(thickness=thickness, footprint=footprint), original=micrograph)
        pictures[f"cleanup_{thickness}px"] = grey(mask)
    for name, picture in pictures.items():
        write_image(OUT / f"{name}.png", enlarge(picture), overwrite=True)
        print(f"wrote {OUT / name}.png")


if __name__ == "__main__":
    main()
