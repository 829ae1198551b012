"""napari sample data: File > Open Sample > napari-graintrace."""

from __future__ import annotations

from .core.io import read_image, read_trace
from .data import NIST_MICROGRAPH, NIST_NOTICE, NIST_TRACE


def nist_steel() -> list[tuple]:
    """The NIST optical steel micrograph with its hand tracing (white boundaries on black)."""
    trace, _ = read_trace(NIST_TRACE)
    metadata = {"source": "NIST Grain Size Analysis Tools", "notice": NIST_NOTICE}
    return [
        (read_image(NIST_MICROGRAPH), {"name": "steel micrograph", "metadata": metadata}, "image"),
        (
            trace.astype("uint8"),
            {"name": "steel trace", "metadata": metadata, "opacity": 0.6},
            "labels",
        ),
    ]
