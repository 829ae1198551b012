"""The "Epoch sweep" widget as users meet it: docked from the Plugins menu, several runs, run twice,
slid, clicked, re-themed, closed."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent
from matplotlib.colors import to_hex
from synthetic import tiny_series
from widget_session import assert_no_doubled_layers

from napari_graintrace.core import sweep
from napari_graintrace.core.cache import PredictionCache
from napari_graintrace.core.io import read_image, read_trace
from napari_graintrace.core.options import SweepOptions
from napari_graintrace.core.steps import run_steps
from napari_graintrace.core.sweep import execute as execute_module
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE


@pytest.fixture
def runs(tmp_path):
    return {"first": tiny_series(tmp_path / "a", (0, 5)), "second": tiny_series(tmp_path / "b", (1, 2, 6))}


def docked(widget_session, tmp_path):
    """The NIST pair as layers and the widget docked from the Plugins menu (it sees a proxy)."""
    session = widget_session("Epoch sweep")
    session.viewer.add_image(read_image(NIST_MICROGRAPH), name="micrograph")
    session.viewer.add_labels(read_trace(NIST_TRACE)[0].astype(np.uint8), name="trace")
    widget = session.dock()
    widget.cache = PredictionCache(tmp_path / "cache")
    widget.image_layer.value = session.viewer.layers["micrograph"]
    widget.trace_layer.value = session.viewer.layers["trace"]
    widget.resolution.value = "256"
    return session, session.viewer, widget


def run_and_wait(widget, qtbot) -> None:
    widget.run()
    assert widget.busy
    qtbot.waitUntil(lambda: not widget.busy, timeout=120_000)


def click(widget, line, index: int, qtbot) -> None:
    """A left click on point ``index`` of ``line`` (matplotlib's event), then wait: the epoch is scored in a worker."""
    widget.canvas.draw()
    x, y = line.axes.transData.transform((line.get_xdata()[index], line.get_ydata()[index]))
    MouseEvent("button_press_event", widget.canvas, x, y, button=1)._process()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)


def curve_line(widget, panel: str, gid: str):
    ax = widget.figure.axes[[m for m, _ in sweep.PANELS].index(panel)]
    return next(line for line in ax.get_lines() if line.get_gid() == gid)


def test_two_runs_from_the_plugin_menu(widget_session, qtbot, runs, tmp_path, errors):
    session, viewer, widget = docked(widget_session, tmp_path)
    for name, folder in runs.items():
        widget.checkpoint_folder.value = folder
        widget.run_name.value = name
        widget.add_run()
    assert widget.runs_list.choices == ("first", "second")
    widget.add_run(runs["first"], "first")  # a second run of that name is refused, not replaced
    assert "already named 'first'" in errors[-1]
    run_and_wait(widget, qtbot)
    run_and_wait(widget, qtbot)  # again: same result, layers untouched
    assert errors[1:] == [] and widget.result.runs == ["first", "second"]
    assert widget.result.epochs_of("first") == [0, 5] and widget.result.epochs_of("second") == [1, 2, 6]
    assert [layer.name for layer in viewer.layers] == ["micrograph", "trace"]

    # one colour per run; the sliders, moved after the re-run, redraw every run's live curve
    colours = {curve_line(widget, "bce", f"mean|{run}|").get_color() for run in runs}
    assert len(colours) == 2
    widget.sigma.value = 1.3
    widget.kernel.value = 7
    pairs = [sweep.Pair(NIST_MICROGRAPH, NIST_TRACE)]
    fresh = run_steps(sweep.sweep_steps(runs, pairs,
                                        SweepOptions(resolution=256, sigmas=(1.3,), kernels=(7,)),
                                        cache=widget.cache))
    for run in runs:
        gaussian, tophat = (curve_line(widget, panel, f"live|{run}") for panel in ("gaussian", "tophat"))
        assert list(map(int, gaussian.get_xdata())) == fresh.epochs_of(run)
        np.testing.assert_allclose(gaussian.get_ydata(), fresh.values("gaussian", "sigma=1.3 window=15", run=run)[1],
                                   atol=1e-9)
        np.testing.assert_allclose(tophat.get_ydata(), fresh.values("tophat", "kernel=7", run=run)[1], atol=1e-9)

    # the table: each run's best epoch per metric, against a plain argmin / argmax of the fresh values
    best = widget.best_epochs()
    for run in runs:
        epochs, values = fresh.values("gaussian", "sigma=1.3 window=15", run=run)
        assert best["Gaussian σ=1.3"][run].epoch == epochs[int(np.argmin(values))]
        epochs, values = fresh.values("tophat", "kernel=7", run=run)
        assert best["top-hat k=7"][run].epoch == epochs[int(np.argmin(values))]
        epochs, values = widget.result.values("tolerant_f", "sigma=1 window=15", run=run)
        assert best["tolerant F σ=1"][run].epoch == epochs[int(np.argmax(values))]
    shown = widget.best_table.data.to_list()  # a metric per row, a run per column
    assert widget.best_table.column_headers == ("first", "second") and len(shown) == len(best)
    gaussian_row = list(best).index("Gaussian σ=1.3")
    assert shown[gaussian_row][1].startswith(f"{best['Gaussian σ=1.3']['second'].epoch}:")

    # clicking a point of the second run shows that run's epoch (the layers of Inspect) and marks it
    line = curve_line(widget, "bce", "mean|second|")
    click(widget, line, 2, qtbot)
    assert errors[1:] == [] and widget.marked == ("second", 6)
    key = ("second", 6, "micrograph")
    np.testing.assert_array_equal(viewer.layers["prediction"].data, widget.cache.load(widget.result.predictions[key]))
    assert any(line.get_gid() == "marked" for ax in widget.figure.axes for line in ax.get_lines())
    click(widget, curve_line(widget, "bce", "mean|first|"), 0, qtbot)
    assert widget.marked == ("first", 0)
    np.testing.assert_array_equal(viewer.layers["prediction"].data,
                                  widget.cache.load(widget.result.predictions[("first", 0, "micrograph")]))
    assert_no_doubled_layers(viewer)
    assert not any("(graintrace)" in layer.name for layer in viewer.layers)
    assert widget.runs_list.choices == ("first", "second")  # new layers re-read the choices, runs stay
    viewer.layers.remove("prediction")  # deleted by the user: the next click brings it back, once
    click(widget, curve_line(widget, "gaussian", "live|second"), 1, qtbot)
    assert widget.marked == ("second", 2)
    np.testing.assert_array_equal(viewer.layers["prediction"].data,
                                  widget.cache.load(widget.result.predictions[("second", 2, "micrograph")]))
    assert_no_doubled_layers(viewer)

    # export, then refuse to overwrite
    widget.export_path.value = tmp_path / "curves.csv"
    widget.export_csv()
    widget.export_png()
    assert (tmp_path / "curves.csv").read_text().startswith("run,epoch,checkpoint,image,metric")
    assert (tmp_path / "curves.png").stat().st_size > 1000
    widget.export_csv()
    assert "already exists" in errors[-1]
    session.close()


def test_adding_a_run_computes_that_run_only(widget_session, qtbot, runs, tmp_path, errors, monkeypatch):
    session, _viewer, widget = docked(widget_session, tmp_path)
    widget.add_run(runs["first"], "first")
    run_and_wait(widget, qtbot)
    before = [dict(row) for row in widget.result.rows]

    evaluated = []
    real = execute_module.evaluate_pair  # sweep_steps looks it up in its module
    monkeypatch.setattr(execute_module, "evaluate_pair", lambda item, *a, **k: evaluated.append(item.path) or real(item, *a, **k))
    widget.add_run(runs["second"], "second")
    run_and_wait(widget, qtbot)
    assert sorted(p.name for p in evaluated) == ["tiny_1.pth", "tiny_2.pth", "tiny_6.pth"]
    assert [row for row in widget.result.rows if row["run"] == "first"] == before
    widget.runs_list.value = ["first"]
    widget.remove_selected_runs()
    assert list(widget.runs) == ["second"]
    evaluated.clear()
    run_and_wait(widget, qtbot)
    assert evaluated == [] and widget.result.runs == ["second"]
    session.close()


def test_plot_follows_the_napari_theme_and_the_dock_lets_go(widget_session, qtbot, runs, tmp_path, errors):
    from napari.utils.theme import get_theme

    session, viewer, widget = docked(widget_session, tmp_path)
    widget.checkpoint_folder.value = runs["first"]  # no run added: the folder alone is one run, as before
    run_and_wait(widget, qtbot)
    assert widget.result.runs == ["a"]
    for theme in ("dark", "light"):
        viewer.theme = theme
        title = widget.figure.axes[0].title
        assert to_hex(title.get_color()) == get_theme(theme).text.as_hex()

    # legends sit outside the axes: no legend box overlaps its panel's plotting area
    widget.canvas.draw()
    renderer = widget.canvas.get_renderer()
    for ax in widget.figure.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))

    # an undocked widget stops following the layer list (and so cannot react while the viewer closes)
    viewer.add_image(np.zeros((5, 5)), name="before")
    assert "before" in [getattr(c, "name", c) for c in widget.image_layer.choices]
    session.undock()
    viewer.add_image(np.zeros((5, 5)), name="after")
    assert "after" not in [getattr(c, "name", c) for c in widget.image_layer.choices]
    widget = session.dock()  # and a fresh one docks fine
    assert "after" in [getattr(c, "name", c) for c in widget.image_layer.choices]
    assert errors == []
    session.close()


def test_bad_input_notifies(widget_session, tmp_path, errors):
    session = widget_session("Epoch sweep")
    viewer, widget = session.viewer, session.dock()
    widget.run()
    assert errors and "choose a micrograph" in errors[-1]
    viewer.add_image(np.zeros((10, 10), np.float32), name="img")
    viewer.add_labels(np.zeros((12, 12), np.uint8), name="lab")
    widget.image_layer.value = viewer.layers["img"]
    widget.trace_layer.value = viewer.layers["lab"]
    widget.add_pair()
    assert "tracing 'lab' is 12 x 12 px but the micrograph 'img' is 10 x 10 px" in errors[-1]
    (tmp_path / "empty").mkdir()
    widget.add_run(tmp_path / "empty", "nothing")
    assert "no NAME_EPOCH.pth" in errors[-1] and widget.runs == {}
    session.close()
