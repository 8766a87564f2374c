"""ChangeVisualizationHook draws A | B | overlay panels named by pair
through the current ChangeLocalVisualizer."""
from unittest.mock import MagicMock

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmengine.visualization import Visualizer
from mmseg.structures import SegDataSample
from PIL import Image
from vis_helpers import RecordingBackend

import mmcd  # noqa: F401
from mmcd.engine import ChangeVisualizationHook
from mmcd.registry import HOOKS, VISUALIZERS
from mmcd.visualization import compose_change_panel

H, W = 4, 5


def write_pair(root, name, color_a, color_b, size=(H, W)):
    paths = []
    for sub, color in (('A', color_a), ('B', color_b)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        path = root / sub / name
        Image.fromarray(np.full((*size, 3), color, np.uint8)).save(path)
        paths.append(str(path))
    return paths


def make_output(img_path, img_path2, pred, gt=None):
    sample = SegDataSample()
    sample.set_metainfo(
        dict(img_path=img_path, img_path2=img_path2, ori_shape=(H, W)))
    sample.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
    if gt is not None:
        sample.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    return sample


def read_rgb(path):
    with Image.open(path) as img:
        return np.array(img.convert('RGB'))


@pytest.fixture
def data(tmp_path):
    a1, b1 = write_pair(tmp_path / 'data', 'p1.png', (10, 20, 30),
                        (100, 100, 100))
    a2, b2 = write_pair(tmp_path / 'data', 'p2.png', (0, 0, 0),
                        (50, 60, 70))
    pred = np.zeros((H, W), np.int64)
    pred[0, 0] = 1  # TP
    pred[0, 1] = 1  # FP
    gt = np.zeros((H, W), np.int64)
    gt[0, 0] = 1
    gt[1, 0] = 1  # FN
    gt[3, 4] = 255
    outputs = [make_output(a1, b1, pred, gt), make_output(a2, b2, pred)]
    runner = MagicMock()
    runner.log_dir = str(tmp_path / 'log')
    runner.iter = 7
    # the runner's visualizer, as default_runtime.py configures it
    VISUALIZERS.build(
        dict(
            type='ChangeLocalVisualizer',
            name=f'visualizer_{tmp_path.name}',
            vis_backends=[
                dict(type='LocalVisBackend'),
                dict(type=RecordingBackend, name='recording')
            ],
            save_dir=runner.log_dir))
    return runner, outputs


def recorded():
    return Visualizer.get_current_instance().get_backend('recording').images


def test_test_iter_writes_panels(data, tmp_path):
    runner, outputs = data
    hook = HOOKS.build(
        dict(type='ChangeVisualizationHook', draw=True, out_dir='vis_change'))
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0, data_batch=None, outputs=outputs)
    out_dir = tmp_path / 'log' / 'vis_change'
    assert sorted(p.name for p in out_dir.iterdir()) == ['p1.png', 'p2.png']

    panel = read_rgb(out_dir / 'p1.png')
    assert panel.shape == (H, 3 * W, 3)
    assert (panel[:, :W] == (10, 20, 30)).all()  # date A
    assert (panel[:, W:2 * W] == (100, 100, 100)).all()  # date B
    overlay = panel[:, 2 * W:]
    # alpha 0.5 over grey 100: 0.5*100 + 0.5*255 = 177.5 -> 178
    assert overlay[0, 0].tolist() == [50, 178, 50]  # TP green
    assert overlay[0, 1].tolist() == [178, 50, 50]  # FP red
    assert overlay[1, 0].tolist() == [50, 50, 178]  # FN blue
    assert overlay[2, 2].tolist() == [100, 100, 100]  # TN
    assert overlay[3, 4].tolist() == [100, 100, 100]  # ignore

    # no gt: predicted change tinted red over date B
    overlay = read_rgb(out_dir / 'p2.png')[:, 2 * W:]
    assert overlay[0, 0].tolist() == [152, 30, 35]  # 152.5 -> 152
    assert overlay[0, 1].tolist() == [152, 30, 35]
    assert overlay[1, 0].tolist() == [50, 60, 70]
    # written instead of recorded by the backends
    assert recorded() == []


def test_without_out_dir_backends_get_the_panels(data, tmp_path):
    runner, outputs = data
    hook = ChangeVisualizationHook(draw=True)
    hook.after_val_iter(runner, 0, outputs=outputs)
    names = [(name, step) for name, _, step in recorded()]
    assert names == [('val_p1', 7), ('val_p2', 7)]
    want = compose_change_panel(
        read_rgb(outputs[0].img_path), read_rgb(outputs[0].img_path2),
        outputs[0].pred_sem_seg.data, outputs[0].gt_sem_seg.data)
    np.testing.assert_array_equal(recorded()[0][1], want)
    # LocalVisBackend stores them under the run's vis_data
    local = tmp_path / 'log' / 'vis_data' / 'vis_image'
    assert sorted(p.name for p in local.iterdir()) == [
        'val_p1_7.png', 'val_p2_7.png'
    ]
    assert not (tmp_path / 'log' / 'vis_change').exists()


def test_show_alpha_and_wrong_visualizer(data, monkeypatch):
    runner, outputs = data
    visualizer = Visualizer.get_current_instance()
    shown = []
    monkeypatch.setattr(visualizer, 'show',
                        lambda image, win_name, wait_time: shown.append(
                            (win_name, wait_time)))
    ChangeVisualizationHook(
        draw=True, show=True, wait_time=3, alpha=1.0).after_test_iter(
            runner, 0, outputs=outputs[:1])
    assert shown == [('test_p1', 3)]
    assert recorded()[0][1][0, 2 * W].tolist() == [0, 255, 0]  # opaque TP

    Visualizer.get_instance('plain_visualizer_for_hook_test')
    with pytest.raises(TypeError, match='ChangeLocalVisualizer'):
        ChangeVisualizationHook(draw=True).after_test_iter(
            runner, 0, outputs=outputs[:1])


def test_out_dir_relative_and_absolute(data, tmp_path):
    runner, outputs = data
    ChangeVisualizationHook(draw=True, out_dir='show').after_test_iter(
        runner, 0, outputs=outputs[:1])
    assert (tmp_path / 'log' / 'show' / 'p1.png').is_file()
    absolute = tmp_path / 'elsewhere'
    ChangeVisualizationHook(draw=True, out_dir=str(absolute)).after_test_iter(
        runner, 0, outputs=outputs[:1])
    assert (absolute / 'p1.png').is_file()


def test_draw_false_and_interval(data, tmp_path):
    runner, outputs = data
    out_dir = tmp_path / 'log' / 'vis_change'
    ChangeVisualizationHook(out_dir='vis_change').after_test_iter(
        runner, 0, outputs=outputs)
    assert not out_dir.exists()
    ChangeVisualizationHook().after_test_iter(runner, 0, outputs=outputs)
    assert recorded() == []

    hook = ChangeVisualizationHook(draw=True, interval=2, out_dir='vis_change')
    hook.after_train_iter(runner, 1, outputs=outputs)  # never in training
    hook.after_val_iter(runner, 0, outputs=outputs)  # 1st batch: skipped
    assert not out_dir.exists()
    hook.after_val_iter(runner, 1, outputs=outputs[:1])  # 2nd batch: drawn
    assert sorted(p.name for p in out_dir.iterdir()) == ['p1.png']


def test_size_mismatch_and_duplicate_names_raise(data, tmp_path):
    runner, outputs = data
    a, b = write_pair(tmp_path / 'big', 'p3.png', 0, 0, size=(H * 2, W * 2))
    hook = ChangeVisualizationHook(draw=True)
    with pytest.raises(ValueError, match='original image size'):
        hook.after_test_iter(
            runner, 0, outputs=[make_output(a, b, np.zeros((H, W)))])

    a, b = write_pair(tmp_path / 'other', 'p1.png', 0, 0)
    hook.after_test_iter(runner, 0, outputs=outputs[:1])
    with pytest.raises(ValueError, match='already saved'):
        hook.after_test_iter(
            runner, 1, outputs=[make_output(a, b, np.zeros((H, W)))])
    # a new test round starts a new set of names
    hook.before_test_epoch(runner)
    hook.after_test_iter(
        runner, 0, outputs=[make_output(a, b, np.zeros((H, W)))])
