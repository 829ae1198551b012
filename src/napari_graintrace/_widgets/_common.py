"""Small pieces every widget uses: turning errors into notifications, finding layers."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from napari.utils.notifications import show_error

from ..core.errors import InputError
from ..core.scoring import OVERLAYS

logger = logging.getLogger("napari_graintrace")
F = TypeVar("F", bound=Callable[..., Any])


_LEADING_PATH = re.compile(r"^(?P<path>(?:/|[A-Za-z]:[\\/]|~)[^:\n]*?[/\\](?P<name>[^/\\:\n]+)): (?P<rest>.+)$",
                           re.DOTALL)


def readable_message(text: str) -> str:
    """``/a/long/path/to/unet_3.pth: problem`` -> ``unet_3.pth: problem (file: /a/long/...)``.

    napari's collapsed notification shows the start of a message; a long path there says nothing.
    """
    match = _LEADING_PATH.match(text)
    if match is None or len(match["path"]) <= len(match["name"]) + 24:
        return text
    return f"{match['name']}: {match['rest']} (file: {match['path']})"


def notify_error(exc: BaseException) -> None:
    """Show an exception as a napari notification: the viewer never crashes on bad input."""
    if isinstance(exc, InputError):
        show_error(readable_message(str(exc)))
    else:
        logger.exception("napari-graintrace: unexpected error", exc_info=exc)
        show_error(f"napari-graintrace: unexpected {type(exc).__name__}: {exc}")


def reports_errors(func: F) -> F:
    """Decorate a widget callback so that any exception becomes a notification (and ``None``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a GUI callback must never raise into Qt
            notify_error(exc)
            return None

    return wrapper  # type: ignore[return-value]


OWNER_KEY = "napari-graintrace output"  # metadata key; its value is the output's logical name


def show_busy(widget, busy: bool, *more_buttons) -> None:
    """A widget's Run button(s), Cancel and progress bar while its worker runs (``busy``) or after.

    Every widget with a background worker has ``run_button``, ``cancel_button`` and ``progress``;
    ``more_buttons`` (a second start button) follow Run.
    """
    for button in (widget.run_button, *more_buttons):
        button.enabled = not busy
    widget.cancel_button.enabled = busy
    widget.progress.visible = busy
    if busy:
        widget.progress.value = 0


def is_output_layer(layer) -> bool:
    """Layers this plugin made (and may update); everything else belongs to the user.

    Decided by ``layer.metadata``, which survives napari's ``PublicOnlyProxy`` (widgets docked from
    the Plugins menu get a proxy of the viewer and a *new* proxy object on every layer access, so
    neither ``type(layer)`` nor ``is`` can recognise a layer).
    """
    return bool(layer.metadata.get(OWNER_KEY))


def same_layer(first, second) -> bool:
    """True when two layer handles (bare or proxied) are the same napari layer."""
    if first is None or second is None:
        return first is second
    return first.unique_id == second.unique_id


def find_output_layer(viewer, name: str):
    """Our output layer ``name`` (whatever the user renamed it to), or ``None``."""
    for layer in viewer.layers:
        if layer.metadata.get(OWNER_KEY) == name:
            return layer
    return None


_KINDS = ("image", "labels", "shapes")


def set_layer_data(viewer, name: str, data, kind: str = "image", **kwargs: Any):
    """Update our output layer ``name`` in place, or add it: re-runs never duplicate layers.

    ``kind`` is ``"image"``, ``"labels"`` or ``"shapes"``. Our layer is found by its metadata (it
    survives the proxy napari gives plugin widgets), so a re-run updates the very layer the user
    sees. A user's layer is never touched: if the name is taken by one, the output goes to
    ``"NAME (graintrace)"``. ``visible`` only applies when the layer is made: later runs keep the
    user's choice. An output of another kind or dimensionality (rare) is replaced at its place.
    """
    from napari import layers

    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    layer_type = {"image": layers.Image, "labels": layers.Labels, "shapes": layers.Shapes}[kind]
    kwargs["metadata"] = {**kwargs.get("metadata", {}), OWNER_KEY: name}
    layer = find_output_layer(viewer, name)
    if layer is not None:
        same_kind = (isinstance(layer, layer_type)
                     and bool(getattr(layer, "rgb", False)) == bool(kwargs.get("rgb", False))
                     and (kind == "shapes" or np.ndim(layer.data) == np.ndim(data)))
        if same_kind:
            _update_in_place(layer, data, kwargs)
            return layer
        position = viewer.layers.index(layer)  # ours, but of another kind: replace it where it was
        viewer.layers.remove(layer)
        added = _add(viewer, kind, data, _free_name(viewer, name), kwargs)
        viewer.layers.move(viewer.layers.index(added), position)
        return added
    return _add(viewer, kind, data, _free_name(viewer, name), kwargs)


def _free_name(viewer, name: str) -> str:
    """``name``, or ``"name (graintrace)"`` when a user's layer already has it."""
    return name if name not in viewer.layers else f"{name} (graintrace)"


def _add(viewer, kind: str, data, name: str, kwargs: dict[str, Any]):
    return getattr(viewer, f"add_{kind}")(data, name=name, **kwargs)


def _update_in_place(layer, data, kwargs: dict[str, Any]) -> None:
    layer.data = data
    for key in ("scale", "translate", "metadata", "colormap", "contrast_limits"):
        if key in kwargs:
            setattr(layer, key, kwargs[key])


class _LayerListHook:
    """A widget's callback on ``viewer.layers`` insertions and removals, dropped exactly once.

    Dropping it also drops the ``reset_choices`` hooks napari itself connects when it docks a
    magicgui widget (inserted, removed, reordered, renamed), which napari never disconnects, and
    runs the ``on_close`` callbacks (workers are cancelled there).
    """

    def __init__(self, events, callback: Callable[..., Any], reset_choices: Callable[..., Any] | None) -> None:
        self.events, self.callback, self.reset_choices, self.connected = events, callback, reset_choices, True
        self.on_close: list[Callable[[], Any]] = []
        events.inserted.connect(callback)
        events.removed.connect(callback)

    def disconnect(self, *_: Any) -> None:
        if not self.connected:
            return
        self.connected = False
        for callback in self.on_close:
            try:
                callback()
            except Exception:  # closing must finish, whatever one callback does
                logger.exception("napari-graintrace: error while closing a widget")
        hooks = [(self.events.inserted, self.callback), (self.events.removed, self.callback)]
        if self.reset_choices is not None:
            hooks += [(getattr(self.events, name), self.reset_choices)
                      for name in ("inserted", "removed", "reordered", "renamed") if hasattr(self.events, name)]
        for emitter, callback in hooks:
            try:
                emitter.disconnect(callback)
            except (RuntimeError, ValueError, TypeError):  # the viewer went first, or never connected
                pass


_OURS = "napari-graintrace dock"  # a Qt property on our widgets' native widget


def tab_with_our_docks(widget) -> None:
    """A newly docked widget of ours joins our other docks in that area as a tab, and is shown.

    Five docks stacked on a 768-px laptop screen would each be a sliver (or make the window taller
    than the screen); as tabs, each gets the full height and every control is a click away. Docks of
    other plugins are left where napari put them; the user can drag a tab out again.
    """
    from qtpy.QtWidgets import QDockWidget, QMainWindow

    dock = widget.native.parentWidget()
    while dock is not None and not isinstance(dock, QDockWidget):
        dock = dock.parentWidget()
    window = dock.parentWidget() if dock is not None else None
    if not isinstance(window, QMainWindow) or dock.isFloating():
        return
    area = window.dockWidgetArea(dock)
    ours = [other for other in window.findChildren(QDockWidget)
            if other is not dock and not other.isFloating() and other.isVisible()
            and window.dockWidgetArea(other) == area and _holds_ours(other)]
    if ours:
        window.tabifyDockWidget(ours[-1], dock)
        dock.show()
        dock.raise_()


def _holds_ours(dock) -> bool:
    from qtpy.QtWidgets import QWidget

    inner = dock.widget()
    return inner is not None and (bool(inner.property(_OURS)) or any(
        bool(child.property(_OURS)) for child in inner.findChildren(QWidget)))


def follow_layer_list(widget, viewer, callback: Callable[..., Any], picks: Callable[[], list] | None = None,
                      ) -> _LayerListHook:
    """Call ``callback`` on every layer insertion and removal until the widget is closed or undocked.

    napari undocks a widget by taking it out of its dock (``setParent(None)``) without deleting it,
    so ``destroyed`` alone would leave a closed widget listening (and, during ``viewer.close()``,
    reacting to every removed layer). The hooks go on the first of: destroyed, undocked.

    ``picks()`` (``[(dropdown, looks), ...]``, see :func:`preselect`): the empty dropdowns are filled
    now and whenever a layer is added.
    """
    from qtpy.QtCore import QEvent, QObject, QTimer

    widget.native.setProperty(_OURS, True)
    if picks is not None:
        follow = callback

        def callback(event: Any = None) -> None:
            follow(event)
            if getattr(event, "type", "inserted") == "inserted" and hook.connected:
                preselect(picks())

    hook = _LayerListHook(viewer.layers.events, callback, getattr(widget, "reset_choices", None))
    docked = {"yes": widget.native.parent() is not None}

    class UndockFilter(QObject):
        def eventFilter(self, obj, event) -> bool:  # Qt's name
            if hook.connected and event.type() == QEvent.Type.ParentChange:
                if obj.parent() is not None:
                    if not docked["yes"]:
                        QTimer.singleShot(0, lambda: hook.connected and tab_with_our_docks(widget))
                    docked["yes"] = True
                elif docked["yes"]:
                    hook.disconnect()
            return False

    undock_filter = UndockFilter(widget.native)  # a child of the widget: dies with it
    widget.native.installEventFilter(undock_filter)
    widget.native.destroyed.connect(hook.disconnect)  # a bound method: PyQt drops it safely
    widget._layer_list_hook = (hook, undock_filter)  # both live as long as the widget
    if picks is not None:
        widget.reset_choices()
        preselect(picks())
    return hook


def on_click(button, callback: Callable[[], Any]) -> None:
    """Call ``callback()`` when ``button`` is clicked, with no arguments.

    A ``PushButton``'s ``changed`` signal passes the button's value (``False``): connected to a method
    with optional parameters, that value would land in the first one (as it once did for "Add run").
    """
    button.changed.connect(lambda *_: callback())


def button(text: str, action: Callable[[], Any], **options: Any):
    """A ``PushButton`` that calls ``action()`` when clicked: a button and what it does, in one place."""
    from magicgui.widgets import PushButton

    made = PushButton(text=text, **options)
    on_click(made, action)
    return made


def widget_is_open(widget) -> bool:
    """False once the widget is closed or undocked, or its Qt object is gone (a late signal's case)."""
    from qtpy import sip

    hook = getattr(widget, "_layer_list_hook", (None,))[0]
    if hook is not None and not hook.connected:
        return False
    try:
        return not sip.isdeleted(widget.native)
    except RuntimeError:  # the magicgui wrapper's own Qt object is gone
        return False


_RUNNING: set = set()  # every worker started here, until it finishes
EXIT_WAIT_MS = 60_000  # at interpreter exit, how long a cancelled worker may take to reach its next stop check


def _wait_for_workers() -> None:
    """At exit: let cancelled workers end before Python tears their Qt signal objects down.

    A worker thread still running while the interpreter finalizes emits on a deleted object, and
    PyQt aborts the process (a Jupyter kernel dies with it). Workers were asked to stop when their
    widget closed; this only waits for them to get there.
    """
    if not _RUNNING:
        return
    from qtpy.QtCore import QThreadPool

    for worker in list(_RUNNING):
        worker.quit()
    QThreadPool.globalInstance().waitForDone(EXIT_WAIT_MS)


def start_worker(widget, body: Callable[..., Any], *args: Any, yielded=None, returned=None, errored=None,
                 finished=None, stop=None):
    """``body(*args)`` in a napari ``thread_worker`` whose signals reach ``widget`` only while it is open.

    Closing the widget (or the viewer) quits the worker (and sets ``stop``, a ``threading.Event``
    the body checks), and whatever the worker still sends afterwards is ignored: a late progress
    update must never touch a deleted progress bar (PyQt aborts the process on an exception in a
    slot). ``errored`` defaults to :func:`notify_error`.
    """
    from napari.qt.threading import create_worker

    def guarded(callback):
        def call(*values: Any) -> None:
            if callback is not None and widget_is_open(widget):
                callback(*values)
        return call

    workers = widget.__dict__.setdefault("_open_workers", [])
    worker = create_worker(body, *args, _start_thread=False, _ignore_errors=True)  # errors: ``errored``
    for name, callback in (("yielded", yielded), ("returned", returned), ("errored", errored or notify_error),
                           ("finished", finished)):
        if callback is not None:
            getattr(worker, name).connect(guarded(callback))
    entry = (worker, stop)
    workers.append(entry)
    if not _RUNNING and not getattr(_wait_for_workers, "registered", False):
        import atexit

        atexit.register(_wait_for_workers)
        _wait_for_workers.registered = True
    _RUNNING.add(worker)  # alive until it ends, even when its widget is gone (its signals must outlive it)

    def forget() -> None:
        _RUNNING.discard(worker)
        if entry in workers:
            workers.remove(entry)

    worker.finished.connect(forget)
    hook = getattr(widget, "_layer_list_hook", (None,))[0]
    if hook is not None and _quit_workers not in [getattr(c, "func", None) for c in hook.on_close]:
        hook.on_close.append(functools.partial(_quit_workers, widget))
    worker.start()
    return worker


def _quit_workers(widget) -> None:
    """Closing: every worker of the widget is asked to stop (its late signals are ignored)."""
    for worker, stop in list(widget.__dict__.get("_open_workers", [])):
        if stop is not None:
            stop.set()
        worker.quit()


# ----------------------------------------------------------------------------------------------
# dropdowns that start filled
# ----------------------------------------------------------------------------------------------
def _is_two_level(data) -> bool:
    """True for a boolean image or one with at most two values (a tracing, either polarity)."""
    data = np.asarray(data)
    if data.dtype == np.bool_:
        return True
    sample = data[:: max(1, data.shape[0] // 128), :: max(1, data.shape[-1] // 128)] if data.ndim >= 2 else data
    levels = np.unique(sample)
    if levels.size > 2:  # cheap rejection: a micrograph has many levels in any sample
        return False
    return bool(np.all(np.isin(data, levels))) if levels.size else True


def looks_like_tracing(layer) -> bool:
    """A Labels layer, or a 2-D grey image with only two values: what a tracing is."""
    from napari.layers import Image, Labels

    if is_output_layer(layer) or getattr(layer, "multiscale", False):
        return False
    if isinstance(layer, Labels):
        return np.ndim(layer.data) == 2
    return isinstance(layer, Image) and not layer.rgb and np.ndim(layer.data) == 2 and _is_two_level(layer.data)


def looks_like_micrograph(layer) -> bool:
    """A 2-D grey or RGB image that is not a tracing: what a micrograph is."""
    from napari.layers import Image

    if not isinstance(layer, Image) or is_output_layer(layer) or getattr(layer, "multiscale", False):
        return False
    spatial = np.ndim(layer.data) - (1 if layer.rgb else 0)
    return spatial == 2 and (layer.rgb or not _is_two_level(layer.data))


def looks_like_prediction(layer) -> bool:
    """Our own "prediction" output, or a user's float image with values in [0, 1]."""
    from napari.layers import Image

    if not isinstance(layer, Image) or layer.rgb or np.ndim(layer.data) != 2:
        return False
    if is_output_layer(layer):
        return layer.metadata.get(OWNER_KEY) == "prediction"
    data = np.asarray(layer.data)
    return bool(np.issubdtype(data.dtype, np.floating) and data.size and 0 <= np.nanmin(data)
                and np.nanmax(data) <= 1)


def preselect(picks) -> None:
    """Fill each empty dropdown with the obvious layer: the topmost one ``looks(layer)`` accepts and
    no other of these dropdowns already shows. ``picks``: ``[(combo, looks), ...]``; a ``Select``
    gets a list of one. Dropdowns the user has set are left alone.
    """
    def chosen(widget) -> list:
        value = widget.value
        return [] if value is None else list(value) if isinstance(value, list | tuple) else [value]

    taken = {layer.unique_id for widget, _ in picks for layer in chosen(widget)}
    for widget, looks in picks:
        if chosen(widget):
            continue
        candidates = [layer for layer in widget.choices
                      if layer is not None and layer.unique_id not in taken and looks(layer)]
        if candidates:
            layer = candidates[-1]  # topmost in the layer list: the one most recently opened
            widget.value = [layer] if isinstance(widget.value, list | tuple) else layer
            taken.add(layer.unique_id)


SAMPLE_HINT = "File > Open Sample > Grain Trace has one"  # the menu as napari shows it (display_name)


def describe_layer(role: str, layer) -> str:
    """``tracing 'steel trace'``; a layer named for its role reads ``layer 'prediction'``, not
    ``prediction 'prediction'``."""
    name = str(layer.name)
    return f"layer {name!r}" if role.lower() in name.lower() else f"{role} {name!r}"


# ----------------------------------------------------------------------------------------------
# results on top, selection kept
# ----------------------------------------------------------------------------------------------
def _selection_of(viewer) -> tuple[list[int], int | None]:
    selection = viewer.layers.selection
    active = selection.active
    return [layer.unique_id for layer in selection], (active.unique_id if active is not None else None)


def _restore_selection(viewer, saved: tuple[list[int], int | None]) -> None:
    ids, active_id = saved
    if _selection_of(viewer) == saved:
        return
    by_id = {layer.unique_id: layer for layer in viewer.layers}
    layers = [by_id[i] for i in ids if i in by_id]
    selection = viewer.layers.selection
    selection.clear()
    selection.update(layers)
    if active_id in by_id:
        selection.active = by_id[active_id]


class SavedSelection:
    """The user's layer selection now; ``restore()`` puts it back after our layers were added (napari
    selects every added layer)."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.saved = _selection_of(viewer)

    def restore(self) -> None:
        _restore_selection(self.viewer, self.saved)


def outputs_on_top(viewer, names, selection: SavedSelection | None = None) -> None:
    """Our visible output layers ``names`` (logical names) to the top of the layer list, in the order
    they have there; the user's selection kept (``selection``: as it was before the run).

    Why: an updated layer stays where it sits; once the user has opened another image above it,
    a re-run would seem to do nothing. One helper for every widget that shows results.
    """
    wanted = set(names)
    layers = list(viewer.layers)
    indices = [i for i, layer in enumerate(layers)
               if layer.metadata.get(OWNER_KEY) in wanted and layer.visible]
    saved = selection.saved if selection is not None else _selection_of(viewer)
    if indices and indices != list(range(len(layers) - len(indices), len(layers))):
        viewer.layers.move_multiple(indices, len(layers))
    _restore_selection(viewer, saved)


# ----------------------------------------------------------------------------------------------
# docks that fit a laptop screen
# ----------------------------------------------------------------------------------------------
def scroll_when_short(container) -> None:
    """Put the container's controls into a vertical scroll area, so that the dock can be short.

    napari docks ``container.native`` (magicgui's own ``scrollable`` wraps a parent napari never
    sees), so the controls move into a ``QScrollArea`` inside it. Several docks stacked on a
    1366 x 768 screen then each scroll instead of making the window taller than the screen.
    Call it last in ``__init__``, after every control and canvas is in the layout.
    """
    from qtpy.QtCore import QEvent, QObject, Qt
    from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    outer = container.native
    layout = outer.layout()
    content = QWidget()
    content.setObjectName("graintrace-controls")
    inner = QVBoxLayout(content)
    inner.setContentsMargins(layout.contentsMargins())
    inner.setSpacing(layout.spacing())
    while layout.count():
        item = layout.takeAt(0)
        if item.widget() is not None:
            inner.addWidget(item.widget())
        else:
            inner.addItem(item)
    inner.addStretch(1)
    scroll = QScrollArea()
    scroll.setObjectName("graintrace-scroll")
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(content)
    scroll.setMinimumHeight(120)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(scroll)
    container._scroll_area = scroll

    class KeepWide(QObject):
        """The dock never gets narrower than its controls (their width is known once styled and shown)."""

        def eventFilter(self, obj, event) -> bool:  # Qt's name
            if event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Show, QEvent.Type.Polish):
                scroll.setMinimumWidth(content.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
            return False

    keep_wide = KeepWide(content)  # a child of the controls: lives and dies with them
    content.installEventFilter(keep_wide)
    scroll.setMinimumWidth(content.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())


def layer_choices(viewer, kinds: tuple[type, ...]):
    """A magicgui ``choices`` callable: the user's layers of these kinds (not our outputs)."""

    def choices(_widget=None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in viewer.layers
                if isinstance(layer, kinds) and not is_output_layer(layer)]

    return choices


def placement_on(reference, shape: tuple[int, int]) -> dict[str, tuple]:
    """``scale``/``translate`` that lay an array of ``shape`` exactly over the ``reference`` layer."""
    from ..core.scoring import grid_transform

    ref_shape = reference.data.shape[:2]
    scale, translate = grid_transform(ref_shape, shape)
    ref_scale, ref_translate = reference.scale[-2:], reference.translate[-2:]
    return {
        "scale": tuple(s * r for s, r in zip(scale, ref_scale, strict=True)),
        "translate": tuple(t * r + o for t, r, o in zip(translate, ref_scale, ref_translate, strict=True)),
    }


def _text_with_tooltip(label) -> Callable[[str], None]:
    """``QLabel.setText`` that also puts the full text in the tooltip (a clipped path stays readable)."""
    set_text = label.setText

    def set_text_and_tooltip(text: str) -> None:
        # a readout of several lines keeps them as written (a word-wrapped label's height-for-width is
        # not honoured in a scrolling dock, which squeezed it to one line); one-line notes wrap
        label.setWordWrap("\n" not in str(text))
        set_text(text)
        label.setToolTip(text)

    return set_text_and_tooltip


def keep_narrow(container, min_contents: int = 12) -> None:
    """Long paths, layer names and notes must not widen the dock and squeeze the canvas.

    Labels wrap (with the full text as tooltip) and ignore their one-line width; combo boxes size
    to ``min_contents`` characters instead of their longest layer name.
    """
    from magicgui.widgets import ComboBox, Container, Label
    from qtpy.QtWidgets import QComboBox, QSizePolicy

    for widget in container:
        if isinstance(widget, Container):
            keep_narrow(widget, min_contents)
        elif isinstance(widget, Label):
            label = widget.native
            label.setWordWrap(True)
            # never shorter than its text: in a scrolling dock a readout that grows later must not be squeezed
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
            label.setMinimumWidth(0)
            label.setText = _text_with_tooltip(label)  # magicgui sets a Label's value through setText
        elif isinstance(widget, ComboBox):
            combo = widget.native
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(min_contents)


# layer name -> key of Evaluation.pictures(), from core's one list of overlays
OUTPUT_LAYERS = {overlay.layer: overlay.key for overlay in OVERLAYS if overlay.layer}


def evaluation_layer_updates(viewer, evaluation, reference, pictures: dict | None = None):
    """One callable per output layer of an evaluation, placed on ``reference``.

    Run them all at once (:func:`show_evaluation`), or one per event-loop turn
    (:func:`show_evaluation_gradually`) so that adding five large layers never freezes the viewer.
    """
    pictures = pictures or evaluation.pictures()
    where = placement_on(reference, evaluation.pred.shape)
    updates = [lambda: set_layer_data(viewer, "prediction", evaluation.pred, colormap="magma",
                                      contrast_limits=(0, 1), **where)]
    for name, key in OUTPUT_LAYERS.items():
        # only the composite is shown at first; later runs keep the user's visibility choices
        updates.append(lambda name=name, key=key: set_layer_data(
            viewer, name, pictures[key], rgb=True, visible=name == "score overlay", **where))
    return updates


def show_evaluation(viewer, evaluation, reference, pictures: dict | None = None) -> None:
    """The output layers of one evaluation, now (shared by the inspect and sweep widgets)."""
    for update in evaluation_layer_updates(viewer, evaluation, reference, pictures):
        update()


def show_evaluation_gradually(viewer, evaluation, reference, pictures: dict | None = None, done=None,
                              widget=None) -> None:
    """Like :func:`show_evaluation`, one layer per event-loop turn; then call ``done()``.

    With ``widget``, drawing stops quietly once that widget is closed (the viewer may be gone).
    """
    from qtpy.QtCore import QTimer

    updates = evaluation_layer_updates(viewer, evaluation, reference, pictures)

    def step() -> None:
        if widget is not None and not widget_is_open(widget):
            return
        try:
            updates.pop(0)()
        except Exception as exc:  # noqa: BLE001 - reported, never raised into Qt
            notify_error(exc)
            updates.clear()
        if updates:
            QTimer.singleShot(0, step)
        elif done is not None:
            done()

    step()


__all__ = [
    "OUTPUT_LAYERS",
    "OWNER_KEY",
    "SAMPLE_HINT",
    "SavedSelection",
    "button",
    "describe_layer",
    "evaluation_layer_updates",
    "find_output_layer",
    "follow_layer_list",
    "is_output_layer",
    "keep_narrow",
    "layer_choices",
    "looks_like_micrograph",
    "looks_like_prediction",
    "looks_like_tracing",
    "notify_error",
    "on_click",
    "outputs_on_top",
    "placement_on",
    "preselect",
    "readable_message",
    "reports_errors",
    "same_layer",
    "scroll_when_short",
    "set_layer_data",
    "show_busy",
    "show_evaluation",
    "show_evaluation_gradually",
    "start_worker",
    "tab_with_our_docks",
    "widget_is_open",
]
