"""The lab's U-Net: key layout, safe loading, tiled and fast inference, training, and the CLI."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.transform import resize
from synthetic import tiny_dataset

from napari_graintrace.cli import main
from napari_graintrace.core.errors import InputError
from napari_graintrace.core.io import read_image, read_micrograph, read_trace
from napari_graintrace.core.model import UNet, checkpoints, inference, training
from napari_graintrace.core.options import PredictOptions, TrainOptions
from napari_graintrace.core.scoring import bce, gaussian_loss
from napari_graintrace.core.steps import run_steps
from napari_graintrace.data import DEMO_CHECKPOINTS, NIST_MICROGRAPH, NIST_TRACE


def _model(width: int, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    return UNet(width).eval()


def _save(model: UNet, path: Path) -> Path:
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def demo_model() -> UNet:
    series = checkpoints.find_checkpoints(DEMO_CHECKPOINTS)
    assert series, f"no demo checkpoints in {DEMO_CHECKPOINTS}"
    return checkpoints.load_checkpoint(series[-1].path)


@pytest.fixture(scope="module")
def nist() -> tuple[np.ndarray, np.ndarray]:
    return read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)[0]


# --------------------------------------------------------------------------------------------
# architecture and loading
# --------------------------------------------------------------------------------------------
def test_lab_width_state_dict_has_the_lab_layout_and_round_trips(tmp_path):
    model = _model(64)
    state = model.state_dict()
    assert len(state) == 46  # 9 double convolutions x 4 + 4 up-samples x 2 + final x 2
    assert state["down_conv.0.first.weight"].shape == (64, 1, 3, 3)
    assert state["down_conv.3.second.weight"].shape == (512, 512, 3, 3)
    assert state["middle_conv.first.weight"].shape == (1024, 512, 3, 3)
    assert state["up_sample.0.up.weight"].shape == (1024, 512, 2, 2)  # ConvTranspose2d: (in, out, k, k)
    assert state["up_conv.0.first.weight"].shape == (512, 1024, 3, 3)
    assert state["up_conv.3.second.weight"].shape == (64, 64, 3, 3)
    assert state["final_conv.weight"].shape == (1, 64, 1, 1)
    loaded = checkpoints.load_checkpoint(_save(model, tmp_path / "unet_300.pth"))
    assert loaded.base_width == 64 and not loaded.training
    assert next(loaded.parameters()).device.type == "cpu"
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def _reference_forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The lab's forward pass written out with functional ops, straight from the issue's description."""

    def double(prefix: str, h: torch.Tensor) -> torch.Tensor:
        h = F.relu(F.conv2d(h, state[f"{prefix}.first.weight"], state[f"{prefix}.first.bias"], padding=1))
        return F.relu(F.conv2d(h, state[f"{prefix}.second.weight"], state[f"{prefix}.second.bias"], padding=1))

    skips = []
    for i in range(4):
        x = double(f"down_conv.{i}", x)
        skips.append(x)
        x = F.max_pool2d(x, 2)
    x = double("middle_conv", x)
    for i in range(4):
        x = F.conv_transpose2d(x, state[f"up_sample.{i}.up.weight"], state[f"up_sample.{i}.up.bias"], stride=2)
        skip = skips.pop()
        top, left = round((skip.shape[2] - x.shape[2]) / 2), round((skip.shape[3] - x.shape[3]) / 2)
        skip = skip[:, :, top : top + x.shape[2], left : left + x.shape[3]]
        x = double(f"up_conv.{i}", torch.cat([x, skip], dim=1))
    return F.conv2d(x, state["final_conv.weight"], state["final_conv.bias"])


@pytest.mark.parametrize("size", [(48, 64), (50, 37)])
def test_forward_matches_the_written_out_architecture(size):
    model = _model(4, seed=3)
    x = torch.rand(1, 1, *size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got, want = model(x), _reference_forward(model.state_dict(), x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_renamed_key_is_refused_with_the_keys(tmp_path):
    state = _model(8).state_dict()
    state["final.weight"] = state.pop("final_conv.weight")
    torch.save(state, tmp_path / "unet_1.pth")
    with pytest.raises(InputError, match=r"missing keys: final_conv\.weight.*unexpected keys: final\.weight"):
        checkpoints.load_checkpoint(tmp_path / "unet_1.pth")


def test_wrong_shape_is_refused_with_the_shapes(tmp_path):
    state = _model(8).state_dict()
    state["up_conv.1.first.weight"] = torch.zeros(16, 32, 3, 3)
    torch.save(state, tmp_path / "unet_1.pth")
    with pytest.raises(InputError, match=r"wrong shapes: up_conv\.1\.first\.weight is \(16, 32, 3, 3\), expected"):
        checkpoints.load_checkpoint(tmp_path / "unet_1.pth")


def test_not_a_unet_and_damaged_files_are_refused(tmp_path):
    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "a_1.pth")
    with pytest.raises(InputError, match="no key 'down_conv.0.first.weight'"):
        checkpoints.load_checkpoint(tmp_path / "a_1.pth")
    data = _save(_model(4), tmp_path / "b_1.pth").read_bytes()
    (tmp_path / "b_1.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or damaged"):
        checkpoints.load_checkpoint(tmp_path / "b_1.pth")
    for junk in (b"", b"truncated", b"PK\x03\x04junk"):
        (tmp_path / "c_1.pth").write_bytes(junk)
        with pytest.raises(InputError, match="c_1.pth"):
            checkpoints.load_checkpoint(tmp_path / "c_1.pth")
    with pytest.raises(InputError, match="no such file"):
        checkpoints.load_checkpoint(tmp_path / "missing_1.pth")


class _Exploit:
    """Unpickling this runs a shell command that creates a marker file."""

    marker: Path

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch.save", "pickle protocol 2"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, how):
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = marker
    path = tmp_path / "unet_7.pth"
    payload = {"down_conv.0.first.weight": exploit}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    assert not marker.exists()
    with pytest.raises(InputError, match="refused"):
        checkpoints.load_checkpoint(path)
    assert not marker.exists()


def test_dataparallel_prefix_and_nested_dicts_load(tmp_path):
    model = _model(4, seed=5)
    state = model.state_dict()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        want = model(x)
    variants = {
        "prefix_1.pth": {f"module.{k}": v for k, v in state.items()},
        "nested_2.pth": {"state_dict": state},
        "trainer_3.pth": {"epoch": 3, "model_state_dict": {f"module.{k}": v for k, v in state.items()}},
    }
    for name, content in variants.items():
        torch.save(content, tmp_path / name)
        with torch.no_grad():
            assert torch.equal(checkpoints.load_checkpoint(tmp_path / name)(x), want), name


def test_find_checkpoints_sorts_numerically_and_ignores_other_files(tmp_path):
    for name in ["unet_10.pth", "unet_2.pth", "unet_0.pth", "unet_100.pth", "unet_best.pth", "notes.txt",
                 ".unet_3.abc.tmp.pth", "unet_5.pt", "unet_7.pth.bak"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "unet_9.pth").mkdir()
    found = checkpoints.find_checkpoints(tmp_path)
    assert [c.epoch for c in found] == [0, 2, 10, 100]
    assert [c.path.name for c in found] == ["unet_0.pth", "unet_2.pth", "unet_10.pth", "unet_100.pth"]
    assert {c.name for c in found} == {"unet"}
    (tmp_path / "demo_5.pth").write_bytes(b"")
    assert [c.epoch for c in checkpoints.find_checkpoints(tmp_path, name="demo")] == [5]
    with pytest.raises(InputError, match="no such folder"):
        checkpoints.find_checkpoints(tmp_path / "nowhere")


def test_shipped_demo_series_is_small_and_loads():
    series = checkpoints.find_checkpoints(DEMO_CHECKPOINTS)
    assert len(series) >= 4 and series[0].epoch == 0 and {c.name for c in series} == {"demo"}
    sizes = [c.path.stat().st_size for c in series]
    assert max(sizes) < 2_000_000 and sum(sizes) < 15_000_000
    assert (DEMO_CHECKPOINTS / "README.md").is_file()
    assert checkpoints.load_checkpoint(series[-1].path).base_width < 64


# --------------------------------------------------------------------------------------------
# inference
# --------------------------------------------------------------------------------------------
def test_predict_resizes_like_the_lab_and_scales_integer_input():
    model = _model(4)
    image = np.random.default_rng(0).integers(0, 256, (40, 70), dtype=np.uint8)
    pred = inference.predict(model, image, resolution=64, precision="fp32", restore_shape=False)
    assert pred.shape == (64, 64) and pred.dtype == np.float32
    assert 0.0 <= pred.min() and pred.max() <= 1.0
    as_float = inference.predict(model, image.astype(np.float32) / 255, resolution=64, precision="fp32",
                                 restore_shape=False)
    np.testing.assert_allclose(pred, as_float, atol=1e-6)
    x = F.interpolate(torch.from_numpy(image / 255.0).float()[None, None], size=(64, 64), mode="bilinear",
                      antialias=True, align_corners=False)
    with torch.no_grad():
        want = torch.sigmoid(model(x))[0, 0].numpy()
    np.testing.assert_allclose(pred, want, atol=1e-6)
    back = inference.predict(model, image, resolution=64, precision="fp32")  # by default: the micrograph's grid
    assert back.shape == image.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, resize(pred, image.shape, order=1, anti_aliasing=True), atol=0.02)


def test_predict_rejects_bad_input():
    model = _model(4)
    with pytest.raises(InputError, match="outside"):
        inference.predict(model, np.full((32, 32), 2.0, np.float32), resolution=32)
    with pytest.raises(InputError, match="multiple of 16"):
        inference.predict(model, np.zeros((64, 64), np.float32), resolution=None, tile=100)
    with pytest.raises(InputError, match="precision"):
        inference.predict(model, np.zeros((64, 64), np.float32), precision="int8")
    with pytest.raises(InputError, match="resolution"):
        inference.predict(model, np.zeros((64, 64), np.float32), resolution=10)


def test_tiled_matches_whole_image_on_a_trained_model(demo_model, nist):
    image = nist[0][:517, :389]  # sides not multiples of 16: padded and cropped back
    windows = inference.tile_windows((528, 400), 256, 112)
    assert len(windows) > 1
    whole = inference.predict(demo_model, image, resolution=None, tile=None, precision="fp32")
    calls = []
    tiled = inference.predict(demo_model, image, resolution=None, tile=256, overlap=112, precision="fp32",
                              progress=lambda done, total: calls.append((done, total)))
    assert whole.shape == tiled.shape == image.shape
    assert whole.std() > 0.05  # the outputs vary, so agreement means something
    # exact up to float32 rounding (a few ulps at 1.0; 1.3e-7 measured): a tile seam or a shifted core is far more
    assert np.abs(whole - tiled).max() < 5e-7
    assert calls[0] == (0, len(windows)) and calls[-1] == (len(windows), len(windows))


def test_predict_steps_is_a_generator_with_the_map_as_return_value(demo_model):
    steps = inference.predict_steps(demo_model, np.zeros((300, 200), np.float32),
                                    PredictOptions(resolution=None, tile=256, precision="fp32"))
    progress = []
    with pytest.raises(StopIteration) as stop:
        while True:
            progress.append(next(steps))
    assert progress[-1][0] == progress[-1][1] > 1
    assert stop.value.value.shape == (300, 200)


def test_choose_device():
    assert inference.choose_device("cpu").type == "cpu"
    assert inference.choose_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            inference.choose_device("cuda")
    with pytest.raises(InputError, match="device"):
        inference.choose_device("tpu")


def test_auto_precision_is_bf16_only_on_native_bf16_cpus():
    cpu = torch.device("cpu")
    assert inference.resolve_precision("auto", cpu) == ("bf16" if inference.cpu_has_native_bf16() else "fp32")
    assert inference.resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(InputError, match="fp16"):
        inference.resolve_precision("fp16", cpu)


@pytest.mark.parametrize("resolution", [None, 512])
def test_bf16_fast_path_scores_match_fp32(demo_model, nist, resolution):
    """The bf16 path that "auto" takes on native-bf16 CPUs, asked for explicitly so it runs on any CPU.

    Without native bf16 instructions torch emulates them (slower, same numbers), so every machine
    checks the path; test_auto_precision_is_bf16_only_on_native_bf16_cpus checks when auto picks it.
    """
    image, trace = nist
    seen: dict[str, set] = {"fp32": set(), "bf16": set()}
    current = "fp32"
    convolutions = [module for module in demo_model.modules() if isinstance(module, torch.nn.Conv2d)]
    hooks = [module.register_forward_hook(lambda _m, _i, out: seen[current].add(out.dtype)) for module in convolutions]
    try:
        fp32 = inference.predict(demo_model, image, resolution=resolution, precision="fp32")
        current = "bf16"
        fast = inference.predict(demo_model, image, resolution=resolution, precision="bf16")
    finally:
        for hook in hooks:
            hook.remove()
    # bf16 really ran: the convolutions inside the forward pass computed in bfloat16 (not a silent fp32)
    assert seen["fp32"] == {torch.float32} and torch.bfloat16 in seen["bf16"]
    assert fp32.shape == fast.shape == trace.shape  # back on the micrograph's grid at any resolution
    assert np.abs(fp32 - fast).mean() < 2e-3
    assert abs(bce(fp32, trace) - bce(fast, trace)) < 1e-3
    assert abs(gaussian_loss(fp32, trace) - gaussian_loss(fast, trace)) < 1e-3


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


def _train(dataset, output, progress=None, **fields):
    """Train with ``TrainOptions(**fields)`` to the end, the way the CLI does."""
    return run_steps(training.train_steps(dataset, output, TrainOptions(**fields)), progress)


def test_training_two_epochs_writes_loadable_checkpoints_and_lowers_the_loss(tmp_path):
    data = tiny_dataset(tmp_path / "data", 8)
    out = tmp_path / "ckpt"
    losses = _train(data, out, name="tiny", epochs=2, base_width=2, lr=1e-2, batch_size=2, size=None)
    assert len(losses) == 2 and losses[1] < losses[0]
    assert [c.path.name for c in checkpoints.find_checkpoints(out)] == ["tiny_0.pth", "tiny_1.pth"]
    for item in checkpoints.find_checkpoints(out):
        assert checkpoints.load_checkpoint(item.path).base_width == 2
    assert not [p for p in out.iterdir() if "tmp" in p.name]
    # a rerun resumes after the last file: one more epoch, one more file
    more = _train(data, out, name="tiny", epochs=3, base_width=2, lr=1e-2, batch_size=2, size=None)
    assert len(more) == 1
    assert [c.epoch for c in checkpoints.find_checkpoints(out)] == [0, 1, 2]
    assert _train(data, out, name="tiny", epochs=3, base_width=2, size=None) == []


def test_interrupted_training_leaves_only_complete_checkpoints(tmp_path):
    data = tiny_dataset(tmp_path / "data", count=4)
    out = tmp_path / "ckpt"

    def stop(step: training.TrainProgress) -> None:
        if step.epoch == 1 and step.batch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(data, out, epochs=3, base_width=2, batch_size=2, size=None, progress=stop)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["unet_0.pth"]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp.pth")]
    checkpoints.load_checkpoint(out / "unet_0.pth")


def test_training_input_errors(tmp_path):
    data = tiny_dataset(tmp_path / "data", count=2)
    (data / "label" / "crop_1.png").rename(data / "label" / "other.png")
    with pytest.raises(InputError, match="unpaired: crop_1.png, other.png"):
        _train(data, tmp_path / "out", epochs=1, base_width=2, size=None)
    (data / "label" / "other.png").rename(data / "label" / "crop_1.png")
    with pytest.raises(InputError, match="unknown loss 'dice'"):
        _train(data, tmp_path / "out", epochs=1, base_width=2, loss="dice")
    with pytest.raises(InputError, match="no image/ folder"):
        _train(tmp_path, tmp_path / "out", epochs=1)


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------
def test_cli_predict_writes_8bit_maps_and_refuses_to_overwrite(tmp_path, capsys):
    ckpt = _save(_model(4), tmp_path / "unet_3.pth")
    image = np.random.default_rng(1).integers(0, 256, (50, 70), dtype=np.uint8)
    for name in ("a.png", "b.tif"):
        Image.fromarray(image).save(tmp_path / name)
    out = tmp_path / "out"
    args = ["predict", str(ckpt), str(tmp_path / "a.png"), str(tmp_path / "b.tif"), "-o", str(out),
            "--resolution", "64", "--precision", "fp32"]
    assert main(args) == 0
    written = read_image(out / "predict_a.png")
    assert written.dtype == np.uint8 and written.shape == (50, 70)  # the network saw 64 x 64
    want = inference.predict(checkpoints.load_checkpoint(ckpt), image, resolution=64, precision="fp32")
    assert np.abs(written.astype(float) - want * 255).max() <= 0.5 + 1e-3
    assert (out / "predict_b.png").is_file()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    native = ["predict", str(ckpt), str(tmp_path / "a.png"), "-o", str(tmp_path / "n"), "--resolution", "native"]
    assert main(native) == 0
    assert read_image(tmp_path / "n" / "predict_a.png").shape == (50, 70)


def test_cli_predict_bad_input_exits_2(tmp_path, capsys):
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "bad_1.pth").write_bytes(b"not a checkpoint")
    assert main(["predict", str(tmp_path / "bad_1.pth"), str(tmp_path / "a.png"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graintrace predict: error:") and err.count("\n") == 1
    assert not (tmp_path / "o" / "predict_a.png").exists()
    ckpt = _save(_model(4), tmp_path / "unet_1.pth")
    assert main(["predict", str(ckpt), str(tmp_path / "missing.png"), "-o", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_train(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "data", count=4)
    out = tmp_path / "ckpt"
    args = ["train", str(data), "-o", str(out), "--epochs", "2", "--width", "2", "--size", "native",
            "--batch-size", "2", "--name", "lab", "--lr", "0.01"]
    assert main(args) == 0
    assert "epoch 1: mean training loss" in capsys.readouterr().out
    assert [c.path.name for c in checkpoints.find_checkpoints(out)] == ["lab_0.pth", "lab_1.pth"]
    assert main(["train", str(tmp_path / "nowhere"), "-o", str(out)]) == 2
    assert "no image/ folder" in capsys.readouterr().err
    assert main(["train", str(data), "-o", str(out), "--size", "40"]) == 2
    assert "multiple of 16" in capsys.readouterr().err


def _weights(path) -> dict:
    return checkpoints.read_state_dict(path)


def test_training_in_two_legs_gives_the_model_of_one_go(tmp_path):
    """Resumed with its optimiser state, a run ends with the same weights as one trained in one go.

    The U-Net's dropout draws from torch's global RNG; the caller's draws in between (here a
    torch.rand between the legs and before the one-go run) must not change what training does.
    """
    data = tiny_dataset(tmp_path / "data", count=4)
    fields = {"name": "tiny", "base_width": 2, "lr": 1e-2, "batch_size": 2, "size": None, "seed": 3,
              "save_every": 1}
    torch.manual_seed(123)
    _train(data, tmp_path / "legs", epochs=2, **fields)
    torch.rand(1000)  # someone else used the global RNG in between
    _train(data, tmp_path / "legs", epochs=4, **fields)
    _train(data, tmp_path / "one_go", epochs=4, **fields)
    legs, one_go = _weights(tmp_path / "legs" / "tiny_3.pth"), _weights(tmp_path / "one_go" / "tiny_3.pth")
    assert legs.keys() == one_go.keys()
    assert all(torch.equal(legs[k], one_go[k]) for k in legs)
    other = tmp_path / "other_seed"
    _train(data, other, epochs=4, **{**fields, "seed": 4})
    assert not all(torch.equal(legs[k], v) for k, v in _weights(other / "tiny_3.pth").items())
