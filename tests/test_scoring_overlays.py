from __future__ import annotations

import numpy as np

from napari_graintrace.core.scoring import overlays, scores


def test_bce_overlay_colours():
    trace = np.array([[True, True, False, False]])
    pred = np.array([[0.9, 0.1, 0.0, 0.7]])
    rgb = overlays.bce_overlay(pred, trace)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 4, 3)
    assert rgb[0].tolist() == [[255, 255, 255], [255, 0, 0], [0, 0, 0], [0, 0, 255]]  # hit, miss, bg, false


def test_reward_colours_and_intensity():
    rgb = overlays.reward_rgb(np.array([[1.0, -1.0, 0.0, 0.5, -0.2]]))
    assert rgb[0].tolist() == [[0, 255, 0], [255, 0, 0], [0, 0, 0], [0, 128, 0], [51, 0, 0]]


def test_gaussian_reward_map_on_a_line():
    trace = np.zeros((1, 30), bool)
    trace[0, 10] = True
    reward = scores.gaussian_reward(trace, sigma=3.0, window=15)
    rgb = overlays.reward_rgb(reward)
    assert rgb[0, 10].tolist() == [0, 255, 0]  # on the line: R = +1
    assert rgb[0, 29].tolist() == [255, 0, 0]  # out of the window: R = -1
    far = int(np.argmax(reward[0, 10:] < 0)) + 10  # first pixel where G < 1/2
    assert rgb[0, far, 0] > 0 and rgb[0, far - 1, 1] > 0


def test_composite_is_prediction_times_reward():
    trace = np.array([[True, False, False]])
    pred = np.array([[0.5, 1.0, 0.0]])
    reward = scores.tophat_reward(trace, kernel=1)
    rgb = overlays.composite_rgb(pred, reward)
    assert rgb[0].tolist() == [[0, 128, 0], [255, 0, 0], [0, 0, 0]]


def test_recall_colours_missed_trace_pixels_red_and_found_green():
    trace = np.array([[True, True, True, False]])
    found = np.array([[0.0, 0.5, 1.0, 1.0]])  # D_p: missed, half found, found; off the trace: black
    rgb = overlays.recall_rgb(trace, found)
    assert rgb.dtype == np.uint8
    assert rgb[0].tolist() == [[255, 0, 0], [255, 255, 0], [0, 255, 0], [0, 0, 0]]
    pred = np.zeros((1, 9))
    pred[0, 0] = 1.0
    line = np.ones((1, 9), bool)
    rgb = overlays.recall_rgb(line, scores.soft_dilation(pred, sigma=2.0, window=9))
    assert rgb[0, 0].tolist() == [0, 255, 0] and rgb[0, -1, 0] == 255  # far from the prediction: missed
