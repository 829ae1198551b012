"""Bundled sample data.

``nist_steel/``: an optical micrograph of etched steel and its hand tracing from the NIST Grain
Size Analysis Tools (National Institute of Standards and Technology; notice in
``nist_steel/NIST_LICENSE.md``, kept with every copy). Stored as lossless PNG.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent
NIST_DIR = DATA_DIR / "nist_steel"
NIST_MICROGRAPH = NIST_DIR / "steel_micrograph.png"
NIST_TRACE = NIST_DIR / "steel_trace.png"
NIST_TRACED_ON_MICROGRAPH = NIST_DIR / "steel_traced_on_micrograph.png"
# two demo training runs (U-Net base width 4) on the left 3/4 of the NIST pair, the report's comparison:
# grid crops only vs. the same plus aligned crops; see demo_checkpoints/README.md
DEMO_DIR = DATA_DIR / "demo_checkpoints"
DEMO_RUNS = {"original": DEMO_DIR / "original", "with_crops": DEMO_DIR / "with_crops"}
DEMO_CHECKPOINTS = DEMO_RUNS["original"]  # one series, for what takes one
HELD_OUT_COLUMNS = slice(600, 800)  # no demo training crop touches these columns of the NIST pair
NIST_NOTICE = (
    "NIST steel micrograph and tracing: courtesy of the National Institute of Standards and "
    "Technology (Grain Size Analysis Tools); see nist_steel/NIST_LICENSE.md."
)
