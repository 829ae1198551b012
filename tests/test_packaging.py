"""The plugin is found by napari from this install and from a wheel in a fresh virtual environment."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def manifest() -> dict:
    return yaml.safe_load((ROOT / "napari.yaml").read_text())


def test_every_manifest_python_name_imports():
    for command in manifest()["contributions"]["commands"]:
        module, _, attribute = command["python_name"].partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), command["id"]


def test_every_widget_is_in_a_contributable_napari_menu():
    from napari._app_model.constants import MenuId  # the ids napari lets plugins add to
    from npe2 import PluginManifest

    parsed = PluginManifest.from_file(ROOT / "napari.yaml")
    contributable = {str(menu) for menu in MenuId.contributables()}
    placed = {}
    for menu, items in parsed.contributions.menus.items():
        assert menu in contributable, menu
        placed.update({item.command: menu for item in items})
    assert {widget.command for widget in parsed.contributions.widgets} == set(placed)


def test_packaged_manifest_is_the_top_level_one():
    packaged = ROOT / "src" / "napari_graintrace" / "napari.yaml"
    assert packaged.is_symlink() and packaged.resolve() == (ROOT / "napari.yaml").resolve()


def test_core_and_cli_import_no_qt():
    code = (
        "import sys, napari_graintrace.cli, napari_graintrace.core.scoring, napari_graintrace.core.data, napari_graintrace.core.grains;"
        "bad = [m for m in ('qtpy', 'PyQt6', 'napari', 'magicgui') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _npe2_sees_plugin(bin_dir: Path) -> None:
    validate = subprocess.run([bin_dir / "npe2", "validate", "napari-graintrace"], capture_output=True, text=True,
                              check=False)
    assert validate.returncode == 0 and "valid" in validate.stdout, validate.stdout + validate.stderr
    listed = subprocess.run(
        [bin_dir / "npe2", "list", "--fields", "name", "-f", "json"], capture_output=True, text=True, check=True
    )
    assert "napari-graintrace" in [entry["name"] for entry in json.loads(listed.stdout)]


def test_npe2_validates_this_install():
    _npe2_sees_plugin(BIN)


@pytest.mark.slow
def test_wheel_in_fresh_venv(tmp_path):
    """Build the wheel, install it with its dependencies in a new venv, and ask npe2 and napari."""
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "dist", ROOT],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("napari_graintrace-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    pip = [bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # pinned first: never the multi-GB CUDA build
    subprocess.run([*pip, str(wheel)], check=True)
    _npe2_sees_plugin(bin_dir)
    code = (
        "import napari;"
        "from npe2 import PluginManager; pm = PluginManager.instance(); pm.discover();"
        "import napari_graintrace, pathlib;"
        "print(pm.get_manifest('napari-graintrace').display_name, pathlib.Path(napari_graintrace.__file__).parent)"
    )
    out = subprocess.run([bin_dir / "python", "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""}).stdout
    assert out.startswith("Grain Trace") and str(env_dir) in out  # the wheel's copy, not this checkout
    result = subprocess.run([bin_dir / "graintrace", "--help"], capture_output=True, text=True, check=True)
    assert "score" in result.stdout
