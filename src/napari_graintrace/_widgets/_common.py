"""Small pieces every widget uses: turning errors into notifications, finding layers."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from napari.utils.notifications import show_error

from ..core.errors import InputError
from ..core.overlays import OVERLAYS

logger = logging.getLogger("napari_graintrace")
F = TypeVar("F", bound=Callable[..., Any])


def notify_error(exc: BaseException) -> None:
    """Show an exception as a napari notification: the viewer never crashes on bad input."""
    if isinstance(exc, InputError):
        show_error(str(exc))
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


OWNER_KEY = "napari-graintrace output"


def is_output_layer(layer) -> bool:
    """Layers this plugin made (and may update); everything else belongs to the user."""
    return bool(layer.metadata.get(OWNER_KEY))


def set_layer_data(viewer, name: str, data, kind: str = "image", **kwargs: Any):
    """Update our output layer ``name`` in place, or add it: re-runs never duplicate layers.

    ``kind`` is ``"image"``, ``"labels"`` or ``"shapes"``. Only layers this plugin made are updated;
    a user's layer with that name is never touched (the output goes to ``"NAME (graintrace)"``).
    """
    from napari import layers

    layer_type = {"image": layers.Image, "labels": layers.Labels, "shapes": layers.Shapes}[kind]
    kwargs["metadata"] = {**kwargs.get("metadata", {}), OWNER_KEY: True}
    if name in viewer.layers:
        layer = viewer.layers[name]
        same_kind = type(layer) is layer_type and getattr(layer, "rgb", False) == kwargs.get("rgb", False)
        if not (same_kind and is_output_layer(layer)):
            return set_layer_data(viewer, f"{name} (graintrace)", data, kind, **kwargs)
        layer.data = data
        for key in ("scale", "translate", "metadata", "colormap", "contrast_limits"):
            if key in kwargs:
                setattr(layer, key, kwargs[key])
        return layer
    return getattr(viewer, f"add_{kind}")(data, name=name, **kwargs)


def layer_choices(viewer, kinds: tuple[type, ...]):
    """A magicgui ``choices`` callable: the user's layers of these kinds (not our outputs)."""

    def choices(_widget=None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in viewer.layers
                if isinstance(layer, kinds) and not is_output_layer(layer)]

    return choices


def placement_on(reference, shape: tuple[int, int]) -> dict[str, tuple]:
    """``scale``/``translate`` that lay an array of ``shape`` exactly over the ``reference`` layer."""
    from ..core.evaluation import grid_transform

    ref_shape = reference.data.shape[:2]
    scale, translate = grid_transform(ref_shape, shape)
    ref_scale, ref_translate = reference.scale[-2:], reference.translate[-2:]
    return {
        "scale": tuple(s * r for s, r in zip(scale, ref_scale, strict=True)),
        "translate": tuple(t * r + o for t, r, o in zip(translate, ref_scale, ref_translate, strict=True)),
    }


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
    "is_output_layer",
    "layer_choices",
    "notify_error",
    "placement_on",
    "reports_errors",
    "set_layer_data",
    "show_evaluation",
    "show_evaluation_gradually",
]
