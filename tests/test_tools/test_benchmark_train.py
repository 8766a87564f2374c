"""benchmark.py --train (training pairs/s per mode) and gpu_benchmark.py
(one Markdown table; here on CPU with --quick)."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from cli_helpers import run_python

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools', 'analysis_tools')
LSNET = osp.join(REPO, 'configs', 'lsnet',
                 'lsnet_difffpn_1xb8-10e_synthetic-128x128.py')


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def bench_tool():
    return load_tool('benchmark')


def test_train_modes_share_weights_and_differ_in_layout(bench_tool, capsys):
    cfg = Config.fromfile(LSNET)
    modes = bench_tool.train_modes(cfg, 'cpu', amp=True, channels_last=True)
    assert 'AmpOptimWrapper needs CUDA' in capsys.readouterr().out
    assert [name for name, _, _ in modes] == ['eager', 'channels-last']
    (_, eager, eager_wrapper), (_, cl, cl_wrapper) = modes
    assert type(eager_wrapper).__name__ == 'OptimWrapper'
    assert type(eager_wrapper.optimizer).__name__ == 'AdamW'  # the config's
    assert cl_wrapper.optimizer is not eager_wrapper.optimizer
    weight = eager.backbone.stages[1][1].conv_local.weight
    weight_cl = cl.backbone.stages[1][1].conv_local.weight
    assert torch.equal(weight, weight_cl) and weight is not weight_cl
    assert weight.is_contiguous()
    assert weight_cl.is_contiguous(memory_format=torch.channels_last)
    assert eager.training and cl.training


def test_benchmark_train_steps_the_optimiser(bench_tool):
    cfg = Config.fromfile(LSNET)
    data = bench_tool.train_batch(
        bench_tool.train_modes(cfg, 'cpu', False, False)[0][1], 2, (32, 48))
    assert [tuple(x.shape) for x in data['inputs']] == [(6, 32, 48)] * 2
    assert data['inputs'][0].dtype == torch.uint8
    mask = data['data_samples'][0].gt_sem_seg.data
    assert mask.shape == (1, 32, 48) and set(mask.unique().tolist()) <= {0, 1}
    lines, figures = bench_tool.benchmark_train(
        cfg, 2, (32, 32), repeats=1, warmup=1, device='cpu',
        channels_last=True)
    assert set(figures) == {'eager', 'channels-last'}
    assert all(f['pairs_per_s'] > 0 and f['peak_mib'] is None
               for f in figures.values())
    assert 'training, batch 2, 32x32' in lines[0]
    assert 'pairs/s' in lines[2] and 'x eager' in lines[2]


@pytest.mark.slow
def test_gpu_benchmark_runs_on_cpu_quick(tmp_path):
    out = tmp_path / 'gpu.md'
    text = run_python([osp.join(TOOLS, 'gpu_benchmark.py'), '--device', 'cpu',
                       '--quick', '--out', out], cwd=str(tmp_path))
    rows = [line for line in text.splitlines() if line.startswith('| ')]
    assert rows[0].startswith('| model | mode | train pairs/s (batch 2)')
    body = [row.split(' | ') for row in rows[1:]]
    assert [(r[0][2:], r[1]) for r in body] == [
        (name, mode) for name in (
            'lsnet_difffpn_1xb12-100e_cdd-256x256',
            'bisenetv2cd_bga-booster_1xb16-40k_cdd-256x256',
            'fc-siam-diff_unet_1xb32-50e_cdd-256x256')
        for mode in ('fp32', 'channels-last')]
    for row in body:  # pairs/s of training, batch 1 and 2 inference
        assert all(float(row[i]) > 0 for i in (2, 4, 5, 6)), row
    written = out.read_text().splitlines()
    assert written[0].startswith('CPU, ')
    assert [line for line in written if line.startswith('| ')] == rows
