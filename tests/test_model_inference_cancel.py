"""Cancel inside a forward pass: stop() is checked before every layer, and the map is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_graintrace.core.model import UNet, inference
from napari_graintrace.core.options import PredictOptions


@pytest.fixture
def model() -> UNet:
    torch.manual_seed(3)
    return UNet(base_width=4).eval()


def layers(model: torch.nn.Module) -> int:
    """The convolutions: the layers that cost time, each must be preceded by a check."""
    return sum(isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d) for m in model.modules())


def test_a_pass_that_is_not_stopped_gives_the_same_map(model, rng):
    image = rng.random((96, 80)).astype(np.float32)
    plain = inference.predict(model, image, resolution=None, precision="fp32")
    checks = []
    watched = inference.run_steps(inference.predict_steps(
        model, image, PredictOptions(resolution=None, precision="fp32"), stop=lambda: checks.append(1) and False))
    np.testing.assert_array_equal(watched, plain)
    assert len(checks) >= layers(model)
    assert all(not m._forward_pre_hooks for m in model.modules())  # hooks removed


def test_stop_is_seen_inside_the_pass(model, rng):
    image = rng.random((64, 64)).astype(np.float32)
    checks = []

    def stop() -> bool:
        checks.append(1)
        return len(checks) > 10  # well before the pass's last layer

    steps = inference.predict_steps(model, image, PredictOptions(resolution=None, precision="fp32"), stop=stop)
    assert next(steps) == (0, 1)
    with pytest.raises(inference.Cancelled):
        next(steps)
    assert len(checks) == 11 < layers(model)  # raised at the first check that said stop
    assert all(not m._forward_pre_hooks for m in model.modules())  # the model is left as it was
    np.testing.assert_array_equal(  # and still predicts normally
        inference.predict(model, image, resolution=None, precision="fp32"),
        inference.predict(model, image, resolution=None, precision="fp32"))
