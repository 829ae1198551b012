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
    magicgui widget (inserted, removed, reordered, renamed), which napari never disconnects.
    """

    def __init__(self, events, callback: Callable[..., Any], reset_choices: Callable[..., Any] | None) -> None:
        self.events, self.callback, self.reset_choices, self.connected = events, callback, reset_choices, True
        events.inserted.connect(callback)
        events.removed.connect(callback)

    def disconnect(self, *_: Any) -> None:
        if not self.connected:
            return
        self.connected = False
        hooks = [(self.events.inserted, self.callback), (self.events.removed, self.callback)]
        if self.reset_choices is not None:
            hooks += [(getattr(self.events, name), self.reset_choices)
                      for name in ("inserted", "removed", "reordered", "renamed") if hasattr(self.events, name)]
        for emitter, callback in hooks:
            try:
                emitter.disconnect(callback)
            except (RuntimeError, ValueError, TypeError):  # the viewer went first, or never connected
                pass


def follow_layer_list(widget, viewer, callback: Callable[..., Any]) -> _LayerListHook:
    """Call ``callback`` on every layer insertion and removal until the widget is closed or undocked.

    napari undocks a widget by taking it out of its dock (``setParent(None)``) without deleting it,
    so ``destroyed`` alone would leave a closed widget listening (and, during ``viewer.close()``,
    reacting to every removed layer). The hooks go on the first of: destroyed, undocked.
    """
    from qtpy.QtCore import QEvent, QObject

    hook = _LayerListHook(viewer.layers.events, callback, getattr(widget, "reset_choices", None))
    docked = {"yes": widget.native.parent() is not None}

    class UndockFilter(QObject):
        def eventFilter(self, obj, event) -> bool:  # Qt's name
            if hook.connected and event.type() == QEvent.Type.ParentChange:
                if obj.parent() is not None:
                    docked["yes"] = True
                elif docked["yes"]:
                    hook.disconnect()
            return False

    undock_filter = UndockFilter(widget.native)  # a child of the widget: dies with it
    widget.native.installEventFilter(undock_filter)
    widget.native.destroyed.connect(hook.disconnect)  # a bound method: PyQt drops it safely
    widget._layer_list_hook = (hook, undock_filter)  # both live as long as the widget
    return hook


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
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
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


def show_evaluation_gradually(viewer, evaluation, reference, pictures: dict | None = None, done=None) -> None:
    """Like :func:`show_evaluation`, one layer per event-loop turn; then call ``done()``."""
    from qtpy.QtCore import QTimer

    updates = evaluation_layer_updates(viewer, evaluation, reference, pictures)

    def step() -> None:
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
    "evaluation_layer_updates",
    "find_output_layer",
    "follow_layer_list",
    "is_output_layer",
    "keep_narrow",
    "layer_choices",
    "notify_error",
    "placement_on",
    "readable_message",
    "reports_errors",
    "same_layer",
    "set_layer_data",
    "show_evaluation",
    "show_evaluation_gradually",
]
