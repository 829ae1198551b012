from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TEST_DATA = Path(__file__).resolve().parent / "data"  # carried by the repository (see its README)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """The prediction cache (core.cache: Inspect, sweeps) goes to a temporary folder, not the user's."""
    import os

    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


def _shared(relative: str) -> Path:
    return TEST_DATA / relative


@pytest.fixture(scope="session")
def nist_trace_path() -> Path:
    return _shared("nist_steel/steel_trace.tif")


@pytest.fixture(scope="session")
def nist_micrograph_path() -> Path:
    return _shared("nist_steel/steel_micrograph.tif")


@pytest.fixture(scope="session")
def al_film_trace_path() -> Path:
    """A real Al-film tracing, BLACK boundaries on white (GPL: a test fixture only)."""
    return _shared("grain_unet/al_film_tracing_256.png")


@pytest.fixture(scope="session")
def nist_trace(nist_trace_path) -> np.ndarray:
    from napari_graintrace.core.io import read_trace

    return read_trace(nist_trace_path)[0]


@pytest.fixture(scope="session")
def al_film_trace(al_film_trace_path) -> np.ndarray:
    from napari_graintrace.core.io import read_trace

    return read_trace(al_film_trace_path)[0]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261124)


@pytest.fixture
def widget_session(make_napari_viewer, qtbot, request):
    """``widget_session(NAME, viewer=None)`` -> a :class:`widget_session.WidgetSession` (not yet docked).

    Docks through the plugin manager like a user; ``session.close()`` closes under a watchdog.
    """
    from widget_session import WidgetSession

    def make(widget_name: str, viewer=None) -> WidgetSession:
        return WidgetSession(viewer if viewer is not None else make_napari_viewer(), qtbot, widget_name,
                             request.config)

    return make


@pytest.fixture
def errors(monkeypatch) -> list[str]:
    """The error notifications the widgets showed (collected instead of shown): tests assert on them."""
    from napari_graintrace._widgets import _common

    shown: list[str] = []
    monkeypatch.setattr(_common, "show_error", shown.append)
    return shown

