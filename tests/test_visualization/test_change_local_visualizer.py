"""ChangeLocalVisualizer composes A | B | overlay panels and records them."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image
from vis_helpers import RecordingBackend

import mmcd  # noqa: F401
from mmcd.registry import VISUALIZERS
from mmcd.visualization import (ChangeLocalVisualizer, compose_change_panel,
                                draw_change_overlay)

H, W = 2, 3
IMG_A = np.full((H, W, 3), 10, np.uint8)
IMG_B = np.full((H, W, 3), 100, np.uint8)
PRED = np.array([[1, 1, 0], [0, 0, 0]])
GT = np.array([[1, 0, 1], [0, 255, 0]])


def make_sample(pred=PRED, gt=GT):
    sample = SegDataSample()
    sample.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
    if gt is not None:
        sample.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    return sample


def build(name, **kwargs):
    # in mmcd's scope whatever scope an earlier test left current
    return VISUALIZERS.build(
        dict(_scope_='mmcd', type='ChangeLocalVisualizer', name=name,
             **kwargs))


def test_backends_get_the_panel(tmp_path):
    visualizer = build(
        'vis_backends',
        vis_backends=[
            dict(type='LocalVisBackend'),
            dict(type=RecordingBackend, name='recording')
        ],
        save_dir=str(tmp_path))
    assert isinstance(visualizer, ChangeLocalVisualizer)
    visualizer.add_datasample('val_p1', (IMG_A, IMG_B), make_sample(), step=3)

    want = compose_change_panel(IMG_A, IMG_B, PRED, GT)
    [(name, panel, step)] = visualizer.get_backend('recording').images
    assert (name, step) == ('val_p1', 3)
    np.testing.assert_array_equal(panel, want)
    written = tmp_path / 'vis_data' / 'vis_image' / 'val_p1_3.png'
    np.testing.assert_array_equal(np.array(Image.open(written)), want)


def test_out_file_instead_of_backends_and_show(tmp_path, monkeypatch):
    visualizer = build(
        'vis_out_file',
        vis_backends=[dict(type=RecordingBackend, name='recording')],
        alpha=1.0)
    shown = []
    monkeypatch.setattr(visualizer, 'show',
                        lambda image, win_name, wait_time: shown.append(
                            (win_name, wait_time)))
    out_file = tmp_path / 'panels' / 'p1.png'
    visualizer.add_datasample(
        'test_p1', (IMG_A, IMG_B),
        make_sample(gt=None),
        show=True,
        wait_time=2,
        out_file=str(out_file))
    assert visualizer.get_backend('recording').images == []
    assert shown == [('test_p1', 2)]
    panel = np.array(Image.open(out_file))
    assert panel.shape == (H, 3 * W, 3)
    # no gt: predicted change opaque red over date B
    assert panel[0, 2 * W].tolist() == [255, 0, 0]
    assert panel[1, 2 * W].tolist() == [100, 100, 100]


def test_draw_flags():
    visualizer = build(
        'vis_flags', vis_backends=[dict(type=RecordingBackend)])
    backend = visualizer.get_backend('RecordingBackend')
    visualizer.add_datasample('a', (IMG_A, IMG_B), make_sample(),
                              draw_gt=False)
    visualizer.add_datasample('b', (IMG_A, IMG_B), make_sample(),
                              draw_pred=False)
    visualizer.add_datasample('c', (IMG_A, IMG_B))
    a, b, c = (panel for _, panel, _ in backend.images)
    np.testing.assert_array_equal(a, compose_change_panel(IMG_A, IMG_B, PRED))
    # without the prediction, the ground truth's change is drawn
    np.testing.assert_array_equal(
        b, compose_change_panel(IMG_A, IMG_B, GT == 1))
    np.testing.assert_array_equal(c, np.concatenate([IMG_A, IMG_B, IMG_B], 1))


def test_draw_change_uses_alpha_and_ignore_index():
    visualizer = build('vis_draw_change', alpha=0.8, ignore_index=2)
    gt = np.array([[1, 0, 2], [0, 2, 0]])
    overlay = visualizer.draw_change(IMG_B, PRED, gt)
    np.testing.assert_array_equal(
        overlay, draw_change_overlay(IMG_B, PRED, gt, alpha=0.8,
                                     ignore_index=2))
    assert overlay[0, 0].tolist() == [20, 224, 20]  # TP, 0.2*100 + 0.8*255
    with pytest.raises(ValueError, match='gt must hold'):
        visualizer.draw_change(IMG_B, PRED, GT)  # 255 is not ignored now
