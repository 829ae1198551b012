"""Small pieces every widget uses: turning errors into notifications, finding layers."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from napari.utils.notifications import show_error, show_warning

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


def set_layer_data(viewer, name: str, data, kind: str = "image", **kwargs: Any):
    """Update the layer ``name`` in place or add it, so that re-runs never duplicate layers.

    ``kind`` is ``"image"``, ``"labels"`` or ``"shapes"``. A user's layer of that name but another
    kind (or RGB-ness) is left untouched: the output goes to ``"NAME (graintrace)"`` instead.
    """
    from napari import layers

    layer_type = {"image": layers.Image, "labels": layers.Labels, "shapes": layers.Shapes}[kind]
    if name in viewer.layers:
        layer = viewer.layers[name]
        if type(layer) is layer_type and getattr(layer, "rgb", False) == kwargs.get("rgb", False):
            layer.data = data
            for key in ("scale", "translate", "metadata", "colormap", "contrast_limits"):
                if key in kwargs:
                    setattr(layer, key, kwargs[key])
            return layer
        return set_layer_data(viewer, f"{name} (graintrace)", data, kind, **kwargs)
    return getattr(viewer, f"add_{kind}")(data, name=name, **kwargs)


__all__ = ["notify_error", "reports_errors", "set_layer_data", "show_warning"]
