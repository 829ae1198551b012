"""The differentiable tolerant P/R/F (core.tolerant): equal to the numpy score, true gradients, trainable."""

from __future__ import annotations

import brute_force as ref
import numpy as np
import pytest
import torch
from synthetic import tiny_dataset

from napari_graintrace.cli import main
from napari_graintrace.core.errors import InputError
from napari_graintrace.core.model import checkpoints, tolerant, training
from napari_graintrace.core.options import TrainOptions
from napari_graintrace.core.scoring import scores
from napari_graintrace.core.steps import run_steps


def _as_tensor(array: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)).to(dtype)


def _noisy_predictions(trace: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    shifted = ref.shifted(trace.astype(np.float64), 0, 2)
    return [
        np.clip(shifted * 0.8 + rng.random(trace.shape) * 0.3, 0, 1),  # off by two pixels, noisy
        np.where(rng.random(trace.shape) < 0.5, trace, 0.0).astype(np.float64),  # half the trace, exact zeros
        rng.random(trace.shape),
    ]


# -- values ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["nist_trace", "al_film_trace"])
@pytest.mark.parametrize("sigma,window", [(3.0, 15), (1.0, 5), (2.5, 9)])
def test_equals_numpy_tolerant_prf_on_real_traces(fixture, sigma, window, request, rng):
    trace = request.getfixturevalue(fixture)
    preds = _noisy_predictions(trace, rng)
    batch = torch.stack([_as_tensor(p) for p in preds])[:, None]  # (B, 1, H, W), one F per image
    target = _as_tensor(trace).expand_as(batch)
    for dtype in (torch.float64, torch.float32):
        got = tolerant.tolerant_prf(batch.to(dtype), target.to(dtype), sigma, window)
        for i, pred in enumerate(preds):
            want = scores.tolerant_prf(pred, trace, sigma, window)
            assert [float(v[i, 0]) for v in got] == pytest.approx(want, abs=1e-5)
    f_mean = np.mean([scores.tolerant_prf(p, trace, sigma, window)[2] for p in preds])
    assert float(tolerant.tolerant_f_loss(batch, target, sigma, window)) == pytest.approx(1 - f_mean, abs=1e-5)


def test_soft_dilation_equals_the_definition_and_the_gaussian_map(rng, nist_trace):
    trace = nist_trace[:120, :150]
    pred = rng.random(trace.shape)
    got = tolerant.soft_dilation(_as_tensor(pred), 2.0, 7).numpy()
    np.testing.assert_allclose(got, ref.soft_dilation(pred, 2.0, 7), atol=1e-12, rtol=0)
    g = tolerant.soft_dilation(_as_tensor(trace), 3.0, 15).numpy()
    np.testing.assert_allclose(g, scores.gaussian_map(trace, 3.0, 15), atol=1e-6, rtol=0)


def test_edge_cases_and_logits(nist_trace):
    trace = _as_tensor(nist_trace[:64, :64])
    p, r, f = tolerant.tolerant_prf(torch.zeros_like(trace), trace)
    assert (float(p), float(r), float(f)) == (0.0, 0.0, 0.0)
    p, r, f = tolerant.tolerant_prf(trace.clone(), trace)
    assert (float(p), float(r), float(f)) == pytest.approx((1.0, 1.0, 1.0))
    assert float(tolerant.tolerant_prf(trace.clone(), torch.zeros_like(trace))[2]) == 0.0
    logits = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    target = (torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)) < 0.1).double()
    want = 1 - np.mean([scores.tolerant_prf(torch.sigmoid(lo[0]).numpy(), ta[0].numpy().astype(bool))[2]
                        for lo, ta in zip(logits, target, strict=True)])
    assert float(tolerant.tolerant_loss(logits, target)) == pytest.approx(want, abs=1e-9)
    both = tolerant.TolerantPRFLoss(tolerant_weight=0.5, bce_weight=1.0)(logits, target)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    assert float(both) == pytest.approx(float(bce) + 0.5 * want, abs=1e-9)
    with pytest.raises(InputError, match="sigma"):
        tolerant.tolerant_prf(trace, trace, sigma=0)
    with pytest.raises(InputError, match="window"):
        tolerant.TolerantPRFLoss(window=4)


# -- gradients -------------------------------------------------------------------------------
def test_gradcheck_soft_dilation_and_tolerant_loss():
    """float64 central differences against autograd; random values have no ties in the max."""
    generator = torch.Generator().manual_seed(7)
    pred = (0.05 + 0.9 * torch.rand(2, 1, 7, 9, generator=generator, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: tolerant.soft_dilation(x, 1.3, 5), (pred,))
    target = (torch.rand(2, 1, 7, 9, generator=generator) < 0.3).double()
    target[..., 3, :] = 1.0
    assert torch.autograd.gradcheck(lambda x: torch.stack(tolerant.tolerant_prf(x, target, 1.3, 5)), (pred,))
    logits = torch.randn(2, 1, 7, 9, generator=generator, dtype=torch.float64, requires_grad=True)
    loss = tolerant.TolerantPRFLoss(sigma=1.5, window=5, tolerant_weight=2.0, bce_weight=1.0)
    assert torch.autograd.gradcheck(lambda x: loss(x, target), (logits,))
    soft = torch.rand(2, 1, 7, 9, generator=generator, dtype=torch.float64)  # a resized, soft label
    assert torch.autograd.gradcheck(lambda x: tolerant.tolerant_loss(x, soft, 2.0, 3), (logits,))


def test_gradient_is_finite_on_blank_predictions_and_pulls_missed_boundaries_up():
    target = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    target[..., 8, :] = 1.0
    pred = torch.zeros_like(target, requires_grad=True)
    tolerant.tolerant_f_loss(pred, target).backward()
    assert torch.isfinite(pred.grad).all()
    logits = torch.full_like(target, -4.0, requires_grad=True)
    tolerant.tolerant_loss(logits, target).backward()
    assert torch.isfinite(logits.grad).all()
    assert float(logits.grad[..., 8, :].sum()) < 0  # descent raises the prediction on the missed line


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(rng, nist_trace):
    trace = nist_trace[:256, :256]
    pred = _noisy_predictions(trace, rng)[0]
    logits = torch.logit(_as_tensor(pred, torch.float32).clamp(1e-4, 1 - 1e-4))[None, None]
    target = _as_tensor(trace, torch.float32)[None, None]
    values, grads = [], []
    for device in ("cpu", "cuda"):
        x = logits.to(device).requires_grad_()
        value = training.make_loss("bce+tolerant")(x, target.to(device))
        value.backward()
        values.append(float(value))
        grads.append(x.grad.cpu())
    assert values[0] == pytest.approx(values[1], abs=1e-5)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


# -- training ----------------------------------------------------------------------------------


def test_losses_registry_and_make_loss():
    assert set(training.LOSSES) == {"bce", "tolerant", "bce+tolerant"}
    from napari_graintrace.core.options import LOSS_NAMES  # what the CLI and TrainOptions accept

    assert LOSS_NAMES == tuple(training.LOSSES)
    made = training.make_loss("bce+tolerant", tolerant_weight=0.25, sigma=2.0, window=9)
    assert (made.sigma, made.window, made.tolerant_weight, made.bce_weight) == (2.0, 9, 0.25, 1.0)
    assert training.make_loss("tolerant").bce_weight == 0.0
    with pytest.raises(InputError, match="tolerant weight"):
        training.make_loss("tolerant", tolerant_weight=-1.0)


def _train(dataset, output, progress=None, **fields):
    """Train with ``TrainOptions(**fields)`` to the end, the way the CLI does."""
    return run_steps(training.train_steps(dataset, output, TrainOptions(**fields)), progress)


@pytest.mark.parametrize("loss", ["tolerant", "bce+tolerant"])
def test_training_with_the_tolerant_loss_writes_loadable_checkpoints(tmp_path, loss):
    data = tiny_dataset(tmp_path / "data", 4)
    out = tmp_path / "ckpt"
    losses = _train(data, out, name="tol", epochs=2, base_width=2, lr=1e-2, batch_size=2, size=None,
                            loss=loss, tolerant_weight=0.5, sigma=2.0, window=7)
    assert len(losses) == 2 and all(np.isfinite(losses))
    series = checkpoints.find_checkpoints(out)
    assert [c.path.name for c in series] == ["tol_0.pth", "tol_1.pth"]
    for item in series:
        assert checkpoints.load_checkpoint(item.path).base_width == 2


def test_cli_train_tolerant_options(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "data", count=2)
    out = tmp_path / "ckpt"
    args = ["train", str(data), "-o", str(out), "--epochs", "1", "--width", "2", "--size", "native",
            "--batch-size", "2", "--loss", "bce+tolerant", "--tolerant-weight", "0.5", "--sigma", "2"]
    assert main(args) == 0
    assert "epoch 0: mean training loss" in capsys.readouterr().out
    assert [c.path.name for c in checkpoints.find_checkpoints(out)] == ["unet_0.pth"]
    assert main([*args[:-2], "--sigma", "0", "-o", str(tmp_path / "o2")]) == 2
    assert "sigma must be a positive number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(data), "-o", str(out), "--loss", "dice"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'dice'" in capsys.readouterr().err
