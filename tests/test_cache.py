"""core.cache: the one prediction cache, bounded with least-recently-used eviction; `graintrace cache`."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from napari_graintrace.cli import main
from napari_graintrace.core.cache import PredictionCache, array_hash, checkpoint_hash, file_hash, parse_size
from napari_graintrace.core.errors import InputError

MAP = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
ENTRY_BYTES = MAP.nbytes + 128  # .npy header


@pytest.mark.parametrize("text, expected", [("0", 0), ("1024", 1024), ("500M", 500 * 1024**2), ("8G", 8 * 1024**3),
                                            ("1.5g", int(1.5 * 1024**3)), ("2KiB", 2048), (4096, 4096)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["lots", "-1G", "nanM"])
def test_parse_size_refuses(bad):
    with pytest.raises(InputError, match="cache limit"):
        parse_size(bad)


def test_store_load_round_trip_and_keys(tmp_path):
    cache = PredictionCache(tmp_path)
    entry = cache.path("c" * 64, array_hash(MAP), 256, "fp32")
    assert cache.load(entry) is None
    cache.store(entry, MAP)
    np.testing.assert_array_equal(cache.load(entry), MAP)
    others = {cache.path("d" * 64, array_hash(MAP), 256, "fp32"), cache.path("c" * 64, array_hash(MAP), None, "fp32"),
              cache.path("c" * 64, array_hash(MAP), 256, "bf16"), cache.path("c" * 64, array_hash(MAP[::-1]), 256, "fp32")}
    assert entry not in others and len(others) == 4


def test_eviction_drops_the_least_recently_used_first(tmp_path):
    cache = PredictionCache(tmp_path, limit=3 * ENTRY_BYTES)
    entries = [cache.path(f"{i:064d}", "img", 64, "fp32") for i in range(5)]
    now = time.time()
    for age, entry in zip((50, 40, 30), entries[:3], strict=True):
        cache.store(entry, MAP)
        os.utime(entry, (now - age, now - age))  # stored long ago, oldest first
    assert cache.load(entries[0]) is not None  # a hit: entry 0 becomes the most recently used
    cache.store(entries[3], MAP)  # over the limit: the least recently used (entry 1) goes
    on_disk = {p for p in entries if p.exists()}
    # reference: keep the most recently used entries that fit the limit
    assert on_disk == {entries[0], entries[2], entries[3]}
    assert cache.info().entries == 3 and cache.info().size <= cache.limit


def test_a_limit_smaller_than_one_entry_keeps_the_newest(tmp_path):
    cache = PredictionCache(tmp_path, limit=10)
    first, second = (cache.path(f"{i:064d}", "img", 64, "fp32") for i in range(2))
    cache.store(first, MAP)
    cache.store(second, MAP)
    assert not first.exists() and second.exists()


def test_limit_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAINTRACE_CACHE_LIMIT", "2M")
    assert PredictionCache(tmp_path).limit == 2 * 1024**2
    monkeypatch.setenv("GRAINTRACE_CACHE_LIMIT", "0")
    assert PredictionCache(tmp_path).limit == 0  # no limit
    monkeypatch.delenv("GRAINTRACE_CACHE_LIMIT")
    assert PredictionCache(tmp_path).limit == 4 * 1024**3


def test_checkpoint_hash_is_the_file_hash_and_follows_changes(tmp_path):
    path = tmp_path / "a_1.pth"
    path.write_bytes(b"one")
    assert checkpoint_hash(path) == file_hash(path)
    path.write_bytes(b"two, longer")
    assert checkpoint_hash(path) == file_hash(path)


def test_cli_cache_info_and_clear(tmp_path, capsys):
    cache = PredictionCache(tmp_path / "c")
    for i in range(3):
        cache.store(cache.path(f"{i:064d}", "img", 64, "fp32"), MAP)
    assert main(["cache", "info", "--cache", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "3 prediction(s)" in out and str(tmp_path / "c") in out
    assert main(["cache", "clear", "--cache", str(tmp_path / "c")]) == 0
    assert "removed 3 prediction(s)" in capsys.readouterr().out
    assert PredictionCache(tmp_path / "c").info().entries == 0
    assert main(["cache", "info", "--cache", str(tmp_path / "empty")]) == 0
    assert "0 prediction(s)" in capsys.readouterr().out
