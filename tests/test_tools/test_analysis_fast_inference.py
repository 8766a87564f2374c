"""The fast inference path (mmcd.apis.fast_inference) and the benchmark:
logits equal to the eager model's within 1e-4; tools/test.py uses it unless
--no-fast. Timings are printed by the benchmark, never asserted."""
import copy
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.fileio import load

from mmcd.apis.fast_inference import (ChangeLogits, export_onnx,
                                      is_fast_model, prepare_fast_model)
from mmcd.datasets.synthetic import write_synthetic_cdd
from tool_test_utils import (LSNET, REPO, build_lsnet, run_tool,
                             save_checkpoint)

pytest.importorskip('onnxruntime')


@pytest.fixture(scope='module')
def models():
    eager = build_lsnet()
    return eager, prepare_fast_model(copy.deepcopy(eager))


@pytest.mark.parametrize('shape', [(1, 6, 64, 64), (3, 6, 40, 56)])
def test_fast_logits_equal_eager(models, shape):
    eager, fast = models
    assert is_fast_model(fast) and not is_fast_model(eager)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1)) * 255
    with torch.inference_mode():
        expected = ChangeLogits(eager)(x)
        got = fast.fast_logits(x)
    assert got.shape == expected.shape == (shape[0], 2, *shape[2:])
    assert (got - expected).abs().max() < 1e-4


def test_fast_logits_in_chunks_equal_one_run(models):
    """A batch split into runs of max_pixels_per_run gives the logits of
    one run: 3 pairs in runs of 1, side by side on two single-threaded
    sessions (chunks 0 and 2 on one, 1 on the other), and in runs of 2 and
    1 one after the other on a single-threaded runner."""
    _, fast = models
    x = torch.rand((3, 6, 40, 56),
                   generator=torch.Generator().manual_seed(4)) * 255
    runner = fast.fast_logits
    saved = runner.num_threads, runner.max_pixels_per_run
    whole = runner(x)
    try:
        runner.num_threads, runner.max_pixels_per_run = 2, 40 * 56
        side_by_side = runner(x)
        runner.num_threads, runner.max_pixels_per_run = 1, 2 * 40 * 56
        one_by_one = runner(x)
    finally:
        runner.num_threads, runner.max_pixels_per_run = saved
    assert len(runner._workers[1]) == 2
    torch.testing.assert_close(side_by_side, whole, rtol=0, atol=1e-5)
    torch.testing.assert_close(one_by_one, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_fast_predict_equals_eager(models, mode):
    eager, fast = models
    for m in (eager, fast):
        m.test_cfg = ConfigDict(mode=mode, crop_size=(32, 32),
                                stride=(24, 24))
    x = torch.randint(0, 256, (2, 6, 48, 48),
                      generator=torch.Generator().manual_seed(2)).float()
    with torch.no_grad():
        a, b = eager.predict(x), fast.predict(x)
    for sa, sb in zip(a, b):
        assert (sa.seg_logits.data - sb.seg_logits.data).abs().max() < 1e-4
    del fast.encode_decode  # back to eager
    assert not is_fast_model(fast)
    prepare_fast_model(fast)


@pytest.mark.parametrize('largest_slope', [1, 2])
def test_export_writes_prelu_as_relu_mix_dates_apart_keeps_modes(
        tmp_path, largest_slope):
    """PReLU is exported as x * a + relu(x * (1 - a)) (slopes <= 1) or
    relu(x) * (1 - a) + x * a (any slope); the backbone runs once per date; nn.PReLU and
    joint_date_pass are restored, and every module keeps its train/eval
    mode (the tracing wrapper's mode used to leak into it)."""
    onnx = pytest.importorskip('onnx')
    model = build_lsnet().eval()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.copy_(  # in [-1, largest_slope)
                    torch.rand(m.weight.shape, generator=gen) *
                    (largest_slope + 1) - 1)
    forward = torch.nn.PReLU.forward
    path = export_onnx(ChangeLogits(model), [torch.zeros(1, 6, 32, 32)],
                       str(tmp_path / 'm.onnx'), ['inputs'], ['logits'])
    assert torch.nn.PReLU.forward is forward
    assert not any(m.training for m in model.modules())
    assert model.joint_date_pass and 'joint_date_pass' not in vars(model)
    nodes = onnx.load(path).graph.node
    ops = {n.op_type for n in nodes}
    assert 'PRelu' not in ops and 'Relu' in ops
    def convs(module):
        return sum(isinstance(m, torch.nn.Conv2d) for m in module.modules())

    # one backbone pass per date: the backbone's convolutions appear twice
    assert sum(n.op_type == 'Conv' for n in nodes) == (
        2 * convs(model.backbone) + convs(model.neck) +
        convs(model.decode_head))
    fast = prepare_fast_model(copy.deepcopy(model))
    x = torch.rand((2, 6, 48, 40), generator=gen) * 255
    with torch.inference_mode():
        expected = ChangeLogits(model)(x)
        got = fast.fast_logits(x)
    assert (got - expected).abs().max() < 1e-4 * max(
        1, expected.abs().max())


def test_unsupported_model_is_reported(models):
    eager, _ = models
    with pytest.raises(RuntimeError, match='not an EncoderDecoder'):
        prepare_fast_model(torch.nn.Conv2d(6, 2, 1))
    same = prepare_fast_model(torch.nn.Conv2d(6, 2, 1), strict=False)
    assert not is_fast_model(same)


def test_test_tool_uses_fast_path_unless_turned_off(tmp_path):
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=0, num_val=0, num_test=3,
                        size=32, seed=4)
    ckpt = save_checkpoint(build_lsnet(), tmp_path / 'lsnet.pth')
    opts = ['--cfg-options', f'test_dataloader.dataset.data_root={data_root}',
            'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False']
    metrics = {}
    for name, extra in (('fast', []), ('eager', ['--no-fast'])):
        work = tmp_path / name
        _, log = run_tool([osp.join(REPO, 'tools', 'test.py'), LSNET, ckpt,
                           '--work-dir', work] + extra + opts)
        assert ('fast inference: ONNX Runtime' in log) == (name == 'fast')
        metrics[name] = load(glob.glob(str(work / '*' / '*.json'))[0])
    for key in ('Precision', 'Recall', 'F1', 'IoU', 'OA', 'Kappa'):
        assert metrics['fast'][key] == pytest.approx(metrics['eager'][key],
                                                     abs=1e-6), key


def test_benchmark_prints_eager_fast_and_ratio():
    _, log = run_tool([
        osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py'), LSNET,
        '--shape', '32', '--batch-size', '1', '2', '--repeats', '2',
        '--warmup', '1'
    ])
    for batch in (1, 2):
        assert f'batch {batch}, 32x32:' in log
    assert len(re.findall(r'eager +median .* pairs/s', log)) == 2
    assert len(re.findall(r'fast +median .* pairs/s', log)) == 2
    diffs = re.findall(r'([0-9.]+)x +max \|logit difference\| ([0-9.e+-]+)',
                       log)
    assert len(diffs) == 2 and all(float(d) < 1e-4 for _, d in diffs)
    assert 'torch threads' in log and 'peak resident memory' in log
