"""Find and safely load the lab's ``NAME_EPOCH.pth`` checkpoint series.

Loading goes through ``torch.load(..., weights_only=True)`` only: a checkpoint is data, and a
pickle that tries to build arbitrary objects (and so run code) is refused before anything of it
runs. The architecture's base width is read from the file itself (``down_conv.0.first.weight``
has ``base_width`` output channels), so the lab's width-64 files and the small demo models load
through the same call. Nothing is cached here: callers (a widget, the sweep) decide what to keep.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError
from .unet import UNet

__all__ = ["Checkpoint", "find_checkpoints", "load_checkpoint", "read_state_dict", "state_dict_width"]

# torch's weights-only unpickler warns about a pickle protocol other than 2 before it refuses a
# plain pickle; the refusal is what the user sees. Filtered once here, not with catch_warnings,
# which swaps the process-wide filters and is not safe in worker threads.
warnings.filterwarnings("ignore", message=r"Detected pickle protocol \d+ in the checkpoint", category=UserWarning)

_NAME_EPOCH = re.compile(r"^(?P<name>.+)_(?P<epoch>\d+)\.pth$")
_NESTED_KEYS = ("state_dict", "model_state_dict")
_WIDTH_KEY = "down_conv.0.first.weight"


@dataclass(frozen=True)
class Checkpoint:
    """One file of a series: ``unet_30.pth`` is ``Checkpoint(epoch=30, path=..., name="unet")``."""

    epoch: int
    path: Path
    name: str


def parse_checkpoint_name(path: str | os.PathLike) -> Checkpoint | None:
    """``NAME_EPOCH.pth`` -> :class:`Checkpoint`; anything else (and hidden temp files) -> None."""
    path = Path(path)
    match = _NAME_EPOCH.match(path.name)
    if match is None or path.name.startswith("."):
        return None
    return Checkpoint(epoch=int(match["epoch"]), path=path, name=match["name"])


def find_checkpoints(folder: str | os.PathLike, name: str | None = None) -> list[Checkpoint]:
    """Every ``NAME_EPOCH.pth`` in ``folder`` sorted numerically by epoch (``unet_2`` before ``unet_10``).

    Other files are ignored. ``name`` keeps one series when a folder holds several; ties in epoch
    between series are broken by name so the order is stable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    found = [c for c in map(parse_checkpoint_name, folder.iterdir()) if c is not None and c.path.is_file()]
    if name is not None:
        found = [c for c in found if c.name == name]
    return sorted(found, key=lambda c: (c.epoch, c.name))


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a checkpoint's tensors safely; unwrap ``state_dict``/``model_state_dict`` and ``module.``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputError(_refusal(path, str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for damaged files; none ran code
        detail = _first_sentence(str(exc))
        detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        raise InputError(
            f"{path.name}: not a readable PyTorch checkpoint, truncated or damaged ({detail}); "
            f"nothing was loaded. File: {path}"
        ) from None
    return _unwrap(loaded, path)


def _about(path: str | os.PathLike, problem: str) -> str:
    """``NAME.pth: problem; nothing was loaded. File: /full/path``: a collapsed notification shows the
    file's name and the problem, not just the start of a long path."""
    return f"{Path(path).name}: {problem}; nothing was loaded. File: {path}"


def _first_sentence(text: str, limit: int = 100) -> str:
    """The first sentence of a library message, cut at a word (never mid-word) with an ellipsis.

    Library messages go on to give advice (torch's may suggest turning the safety off); the first
    sentence says what happened.
    """
    text = " ".join(text.split())
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".")
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return f"{cut}…"


def _refusal(path: Path, message: str) -> str:
    """Say that the weights-only unpickler refused a file and nothing ran.

    torch's own message goes on to explain how to allow-list the object or turn ``weights_only``
    off; that is exactly how a malicious checkpoint gets to run its code, so it is not passed on.
    """
    wanted = re.search(r"GLOBAL ([\w.]+)", message)
    if wanted is not None:
        # the file wants to import and call a Python object: this is how a malicious pickle runs code
        return (f"{path.name}: refused, nothing in it was loaded or run: the file asks to build the Python "
                f"object {wanted[1]} (not just tensors), which could run code. Only plain state_dict "
                f"checkpoints (tensors) are loaded; save one with torch.save(model.state_dict(), ...). "
                f"File: {path}")
    return (f"{path.name}: refused, nothing in it was loaded or run: it is not a plain PyTorch state_dict "
            f"that can be read safely. File: {path}")


def _unwrap(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        for key in _NESTED_KEYS:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not loaded:
        raise InputError(_about(path, f"expected a state_dict (a dict of tensors), got {type(loaded).__name__}"))
    state = {}
    for key, value in loaded.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise InputError(_about(path, f"expected a state_dict of tensors, found entry {key!r} of "
                                          f"type {type(value).__name__}"))
        state[key.removeprefix("module.")] = value
    return state


def state_dict_width(state: Mapping[str, torch.Tensor], path: str | os.PathLike = "checkpoint") -> int:
    """The base width (64 for the lab) from the first convolution's output channels."""
    weight = state.get(_WIDTH_KEY)
    if weight is None:
        keys = ", ".join(list(state)[:4])
        raise InputError(_about(path, f"not a U-Net checkpoint of the lab's layout: no key {_WIDTH_KEY!r} "
                                      f"(found {keys}{', ...' if len(state) > 4 else ''})"))
    if weight.ndim != 4 or tuple(weight.shape[1:]) != (1, 3, 3) or weight.shape[0] < 1:
        raise InputError(_about(path, f"{_WIDTH_KEY} has shape {tuple(weight.shape)}, expected (width, 1, 3, 3) "
                                      "with a width of at least 1"))
    return int(weight.shape[0])


def _brief(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown} (and {len(keys) - limit} more)" if len(keys) > limit else shown


def load_checkpoint(path: str | os.PathLike) -> UNet:
    """Build the U-Net a checkpoint describes and load its weights: eval mode, on the CPU.

    Refuses (``InputError``) files that are not plain tensor state_dicts, damaged files, and
    files whose keys or shapes do not match the lab's U-Net, saying which keys or shapes differ.
    """
    state = read_state_dict(path)
    width = state_dict_width(state, path)
    with torch.device("meta"):  # shapes only: a file claiming a huge width allocates nothing here
        expected = UNet(width).state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys: {_brief(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_brief(unexpected)}")
    wrong = [
        f"{k} is {tuple(state[k].shape)}, expected {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if wrong:
        problems.append(f"wrong shapes: {_brief(wrong, 2)}")
    if problems:
        raise InputError(_about(path, f"does not match the lab's U-Net (base width {width}): "
                                + "; ".join(problems)))
    non_float = [k for k, v in state.items() if not v.is_floating_point()]
    if non_float:
        raise InputError(_about(path, f"non-float weights: {_brief(non_float)}"))
    not_finite = [k for k, v in state.items() if not bool(torch.isfinite(v).all())]
    if not_finite:
        raise InputError(_about(path, f"NaN or infinite weights in {_brief(not_finite)} (a diverged or damaged "
                                      "training run); its maps would be meaningless"))
    model = UNet(width)  # every tensor of the file matched the architecture: its size is the file's
    model.load_state_dict(state)
    return model.eval()
