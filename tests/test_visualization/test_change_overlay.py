"""Colours of the change overlay at known pixels."""
import numpy as np
import pytest
import torch

from mmcd.visualization import compose_change_panel, draw_change_overlay

GREY = 100
# one row of five pixels: TP, FP, FN, TN, ignore (predicted changed)
PRED = np.array([[1, 1, 0, 0, 1]])
GT = np.array([[1, 0, 1, 0, 255]])
TP, FP, FN, TN, IGN = range(5)


def grey_image(h=1, w=5):
    return np.full((h, w, 3), GREY, dtype=np.uint8)


def test_tp_fp_fn_colours_opaque():
    image = grey_image()
    out = draw_change_overlay(image, PRED, GT, alpha=1.0)
    assert out.dtype == np.uint8 and out.shape == (1, 5, 3)
    assert out[0, TP].tolist() == [0, 255, 0]  # green
    assert out[0, FP].tolist() == [255, 0, 0]  # red
    assert out[0, FN].tolist() == [0, 0, 255]  # blue
    assert out[0, TN].tolist() == [GREY] * 3  # untouched
    assert out[0, IGN].tolist() == [GREY] * 3  # untouched
    assert len({tuple(out[0, i]) for i in (TP, FP, FN, TN)}) == 4
    assert (image == GREY).all()  # the input is not modified


def test_colours_blended_with_alpha():
    # 0.4 * 100 + 0.6 * 255 = 193, 0.4 * 100 + 0.6 * 0 = 40
    out = draw_change_overlay(
        grey_image(), torch.from_numpy(PRED)[None], torch.from_numpy(GT),
        alpha=0.6)
    assert out[0, TP].tolist() == [40, 193, 40]
    assert out[0, FP].tolist() == [193, 40, 40]
    assert out[0, FN].tolist() == [40, 40, 193]
    assert out[0, TN].tolist() == [GREY] * 3
    assert out[0, IGN].tolist() == [GREY] * 3


def test_without_gt_tints_predicted_change_red():
    out = draw_change_overlay(grey_image(), PRED, alpha=1.0)
    for i in (0, 1, 4):
        assert out[0, i].tolist() == [255, 0, 0]
    for i in (2, 3):
        assert out[0, i].tolist() == [GREY] * 3
    half = draw_change_overlay(grey_image(), PRED)  # alpha 0.5
    # 0.5 * 100 + 0.5 * 255 = 177.5 -> 178 (round half to even)
    assert half[0, 0].tolist() == [178, 50, 50]


def test_panel_is_a_b_overlay():
    img_a = np.zeros((2, 3, 3), np.uint8)
    img_b = np.full((2, 3, 3), GREY, np.uint8)
    pred = np.array([[1, 0, 0], [0, 0, 0]])
    gt = np.array([[1, 0, 0], [0, 0, 1]])
    panel = compose_change_panel(img_a, img_b, pred, gt)
    assert panel.shape == (2, 9, 3) and panel.dtype == np.uint8
    np.testing.assert_array_equal(panel[:, :3], img_a)
    np.testing.assert_array_equal(panel[:, 3:6], img_b)
    np.testing.assert_array_equal(
        panel[:, 6:], draw_change_overlay(img_b, pred, gt))
    assert panel[0, 6].tolist() != [GREY] * 3  # TP drawn
    assert panel[1, 8].tolist() != [GREY] * 3  # FN drawn


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match='differs from image size'):
        draw_change_overlay(grey_image(), np.zeros((2, 5)))
    with pytest.raises(ValueError, match='gt must hold only'):
        draw_change_overlay(grey_image(), PRED, np.full((1, 5), 7))
    with pytest.raises(ValueError, match='two dates differ'):
        compose_change_panel(grey_image(), grey_image(w=4), PRED)
