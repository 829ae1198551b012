"""Bad input on the command line: one line ``graintrace CMD: error: ...``, exit 2, no file touched.

Each row of the table is a command a user could type on a bad day. Every row runs in a folder
holding valid inputs (a prediction, a tracing, a micrograph, a tiny checkpoint series, a dataset,
a boxes file, an earlier crop) plus whatever the row adds; every file's bytes are hashed before and
after, so a row that writes, renames, deletes or truncates anything fails. Rows run in-process
(``cli.main``) for speed; two run the real console script to prove it prints that one line too.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import tiny_dataset, tiny_series

from napari_graintrace.cli import main
from napari_graintrace.core import io


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` (hidden ones too) with the sha256 of each file."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        found[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Valid inputs of every command, built once; rows copy it (it is small)."""
    root = tmp_path_factory.mktemp("bad_input_inputs")
    rng = np.random.default_rng(7)
    trace = np.zeros((48, 40), np.uint8)
    trace[:, [9, 25]] = 255
    trace[30, :] = 255
    _png(root / "trace.png", trace)
    _png(root / "pred.png", np.clip(trace.astype(float) * 0.8 + rng.random(trace.shape) * 40, 0, 255).astype(np.uint8))
    _png(root / "micro.png", rng.integers(0, 255, trace.shape, dtype=np.uint8))
    _png(root / "white.png", np.full(trace.shape, 255, np.uint8))
    _png(root / "small.png", np.zeros((20, 20), np.uint8))
    (root / "garbage.png").write_bytes(b"this is not an image")
    _png(root / "traces" / "a.png", trace)  # a folder of tracings whose second file is damaged
    (root / "traces" / "b.png").write_bytes(b"this is not an image either")
    tiny_series(root / "ckpt", [0, 1], base_width=2)
    tiny_dataset(root / "data", count=2, size=32)
    (root / "boxes.json").write_text('{"boxes": [{"index": 1, "top": 0, "left": 0, "bottom": 16, "right": 16}]}')
    (root / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (root / "params.json").write_text('{"margins": [NaN, 0, 0, 0]}')
    (root / "a_file").write_text("a file where a folder is expected")
    _png(root / "ovl" / "bce_overlay.png", np.asarray(Image.open(root / "pred.png")))  # an earlier overlay
    _png(root / "gr" / "grain_sizes.png", np.asarray(Image.open(root / "pred.png")))  # a map named like an output
    (root / "readonly").mkdir()
    state = torch.load(root / "ckpt" / "tiny_0.pth", weights_only=True)
    state["up_conv.0.first.weight"] = torch.full_like(state["up_conv.0.first.weight"], float("nan"))
    torch.save(state, root / "nan_weights_3.pth")
    torch.save({"down_conv.0.first.weight": torch.zeros(0, 1, 3, 3)}, root / "width0_3.pth")
    torch.save({"down_conv.0.first.weight": torch.zeros(100_000, 1, 3, 3)}, root / "huge_3.pth")
    # an earlier crop, to be "overwritten" with an input inside it
    assert main(["crop", "--boxes", str(root / "boxes.json"), "--images", str(root / "micro.png"),
                 "--trace", str(root / "trace.png"), "--name", "old", "--out", str(root / "crops")]) == 0
    os.chmod(root / "readonly", 0o555)
    return root


def _readonly_like_a_user(monkeypatch) -> None:
    """As root, a 0o555 folder is still writable; judge access by the owner's mode bits, as for a user."""
    if os.geteuid() != 0:
        return
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        try:
            bits = os.stat(path).st_mode
        except OSError:
            return real_access(path, mode, *args, **kwargs)
        if mode & os.W_OK and not bits & stat.S_IWUSR:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


# (command, arguments with {W} for the workspace, a fragment the message must contain)
ROWS = [
    # argparse itself: no usage block, one line
    ("score", ["{W}/pred.png"], "required: TRACE"),
    ("score", ["{W}/pred.png", "{W}/trace.png", "--window", "nan"], "invalid int value"),
    ("score", ["{W}/pred.png", "{W}/trace.png", "--sigma", "nan"], "sigma"),
    ("score", ["{W}/pred.png", "{W}/trace.png", "--sigma", "inf"], "sigma"),
    ("score", ["{W}/pred.png", "{W}/trace.png", "--window", "4"], "odd"),
    ("score", ["{W}/pred.png", "{W}/trace.png", "--kernel", "-3"], "odd"),
    ("score", ["{W}/pred.png", "{W}/small.png"], "writes it at the micrograph's size"),
    ("score", ["{W}/pred.png", "{W}/white.png", "--polarity", "black-on-white"], "no boundary pixels"),
    ("score", ["{W}/garbage.png", "{W}/trace.png"], "cannot be read as an image"),
    ("score", ["{W}/missing.png", "{W}/trace.png"], "no such file"),
    # overlay: outputs that cannot be written, outputs equal to inputs
    ("overlay", ["{W}/pred.png", "{W}/trace.png", "-o", "{W}/a_file"], "a_file is a file"),
    ("overlay", ["{W}/pred.png", "{W}/trace.png", "-o", "{W}/a_file/sub"], "a_file is a file"),
    ("overlay", ["{W}/pred.png", "{W}/trace.png", "-o", "{W}/readonly"], "not writable"),
    ("overlay", ["{W}/pred.png", "{W}/trace.png", "-o", "{W}/ovl"], "already exists"),
    ("overlay", ["{W}/ovl/bce_overlay.png", "{W}/trace.png", "-o", "{W}/ovl", "--overwrite"], "is also an input"),
    # predict: every input checked before the first map is written
    ("predict", ["{W}/ckpt/tiny_1.pth", "{W}/micro.png", "{W}/garbage.png", "-o", "{W}/maps"], "garbage.png"),
    ("predict", ["{W}/ckpt/tiny_1.pth", "{W}/micro.png", "{W}/missing.png", "-o", "{W}/maps"], "no such file"),
    ("predict", ["{W}/nan_weights_3.pth", "{W}/micro.png", "-o", "{W}/maps"], "NaN or infinite weights"),
    ("predict", ["{W}/width0_3.pth", "{W}/micro.png", "-o", "{W}/maps"], "width of at least 1"),
    ("predict", ["{W}/huge_3.pth", "{W}/micro.png", "-o", "{W}/maps"], "does not match"),
    ("predict", ["{W}/ckpt/tiny_1.pth", "{W}/micro.png", "-o", "{W}/a_file"], "is a file"),
    ("predict", ["{W}/ckpt/tiny_1.pth", "{W}/micro.png", "-o", "{W}/readonly"], "not writable"),
    ("predict", ["{W}/ckpt/tiny_1.pth", "{W}/micro.png", "-o", "{W}/maps", "--resolution", "100000"],
     "more than 4x"),
    ("predict", ["{W}/ckpt/tiny_1.pth", "{W}/micro.png", "-o", "{W}/maps", "--tile", "64", "--overlap", "32"],
     "leaves no core"),
    # train: every numeric option finite, the folder writable before the first epoch
    ("train", ["{W}/data", "-o", "{W}/out", "--lr", "nan"], "learning rate"),
    ("train", ["{W}/data", "-o", "{W}/out", "--lr", "inf"], "learning rate"),
    ("train", ["{W}/data", "-o", "{W}/out", "--lr", "-1"], "learning rate"),
    ("train", ["{W}/data", "-o", "{W}/out", "--width", "0"], "width"),
    ("train", ["{W}/data", "-o", "{W}/out", "--width", "100000"], "width 100000"),
    ("train", ["{W}/data", "-o", "{W}/out", "--loss", "tolerant", "--tolerant-weight", "nan"], "tolerant weight"),
    ("train", ["{W}/data", "-o", "{W}/out", "--loss", "tolerant", "--sigma", "nan"], "sigma"),
    ("train", ["{W}/data", "-o", "{W}/a_file"], "is a file"),
    ("train", ["{W}/data", "-o", "{W}/readonly"], "not writable"),
    ("train", ["{W}/data", "-o", "{W}/data"], "is also an input"),
    # sweep: -o, --plot and --cache checked before any inference; inputs never overwritten
    ("sweep", ["{W}/ckpt", "--image", "{W}/micro.png", "--trace", "{W}/trace.png", "-o", "{W}/micro.png",
               "--overwrite", "--cache", "{W}/cache"], "is also an input"),
    ("sweep", ["{W}/ckpt", "--image", "{W}/micro.png", "--trace", "{W}/trace.png", "-o", "{W}/s.csv",
               "--plot", "{W}/trace.png", "--overwrite", "--cache", "{W}/cache"], "is also an input"),
    ("sweep", ["{W}/ckpt", "--image", "{W}/micro.png", "--trace", "{W}/trace.png", "-o", "{W}/s.csv",
               "--plot", "{W}/a_file/p.png", "--cache", "{W}/cache"], "is a file"),
    ("sweep", ["{W}/ckpt", "--image", "{W}/micro.png", "--trace", "{W}/trace.png", "-o", "{W}/s.csv",
               "--plot", "{W}/readonly/p.png", "--cache", "{W}/cache"], "not writable"),
    ("sweep", ["{W}/ckpt", "--image", "{W}/micro.png", "--trace", "{W}/trace.png", "-o", "{W}/s.csv",
               "--cache", "{W}/a_file"], "is a file"),
    ("sweep", ["{W}/ckpt", "--image", "{W}/micro.png", "--trace", "{W}/trace.png", "-o", "{W}/s.csv",
               "--plot", "{W}/s.csv", "--cache", "{W}/cache"], "given twice"),
    ("sweep", ["{W}/ckpt", "--image", "{W}/micro.png", "--trace", "{W}/trace.png", "-o", "{W}/s.csv",
               "--sigma", "nan", "--cache", "{W}/cache"], "sigma"),
    ("sweep", ["{W}/ckpt", "--image", "{W}/micro.png", "--trace", "{W}/trace.png", "-o", "{W}/s.csv",
               "--resolution", "100000", "--cache", "{W}/cache"], "more than 4x"),
    # clean
    ("clean", ["{W}/trace.png", "-o", "{W}/trace.png", "--overwrite"], "is also an input"),
    ("clean", ["{W}/trace.png", "-o", "{W}/c.png", "--thickness", "10001"], "thickness 10001"),
    ("clean", ["{W}/trace.png", "-o", "{W}/c.png", "--footprint", "gaussian", "--thickness", "3",
               "--sigma", "1e9"], "sigma"),
    ("clean", ["{W}/trace.png", "-o", "{W}/c.png", "--params", "{W}/params.json"], "margins"),
    ("clean", ["{W}/trace.png", "-o", "{W}/a_file/c.png"], "is a file"),
    ("clean", ["{W}/trace.png", "-o", "{W}/readonly/c.png"], "not writable"),
    ("clean", ["{W}/trace.png", "-o", "{W}/c.png", "--border", "1,2,3"], "4 integers"),
    ("clean", ["{W}/trace.png", "-o", "{W}/c.png", "--keep", "0,50,0,10"], "does not fit"),
    ("clean", ["{W}/traces", "-o", "{W}/cleaned"], "b.png"),
    # crop
    ("crop", ["--boxes", "{W}/nested.json", "--images", "{W}/micro.png", "--trace", "{W}/trace.png",
              "--name", "n", "--out", "{W}/crops"], "nested too deeply"),
    ("crop", ["--boxes", "{W}/boxes.json", "--images", "{W}/micro.png", "--trace", "{W}/trace.png",
              "--name", "n", "--out", "{W}/a_file"], "is a file"),
    ("crop", ["--boxes", "{W}/boxes.json", "--images", "{W}/micro.png", "--trace", "{W}/trace.png",
              "--name", "n", "--out", "{W}/readonly"], "not writable"),
    ("crop", ["--boxes", "{W}/crops/old_validation/aligned/boxes.json", "--images",
              "{W}/crops/old_validation/aligned/old_1.png", "--trace", "{W}/trace.png", "--name", "old",
              "--out", "{W}/crops", "--overwrite"], "lies inside it"),
    # merge
    ("merge", ["{W}/data", "-o", "{W}/a_file"], "is a file"),
    ("merge", ["{W}/data", "-o", "{W}/data", "--overwrite"], "is also an input"),
    ("merge", ["{W}/data", "-o", "{W}/readonly/m"], "not writable"),
    # grains
    ("grains", ["{W}/pred.png", "-o", "{W}/a_file"], "is a file"),
    ("grains", ["{W}/pred.png", "-o", "{W}/readonly"], "not writable"),
    ("grains", ["{W}/gr/grain_sizes.png", "-o", "{W}/gr", "--overwrite"], "is also an input"),
    ("grains", ["{W}/pred.png", "--high", "nan"], "high threshold"),
    # demo
    ("demo", ["--headless", "-o", "{W}/a_file"], "is a file"),
    ("demo", ["--headless", "-o", "{W}/readonly"], "not writable"),
]


@pytest.mark.parametrize(("command", "arguments", "fragment"), ROWS,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(ROWS)])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(workspace, command, arguments, fragment, capsys,
                                                          monkeypatch):
    _readonly_like_a_user(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(workspace / "cache"))  # never the real user cache
    argv = [command, *(a.replace("{W}", str(workspace)) for a in arguments)]
    before = _snapshot(workspace)
    code = _run(argv)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"graintrace {command}: error: "), lines[0]
    assert fragment in lines[0]
    assert out == ""  # no info line before the error either
    assert "checkbox" not in lines[0]
    assert _snapshot(workspace) == before


def _run(argv: list[str]) -> int:
    """``main``'s exit code; argparse's own errors leave through SystemExit(2)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("argv", [
    ["score", "PRED", "TRACE", "--window", "nan"],
    ["train", "DATA", "-o", "OUT", "--lr", "nan"],
])
def test_console_script_prints_one_line(workspace, argv, tmp_path):
    """The real ``graintrace`` console script (this checkout's code first on the path): no usage block,
    no traceback, exit 2."""
    names = {"PRED": workspace / "pred.png", "TRACE": workspace / "trace.png", "DATA": workspace / "data",
             "OUT": tmp_path / "out"}
    argv = [str(names.get(a, a)) for a in argv]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(io.__file__).parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    script = Path(sys.executable).with_name("graintrace")  # the installed console script, else the module
    command = [str(script)] if script.exists() else [sys.executable, "-m", "napari_graintrace"]
    done = subprocess.run([*command, *argv], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"graintrace {argv[0]}: error: ")
    assert not (tmp_path / "out").exists()


def test_existing_output_message_names_the_option_not_a_checkbox(workspace, tmp_path, capsys):
    out = tmp_path / "o"
    args = ["overlay", str(workspace / "pred.png"), str(workspace / "trace.png"), "-o", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err.strip().endswith("already exists (and 4 more); add --overwrite to replace it")


def test_vanishing_sigma_prints_strict_json(workspace, capsys):
    """--sigma 1e-200 printed NaN (not JSON) and exit 0; it is the sigma -> 0 limit, finite."""
    import json

    assert main(["score", str(workspace / "pred.png"), str(workspace / "trace.png"), "--json",
                 "--sigma", "1e-200"]) == 0

    def no_constants(name):
        raise AssertionError(f"{name} in the JSON")

    values = json.loads(capsys.readouterr().out, parse_constant=no_constants)
    assert 0 <= values["precision"] <= 1 and 0 <= values["recall"] <= 1
