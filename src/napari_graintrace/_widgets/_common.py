"""Small pieces every widget uses: turning errors into notifications, finding layers."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from napari.utils.notifications import show_error

from ..core.errors import InputError

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


def show_evaluation(viewer, evaluation, reference) -> None:
    """The five output layers of one evaluation, placed on ``reference`` (shared by inspect and sweep)."""
    where = placement_on(reference, evaluation.pred.shape)
    set_layer_data(viewer, "prediction", evaluation.pred, colormap="magma", contrast_limits=(0, 1), **where)
    set_layer_data(viewer, "BCE overlay", evaluation.bce_overlay(), rgb=True, visible=False, **where)
    set_layer_data(viewer, "top-hat reward", evaluation.tophat_reward_rgb(), rgb=True, visible=False, **where)
    set_layer_data(viewer, "Gaussian reward", evaluation.gaussian_reward_rgb(), rgb=True, visible=False, **where)
    set_layer_data(viewer, "score overlay", evaluation.composite_rgb(), rgb=True, **where)


__all__ = [
    "is_output_layer", "layer_choices", "notify_error", "placement_on", "reports_errors", "set_layer_data",
    "show_evaluation",
]
