"""The "Train" widget as a person uses it: docked from the plugin menu, folders chosen through the FileEdit
buttons (the dialog answers), buttons clicked; the training runs in its own process while Epoch sweep follows
it and Inspect's epoch dropdown grows; Cancel, Resume, and closing napari stop it cleanly."""

from __future__ import annotations

import pytest
from pytestqt.exceptions import TimeoutError as qt_timeout
from synthetic import tiny_dataset
from widget_session import PLUGIN, Dialogs, laptop_viewer, press

from napari_graintrace.core.cache import PredictionCache
from napari_graintrace.core.model import checkpoints, run_status
from napari_graintrace.data import DEMO_CHECKPOINTS


def shown(control) -> bool:
    """Shown in its panel (not hidden by the widget), whether or not the dock is on screen now."""
    return not control.native.isHidden()


def combo_texts(combo) -> list[str]:
    """What a dropdown offers (a nullable one's empty entry left out)."""
    return [text for text in (combo.native.itemText(i) for i in range(combo.native.count())) if text != "-----"]


def choose_in_combo(combo, text: str) -> None:
    index = combo.native.findText(text)
    assert index >= 0, f"{text!r} is not offered: {combo_texts(combo)}"
    combo.native.setCurrentIndex(index)


@pytest.fixture
def viewer(make_napari_viewer):
    return laptop_viewer(make_napari_viewer)  # 1366 x 768, the NIST sample opened


def test_fine_tune_from_the_demo_checkpoint_watched_live(viewer, qtbot, tmp_path, monkeypatch, errors):
    dialogs = Dialogs(monkeypatch)
    data = tiny_dataset(tmp_path / "data", count=6, size=64)
    run = tmp_path / "run"
    _, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    _, inspect = viewer.window.add_plugin_dock_widget(PLUGIN, "Inspect prediction")
    dialogs.choose(inspect, inspect.checkpoint_folder, run, qtbot)  # the run's folder, before its first checkpoint

    dialogs.choose(train, train.dataset_folder, data, qtbot)
    assert train.start_from.value == "checkpoint" and shown(train.epoch) and not shown(train.base_width)  # width: the file's
    dialogs.choose(train, train.checkpoint_folder, DEMO_CHECKPOINTS, qtbot)
    assert combo_texts(train.epoch)[-1] == "epoch 59  (demo_59.pth)"  # Inspect's dropdown, the latest chosen
    assert train.epoch.value.path.name == "demo_59.pth"
    train.epochs.value = 4
    train.train_size.value = 64
    choose_in_combo(train.device, "cpu")
    dialogs.choose(train, train.output_folder, run, qtbot)
    press(train, train.run_button, qtbot)
    assert train.busy and not train.run_button.native.isEnabled() and train.cancel_button.native.isEnabled()

    press(train, train.watch_button, qtbot)  # Epoch sweep docks with this run added
    sweep = viewer.window.add_plugin_dock_widget(PLUGIN, "Epoch sweep")[1]  # the one it docked
    assert sweep is train.sweep_widget or type(train.sweep_widget).__name__ == "PublicOnlyProxy"
    sweep.cache = PredictionCache(tmp_path / "cache")
    assert list(sweep.runs) == ["unet (run)"]
    choose_in_combo(sweep.image_layer, "steel micrograph")
    choose_in_combo(sweep.trace_layer, "steel trace")
    press(sweep, sweep.follow_button, qtbot)
    assert sweep.busy

    statuses, curve_lengths, offered = set(), set(), set()

    def watch() -> bool:
        statuses.add(train.status.value)
        if sweep.result is not None and sweep.result.rows:
            curve_lengths.add(len(sweep.result.epochs_of("unet (run)")))
        offered.add(len(combo_texts(inspect.epoch)))
        return not train.busy and not sweep.busy and len(combo_texts(inspect.epoch)) == 4

    try:
        qtbot.waitUntil(watch, timeout=240_000)
    except qt_timeout:
        raise AssertionError(f"train busy {train.busy} ({train.status.value}), sweep busy {sweep.busy} "
                             f"({sweep.progress.label}), Inspect offers {combo_texts(inspect.epoch)}") from None
    # progress was shown while it ran (a 3-epoch run can finish between two polls of an unloaded machine,
    # so the time-left wording is checked on a running progress record below)
    assert any(s.startswith("epoch ") for s in statuses), statuses
    assert train.status.value.startswith("finished"), train.status.value
    assert [c.epoch for c in checkpoints.find_checkpoints(run)] == [0, 1, 2, 3]
    assert checkpoints.load_checkpoint(run / "unet_0.pth").base_width == 4  # fine-tuned from demo_59
    # the sweep followed the run to its end (the finished marker), scoring every epoch as it landed
    assert sweep.result.epochs_of("unet (run)") == [0, 1, 2, 3]
    assert len(curve_lengths) > 1, curve_lengths  # the curves grew while it trained
    drawn = [line for ax in sweep.figure.axes for line in ax.get_lines() if line.get_gid() == "mean|unet (run)|"]
    assert drawn and list(drawn[0].get_xdata()) == [0, 1, 2, 3]
    assert combo_texts(inspect.epoch) == [f"epoch {e}  (unet_{e}.pth)" for e in range(4)]
    assert not train.resume_button.native.isEnabled()  # finished: nothing to resume
    assert not errors


def test_cancel_resume_and_closing_napari_stop_the_training_process(viewer, qtbot, tmp_path, monkeypatch, errors):
    dialogs = Dialogs(monkeypatch)
    data = tiny_dataset(tmp_path / "data", count=4, size=32)
    run = tmp_path / "run"
    _, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    dialogs.choose(train, train.dataset_folder, data, qtbot)
    choose_in_combo(train.start_from, "scratch")
    assert shown(train.base_width) and not shown(train.epoch)
    train.base_width.value = 2
    train.train_size.value = 32
    train.epochs.value = 100_000  # longer than the test: only Cancel or closing ends it
    choose_in_combo(train.device, "cpu")
    dialogs.choose(train, train.output_folder, run, qtbot)
    press(train, train.run_button, qtbot)
    qtbot.waitUntil(lambda: (run / "unet_1.pth").exists(), timeout=120_000)
    first = train.training.process
    press(train, train.cancel_button, qtbot)
    qtbot.waitUntil(lambda: train.resume_button.native.isEnabled(), timeout=60_000)  # the process has ended
    assert first.returncode == 0 and train.status.value.startswith("stopped in epoch"), train.status.value
    assert run_status.read_progress(run, "unet")["state"] == "stopped"
    done = [c.epoch for c in checkpoints.find_checkpoints(run)]
    assert train.resume_button.native.isEnabled() and train.run_button.native.isEnabled()

    press(train, train.resume_button, qtbot)  # continues after the last checkpoint, in a new process
    qtbot.waitUntil(lambda: (run / f"unet_{done[-1] + 2}.pth").exists(), timeout=120_000)
    second = train.training.process
    assert second is not first and second.poll() is None
    assert [c.epoch for c in checkpoints.find_checkpoints(run)][: len(done)] == done

    viewer.close()  # napari closes: the training is asked to stop, and does
    qtbot.waitUntil(lambda: second.poll() is not None, timeout=60_000)
    assert second.returncode == 0  # it stopped as asked (not killed)
    for item in checkpoints.find_checkpoints(run):  # and left only complete checkpoints
        checkpoints.load_checkpoint(item.path)
    assert not [p for p in run.iterdir() if ".tmp" in p.name]
    assert not errors


def test_bad_choices_are_notifications_and_nothing_starts(viewer, qtbot, tmp_path, monkeypatch, errors):
    dialogs = Dialogs(monkeypatch)
    _, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    press(train, train.run_button, qtbot)  # nothing chosen
    assert errors and "choose" in errors[-1]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x_1.pth").write_bytes(b"not a checkpoint")
    dialogs.choose(train, train.dataset_folder, tiny_dataset(tmp_path / "data", count=2), qtbot)
    dialogs.choose(train, train.checkpoint_folder, bad, qtbot)
    dialogs.choose(train, train.output_folder, tmp_path / "out", qtbot)
    press(train, train.run_button, qtbot)
    assert errors[-1].startswith("x_1.pth: refused")
    train.learning_rate.value = "fast"
    choose_in_combo(train.start_from, "scratch")
    press(train, train.run_button, qtbot)
    assert "learning rate" in errors[-1]
    assert train.training is None and not (tmp_path / "out").exists()



def test_progress_text_says_epoch_batch_loss_and_time_left():
    from napari_graintrace._widgets.train import progress_text

    running = {"state": "running", "epoch": 3, "epochs": 10, "batch": 5, "batches": 36, "loss": 0.12345,
               "seconds_left": 130, "checkpoint": "unet_2.pth"}
    assert progress_text(running) == "epoch 3/9, batch 5/36, loss 0.1235, 2 min 10 s left; last saved unet_2.pth"
    assert "left" not in progress_text({**running, "state": "finished"})
