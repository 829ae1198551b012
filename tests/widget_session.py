"""A user's session with one of our dock widgets, the way users open them (shared by widget tests).

Users open widgets from Plugins > Grain Trace, which napari implements as
``viewer.window.add_plugin_dock_widget(PLUGIN, NAME)``: the widget then gets a ``PublicOnlyProxy``
of the viewer, and every layer it reads is a fresh proxy. Tests that build a widget on the bare
viewer miss everything that breaks there, so widget tests dock through this module.

    session = WidgetSession(make_napari_viewer(), qtbot, "Inspect prediction")
    widget = session.dock()
    ...                       # run, run again, move controls, delete an output layer, run again
    widget = session.redock() # undock (the old widget must go quiet), dock a fresh one
    session.close()           # viewer.close() under a watchdog: a hang fails loudly, not forever

The watchdog dumps every thread's stack and ends the test process (``os._exit(1)``) if the guarded
call does not return in time: a hung ``viewer.close()`` spins inside Qt, where no exception can
reach it, and CI would otherwise wait for its global timeout.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

PLUGIN = "napari-graintrace"
OWNER_KEY = "napari-graintrace output"  # _widgets._common.OWNER_KEY, repeated: tests state the contract
CLOSE_SECONDS = 60.0  # generous on a loaded CI machine; a hang is minutes of 100 % CPU


def _expire(what: str, seconds: float, config: Any) -> None:
    """Watchdog expiry: show where every thread is, then end the process with status 1."""
    if config is not None:  # pytest captures fd 2; put it back so the stacks reach the terminal/CI log
        with suppress(Exception):  # best effort: the stacks also go to a file
            config.pluginmanager.getplugin("capturemanager").suspend_global_capture(in_=False)
    message = f"\nWATCHDOG: {what} did not return within {seconds:g} s; stacks of all threads:\n"
    log = Path(tempfile.gettempdir()) / f"graintrace-watchdog-{os.getpid()}.txt"
    with open(log, "w") as handle:
        handle.write(message)
        faulthandler.dump_traceback(file=handle, all_threads=True)
    with suppress(Exception):  # a closed stream: the file above still has the stacks
        sys.__stderr__.write(message)
        sys.__stderr__.flush()
        faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
        sys.__stderr__.write(f"(also written to {log})\n")
        sys.__stderr__.flush()
    os._exit(1)


@contextmanager
def watchdog(seconds: float, what: str, config: Any = None) -> Iterator[None]:
    """Run the block in this thread; if it takes longer than ``seconds``, dump stacks and exit(1)."""
    timer = threading.Timer(seconds, _expire, args=(what, seconds, config))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def output_layers(viewer) -> dict[str, Any]:
    """Our output layers by logical name (``metadata[OWNER_KEY]``), in layer-list order."""
    return {layer.metadata[OWNER_KEY]: layer for layer in viewer.layers if layer.metadata.get(OWNER_KEY)}


def layer_names(viewer) -> list[str]:
    return [layer.name for layer in viewer.layers]


def assert_no_doubled_layers(viewer) -> None:
    """No output twice, no napari de-duplication suffix (``NAME [1]``), no ``(graintrace) (graintrace)``."""
    names = layer_names(viewer)
    assert not any("(graintrace) (graintrace)" in name for name in names), names
    assert not any(name.endswith("]") and " [" in name for name in names), names
    owners = [layer.metadata.get(OWNER_KEY) for layer in viewer.layers if layer.metadata.get(OWNER_KEY)]
    assert len(owners) == len(set(owners)), owners


class WidgetSession:
    """One viewer, one of our widgets docked through the plugin manager, closed under a watchdog."""

    def __init__(self, viewer, qtbot, widget_name: str, config: Any = None) -> None:
        self.viewer = viewer
        self.qtbot = qtbot
        self.widget_name = widget_name
        self.config = config  # pytest's config (``request.config``): lets the watchdog print past capture
        self.dock_widget = None
        self.widget = None

    def dock(self):
        """Open the widget as Plugins > Grain Trace > NAME does; returns the widget (it sees a proxy)."""
        self.dock_widget, self.widget = self.viewer.window.add_plugin_dock_widget(PLUGIN, self.widget_name)
        assert type(self.widget.viewer).__name__ == "PublicOnlyProxy", "not docked the way users dock"
        return self.widget

    def undock(self) -> None:
        """Close the dock (its x button): the widget must stop reacting to the viewer."""
        self.viewer.window.remove_dock_widget(self.dock_widget)
        self.qtbot.wait(0)  # let Qt deliver the parent-change events
        self.dock_widget = None

    def redock(self):
        """Undock, then open the widget again (napari makes a new one)."""
        old = self.widget
        self.undock()
        widget = self.dock()
        assert widget is not old
        return widget

    def wait_until(self, condition: Callable[[], bool], timeout_ms: int = 60_000) -> None:
        self.qtbot.waitUntil(condition, timeout=timeout_ms)

    def wait_idle(self, timeout_ms: int = 120_000) -> None:
        """Until the widget's worker and any gradual drawing are done (``widget.busy`` false)."""
        widget = self.widget
        self.qtbot.waitUntil(lambda: not getattr(widget, "busy", False), timeout=timeout_ms)

    def close(self, seconds: float = CLOSE_SECONDS) -> float:
        """``viewer.close()`` in this thread under a watchdog; returns the seconds it took."""
        start = time.perf_counter()
        with watchdog(seconds, f"viewer.close() with {self.widget_name!r} docked", self.config):
            self.viewer.close()
        return time.perf_counter() - start


# ----------------------------------------------------------------------------------------------
# what a person does: click a visible button, answer a file dialog, read the notifications
# ----------------------------------------------------------------------------------------------
LAPTOP = (1366, 768)


def dock_of(widget):
    """The QDockWidget that holds one of our widgets."""
    from qtpy.QtWidgets import QDockWidget

    parent = widget.native.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def bring_into_view(widget, control, qtbot) -> None:
    """As a person would: the widget's tab raised, its panel scrolled to the control.

    Fails when the control cannot be seen at all (hidden, or clipped by a dock too short).
    """
    dock = dock_of(widget)
    if dock is not None:
        dock.raise_()
    scroll = getattr(widget, "_scroll_area", None)
    native = getattr(control, "native", control)
    deadline = time.monotonic() + 3  # a dock added to a shown window appears after a few event-loop turns
    while not native.isVisible() and time.monotonic() < deadline:
        qtbot.wait(20)
    assert native.isVisible(), f"{_control_name(control)} is not shown"
    if scroll is not None:
        scroll.ensureWidgetVisible(native, 0, 0)
    qtbot.wait(0)
    assert not native.visibleRegion().isEmpty(), f"{_control_name(control)} cannot be scrolled into view"


def _control_name(control) -> str:
    return repr(getattr(control, "text", None) or getattr(control, "label", None) or control)


def press(widget, button, qtbot) -> None:
    """A real left click on a visible, enabled button or check box (``QTest.mouseClick`` on its Qt widget)."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QCheckBox, QStyle, QStyleOptionButton

    bring_into_view(widget, button, qtbot)
    native = button.native
    assert native.isEnabled(), f"{_control_name(button)} is disabled"
    if isinstance(native, QCheckBox):  # a check box takes clicks on its box (and its text), not anywhere
        option = QStyleOptionButton()
        native.initStyleOption(option)
        box = native.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, native)
        QTest.mouseClick(native, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, box.center())
    else:
        QTest.mouseClick(native, Qt.MouseButton.LeftButton)


class Dialogs:
    """File dialogs patched to answer like a person: each dialog takes the next queued answer.

    Covers ``QFileDialog``'s static dialogs and magicgui's FileEdit button (which keeps its own
    references to them), so a path reaches a widget only through the button a person presses.
    """

    def __init__(self, monkeypatch) -> None:
        from magicgui.backends._qtpy import widgets as qt_widgets
        from qtpy.QtWidgets import QFileDialog

        self.answers: list[str] = []
        self.asked: list[str] = []
        directory = lambda *args, **kwargs: self._next("directory")
        file_pair = lambda *args, **kwargs: (self._next("file"), "")
        files_pair = lambda *args, **kwargs: ([self._next("files")], "")
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(directory))
        monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(file_pair))
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(file_pair))
        monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(files_pair))
        modes = qt_widgets.QFILE_DIALOG_MODES
        for mode in list(modes):
            replacement = {"getExistingDirectory": directory, "getOpenFileNames": files_pair}.get(
                getattr(modes[mode], "__name__", ""), file_pair)
            monkeypatch.setitem(modes, mode, replacement)

    def _next(self, kind: str) -> str:
        assert self.answers, f"a {kind} dialog opened with no answer queued"
        self.asked.append(kind)
        return str(self.answers.pop(0))

    def choose(self, widget, file_edit, path, qtbot) -> None:
        """Press the FileEdit's own button; the dialog answers ``path``."""
        self.answers.append(str(path))
        press(widget, file_edit.choose_btn, qtbot)
        assert not self.answers, "the button opened no dialog"


class Notifications:
    """Every napari notification shown (info, warning, error), as text."""

    def __init__(self) -> None:
        from napari.utils.notifications import notification_manager

        self.messages: list[str] = []
        self._manager = notification_manager
        notification_manager.notification_ready.connect(self._record)

    def _record(self, notification) -> None:
        self.messages.append(str(notification.message))

    def close(self) -> None:
        self._manager.notification_ready.disconnect(self._record)


def laptop_viewer(make_napari_viewer, size: tuple[int, int] = LAPTOP):
    """A shown viewer whose window is a laptop screen's size, with the NIST sample from File > Open Sample."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(*size)
    viewer.open_sample(PLUGIN, "nist_steel")
    return viewer


def unexpected(messages: list[str]) -> list[str]:
    """The messages that report a bug rather than bad input."""
    return [m for m in messages if "unexpected" in m.lower() or "Traceback" in m]
