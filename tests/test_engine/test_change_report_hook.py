"""ChangeReportHook writes ChangeMetric's PR curve and per-image table into
runner.log_dir, named by the stage."""
import csv
import json
import os.path as osp
from pathlib import Path
from unittest.mock import MagicMock

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd  # noqa: F401
from mmcd.engine import ChangeReportHook
from mmcd.evaluation import ChangeMetric
from mmcd.registry import HOOKS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def make_sample(name, gt, pred, seg_logits=None):
    sample = SegDataSample()
    sample.set_metainfo(dict(img_path=osp.join('A', name),
                             img_path2=osp.join('B', name)))
    sample.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    sample.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
    if seg_logits is not None:
        sample.seg_logits = PixelData(
            data=torch.as_tensor(seg_logits, dtype=torch.float32))
    return sample


# a.png: TP 2, FP 1, FN 0, TN 1: P 2/3, R 1, F1 4/5, IoU 2/3
# b.png: TP 0, FP 0, FN 1, TN 1: P 0/0 (empty), R 0, F1 0, IoU 0
# c.png: nothing to find, nothing found: all empty, last
SAMPLES = [
    make_sample('a.png', [[1, 0], [0, 1]], [[1, 0], [1, 1]],
                [[[0.9, 0.2], [0.6, 0.7]]]),
    make_sample('b.png', [[1, 0]], [[0, 0]], [[[0.4, 0.1]]]),
    make_sample('c.png', [[0]], [[0]], [[[0.2]]]),
]
TABLE = [
    ['pair', 'Precision', 'Recall', 'F1', 'IoU', 'TP', 'FP', 'FN', 'TN'],
    ['b.png', '', '0.000000', '0.000000', '0.000000', '0', '0', '1', '1'],
    ['a.png', '0.666667', '1.000000', '0.800000', '0.666667', '2', '1', '0',
     '1'],
    ['c.png', '', '', '', '', '0', '0', '0', '1'],
]


def evaluated_metric(**kwargs):
    metric = ChangeMetric(threshold_sweep=True, per_image_table=True,
                          num_bins=4, **kwargs)
    metric.process({}, [s.to_dict() for s in SAMPLES])
    metric.evaluate(len(SAMPLES))
    return metric


def minimal_runner(log_dir, metrics, iteration=0):
    runner = MagicMock()
    runner.log_dir = str(log_dir)
    runner.iter = iteration
    runner.val_evaluator.metrics = metrics
    runner.test_evaluator.metrics = metrics
    return runner


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.reader(f))


def test_val_during_training_writes_curve_and_table(tmp_path):
    metric = evaluated_metric()
    runner = minimal_runner(tmp_path, [MagicMock(), metric], iteration=40)
    hook = HOOKS.build(dict(type='ChangeReportHook'))
    hook.after_val_epoch(runner, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'per_image_val_iter_40.csv', 'pr_curve_val_iter_40.json',
        'pr_curve_val_iter_40.png'
    ]
    with open(tmp_path / 'pr_curve_val_iter_40.json') as f:
        curve = json.load(f)
    assert curve == json.loads(
        json.dumps(dict(metric.last_sweep, num_bins=4, score=curve['score'])))
    with open(tmp_path / 'pr_curve_val_iter_40.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # worst F1 first, 0/0 scores empty
    assert read_csv(tmp_path / 'per_image_val_iter_40.csv') == TABLE


def test_test_and_plain_val_stages_never_overwrite(tmp_path):
    runner = minimal_runner(tmp_path, [evaluated_metric()])
    hook = ChangeReportHook()
    hook.after_test_epoch(runner, {})
    hook.after_test_epoch(runner, {})
    hook.after_val_epoch(runner, {})  # a validation without training
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'per_image_test.csv', 'per_image_test_1.csv', 'per_image_val.csv',
        'pr_curve_test.json', 'pr_curve_test.png', 'pr_curve_test_1.json',
        'pr_curve_test_1.png', 'pr_curve_val.json', 'pr_curve_val.png'
    ]
    assert read_csv(tmp_path / 'per_image_test_1.csv') == TABLE


def test_only_what_the_metric_kept_and_main_process_only(
        tmp_path, monkeypatch):
    metric = ChangeMetric(per_image_table=True)
    metric.process({}, [s.to_dict() for s in SAMPLES])
    metric.evaluate(len(SAMPLES))
    runner = minimal_runner(tmp_path / 'run', [metric, ChangeMetric()])
    ChangeReportHook(out_dir='reports').after_test_epoch(runner, {})
    assert sorted(p.name for p in (tmp_path / 'run' / 'reports').iterdir()
                  ) == ['per_image_test.csv']

    runner = minimal_runner(tmp_path / 'rank1', [evaluated_metric()])
    import mmengine.dist.utils as dist_utils
    monkeypatch.setattr(dist_utils, 'get_rank', lambda group=None: 1)
    ChangeReportHook().after_test_epoch(runner, {})
    assert not (tmp_path / 'rank1').exists()


def test_default_runtime_registers_hook_and_visualizer():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'default_runtime.py'))
    assert dict(type='ChangeReportHook') in cfg.custom_hooks
    assert cfg.visualizer.type == 'ChangeLocalVisualizer'


class ToyModel(BaseModel):
    """Trains one parameter; predicts the stored samples."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            return dict(loss=(self.weight - 1).pow(2).sum())
        return [SAMPLES[i] for i in inputs.tolist()]


@pytest.mark.slow
def test_real_runner_names_val_by_iteration_and_test(tmp_path):
    loader = dict(
        dataset=[dict(inputs=i) for i in range(len(SAMPLES))],
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        batch_size=3)
    evaluator = dict(type='ChangeMetric', threshold_sweep=True,
                     per_image_table=True, num_bins=4)
    runner = Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        val_dataloader=loader,
        test_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=2, val_interval=2),
        val_cfg=dict(),
        test_cfg=dict(),
        val_evaluator=evaluator,
        test_evaluator=evaluator,
        custom_hooks=[dict(type='ChangeReportHook')],
        default_scope='mmcd')
    runner.train()
    runner.test()
    names = sorted(p.name for p in Path(runner.log_dir).iterdir()
                   if p.name.startswith(('per_image', 'pr_curve')))
    assert names == [
        'per_image_test.csv', 'per_image_val_iter_2.csv',
        'pr_curve_test.json', 'pr_curve_test.png', 'pr_curve_val_iter_2.json',
        'pr_curve_val_iter_2.png'
    ]
    assert read_csv(osp.join(runner.log_dir, 'per_image_test.csv')) == TABLE
