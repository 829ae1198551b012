"""Data-parallel training under torchrun: two CPU processes (gloo) write one set of checkpoints."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys

import torch
from synthetic import tiny_dataset

from napari_graintrace.core.model import checkpoints


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parameter_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def test_torchrun_two_process_gloo_training_writes_one_set_of_checkpoints(tmp_path):
    data = tiny_dataset(tmp_path / "data", 6)
    out = tmp_path / "ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--nnodes", "1",
               "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
               "-m", "napari_graintrace.train", str(data), "-o", str(out), "--name", "ddp", "--epochs", "1",
               "--width", "4", "--size", "native", "--batch-size", "2", "--lr", "1e-2", "--device", "cpu"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    hashes = dict(re.findall(r"rank (\d+) of 2: parameters sha256 ([0-9a-f]{64})", run.stdout))
    assert set(hashes) == {"0", "1"} and hashes["0"] == hashes["1"], run.stdout
    files = sorted(p.name for p in out.iterdir())
    # one set (rank 0 alone writes, the run-status files too), no temp files
    assert files == [".ddp.finished", ".ddp.progress.json", ".ddp.train_state.pth", "ddp_0.pth"], files
    model = checkpoints.load_checkpoint(out / "ddp_0.pth")
    assert model.base_width == 4 and _parameter_hash(model) == hashes["0"]
    assert "gloo" in run.stdout and "2 processes" in run.stdout
