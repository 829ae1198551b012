"""What a user reads when a checkpoint cannot be used: whole words, the file's name first, no unsafe advice."""

from __future__ import annotations

import pickle
import re

import pytest
import torch

from napari_graintrace.core.errors import InputError
from napari_graintrace.core.model import UNet, checkpoints

UNSAFE_ADVICE = ("add_safe_globals", "safe_globals", "allowlist", "allow-list", "weights_only=False",
                 "weights_only` set to `False", "trust")


def _message(path) -> str:
    with pytest.raises(InputError) as info:
        checkpoints.load_checkpoint(path)
    return str(info.value)


def test_truncated_checkpoint_message_is_whole_words(tmp_path):
    path = tmp_path / "unet_3.pth"
    torch.save(UNet(base_width=4).state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception) as raw:  # what torch itself says, for comparison
        torch.load(path, weights_only=True)
    message = _message(path)
    assert message.startswith("unet_3.pth: ") and "truncated or damaged" in message
    assert message.endswith(f"File: {path}")
    detail = re.search(r"\((\w+): (.*?)\); nothing was loaded", message)
    assert detail is not None and detail[1] == type(raw.value).__name__
    torch_words = " ".join(str(raw.value).split())
    quoted = detail[2].removesuffix("…")
    assert torch_words.startswith(quoted)  # a prefix of torch's text ...
    assert torch_words[len(quoted)] in " .,;:"  # ... that ends at a word's end, never mid-word


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never be printed",))


@pytest.mark.parametrize("payload", ["torch.save", "pickle", "module"])
def test_refused_pickle_says_nothing_ran_and_never_suggests_allow_listing(tmp_path, payload, capsys):
    path = tmp_path / "unet_5.pth"
    if payload == "torch.save":
        torch.save({"w": _Exploit()}, path)
    elif payload == "pickle":
        path.write_bytes(pickle.dumps({"w": _Exploit()}, protocol=2))
    else:
        torch.save({"w": torch.nn.Linear(1, 1)}, path)
    message = _message(path)
    assert message.startswith("unet_5.pth: refused, nothing in it was loaded or run")
    assert not any(advice in message for advice in UNSAFE_ADVICE), message
    assert "this must never be printed" not in capsys.readouterr().out
    wanted = "builtins.print" if payload != "module" else "torch.nn.modules.linear.Linear"
    assert wanted.rsplit(".", 1)[-1] in message  # names what it wanted to build
