"""The fast inference path (FastChangeSegmentor, mmcd.models.utils.onnx_export)
and the benchmark: logits equal to the eager model's within 1e-4, the eager
model untouched, the graph exported from the weights loaded last;
tools/test.py uses it unless --no-fast and says so. Timings are printed by
the benchmark, never asserted."""
import copy
import glob
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.fileio import load
from mmengine.model import is_model_wrapper
from mmengine.runner import load_checkpoint
from mmseg.structures import SegDataSample

from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.models.segmentors import FastChangeSegmentor, SiameseEncoderDecoder
from mmcd.models.utils import ChangeLogits, export_onnx, fast_path_problem
from mmcd.registry import MODELS
from cli_helpers import loader_options
from test_models.test_fast_int8 import (FC_SIAM_DIFF_CDD, tiny_config,
                                        tiny_model, tiny_options)
from tool_test_utils import (LSNET, REPO, build_lsnet, run_tool,
                             save_checkpoint)

pytest.importorskip('onnxruntime')


def rand_pairs(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen) * 255


@pytest.fixture(scope='module')
def models():
    eager = build_lsnet()  # ONNX Runtime: the chunk tests use its runner
    return eager, FastChangeSegmentor(eager, backend='onnxruntime',
                                      strict=True)


@pytest.mark.slow
@pytest.mark.parametrize('shape', [(1, 6, 64, 64), (3, 6, 40, 56)])
def test_fast_logits_equal_eager(models, shape, fast_backend):
    eager, fast = models
    if fast_backend[0] != 'onnxruntime':
        fast = FastChangeSegmentor(eager, backend=fast_backend[0],
                                   strict=True)
    x = rand_pairs(shape, 1)
    with torch.inference_mode():
        expected = ChangeLogits(eager)(x)
        got = fast(x, mode='tensor')
    assert fast.runtime.startswith(f'{fast_backend[1]} (fp32, ')
    assert is_model_wrapper(fast) and fast.module is eager
    assert got.shape == expected.shape == (shape[0], 2, *shape[2:])
    assert (got - expected).abs().max() < 1e-4


@pytest.mark.slow
def test_fast_logits_in_chunks_equal_one_run(models):
    """A batch split into runs of max_pixels_per_run gives the logits of
    one run: 3 pairs in runs of 1, side by side on two single-threaded
    sessions (chunks 0 and 2 on one, 1 on the other), and in runs of 2 and
    1 one after the other on a single-threaded runner."""
    _, fast = models
    x = rand_pairs((3, 6, 40, 56), 4)
    runner = fast.fast_logits()
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


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_fast_predict_and_test_step_equal_eager(models, mode):
    eager, fast = models
    saved = eager.test_cfg
    eager.test_cfg = ConfigDict(mode=mode, crop_size=(32, 32), stride=(24, 24))
    pairs = [rand_pairs((6, 48, 40), seed).round().byte() for seed in (2, 3)]
    samples = [
        SegDataSample(metainfo=dict(ori_shape=(48, 40), img_shape=(48, 40)))
        for _ in pairs
    ]
    eager_passes = []  # the eager network must not run for fast
    hook = eager.backbone.register_forward_hook(
        lambda *args: eager_passes.append(1))
    try:
        with torch.no_grad():
            x = eager.data_preprocessor(
                dict(inputs=pairs, data_samples=copy.deepcopy(samples)),
                False)['inputs']
            eager_results = [
                eager.predict(x),
                eager.test_step(
                    dict(inputs=pairs, data_samples=copy.deepcopy(samples)))
            ]
            fast.fast_logits()  # exports (tracing a copy) if not yet
            eager_passes.clear()
            fast_results = [
                fast.predict(x),
                fast.test_step(
                    dict(inputs=pairs, data_samples=copy.deepcopy(samples)))
            ]
    finally:
        eager.test_cfg = saved
        hook.remove()
    assert not eager_passes
    for a, b in zip(eager_results, fast_results):
        for sa, sb in zip(a, b):
            diff = (sa.seg_logits.data - sb.seg_logits.data).abs().max()
            assert diff < 1e-4
            assert torch.equal(sa.pred_sem_seg.data, sb.pred_sem_seg.data)


@pytest.mark.slow
@pytest.mark.parametrize('largest_slope', [1, 2])
def test_export_leaves_the_model_and_nn_prelu_alone(tmp_path, largest_slope):
    """The graph has PReLU as x * a + relu(x * (1 - a)) (slopes <= 1) or
    relu(x) * (1 - a) + x * a (any slope) and one backbone pass per date,
    and equals eager; nn.PReLU.forward is the same function, and the
    exported model keeps its modules, weights, modes and joint pass."""
    onnx = pytest.importorskip('onnx')
    model = build_lsnet()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.copy_(  # in [-1, largest_slope)
                    torch.rand(m.weight.shape, generator=gen) *
                    (largest_slope + 1) - 1)
    model.train()
    model.backbone.eval()  # mixed modes, each to be kept
    forward = torch.nn.PReLU.forward
    modules = [(n, type(m), m.training) for n, m in model.named_modules()]
    weights = copy.deepcopy(model.state_dict())
    path = export_onnx(ChangeLogits(model), [torch.zeros(1, 6, 32, 32)],
                       str(tmp_path / 'm.onnx'), ['inputs'], ['logits'])
    assert torch.nn.PReLU.forward is forward
    assert [(n, type(m), m.training)
            for n, m in model.named_modules()] == modules
    assert 'joint_date_pass' not in vars(model) and model.joint_date_pass
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    nodes = onnx.load(path).graph.node
    ops = {n.op_type for n in nodes}
    assert 'PRelu' not in ops and 'Relu' in ops

    def convs(module):
        return sum(isinstance(m, torch.nn.Conv2d) for m in module.modules())

    # one backbone pass per date: the backbone's convolutions appear twice
    assert sum(n.op_type == 'Conv' and n.name.startswith('/backbone/')
               for n in nodes) == 2 * convs(model.backbone)
    model.eval()
    x = torch.rand((2, 6, 48, 40), generator=gen) * 255
    with torch.inference_mode():
        expected = ChangeLogits(model)(x)
        got = FastChangeSegmentor(model, strict=True)(x)
    assert torch.nn.PReLU.forward is forward
    assert (got - expected).abs().max() < 1e-4 * max(
        1, expected.abs().max())


def test_export_does_not_depend_on_the_training_memory_format(tmp_path):
    """A model left channels-last by training (ChannelsLastHook) exports the
    graph of the default format (the coordinate attention's strip means
    would otherwise be traced over the channels-last view)."""
    onnx = pytest.importorskip('onnx')
    from mmcd.models.utils import CoordinateAttention
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 16, 3, padding=1),
                                CoordinateAttention(16, groups=4)).eval()
    last = copy.deepcopy(model).to(memory_format=torch.channels_last)
    assert last[0].weight.is_contiguous(memory_format=torch.channels_last)
    ops = []
    for name, module in (('plain', model), ('last', last)):
        path = export_onnx(module, [torch.rand(1, 16, 8, 8)],
                           str(tmp_path / f'{name}.onnx'), ['x'], ['y'])
        ops.append(sorted(n.op_type for n in onnx.load(path).graph.node))
    assert ops[0] == ops[1]
    assert last[0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.slow
def test_graph_holds_the_weights_loaded_last(tmp_path):
    """Built from a config, used, then given a checkpoint of the plain model
    (mmengine's loader, as the Runner's load_from: no missing keys), the
    wrapper runs the checkpoint's weights; other weights, other logits."""
    first, second = tiny_model(seed=1), tiny_model(seed=2)
    fast = MODELS.build(
        dict(type='FastChangeSegmentor', module=tiny_config())).eval()
    x = rand_pairs((1, 6, 32, 32), 5)
    with torch.inference_mode():
        fast(x)  # exports the initial weights
        logits = []
        for model in (first, second):
            ckpt = save_checkpoint(model, tmp_path / 'm.pth')
            load_checkpoint(fast, ckpt, strict=True)
            assert fast.runtime is None  # export again at the next call
            logits.append(fast(x))
            assert (logits[-1] - ChangeLogits(model)(x)).abs().max() < 1e-4
    assert (logits[0] - logits[1]).abs().max() > 1e-2


def test_fast_path_problems_fall_back_to_eager_or_raise(models):
    eager, _ = models

    class OwnEncodeDecode(SiameseEncoderDecoder):

        def encode_decode(self, inputs, batch_img_metas):
            return super().encode_decode(inputs, batch_img_metas)

    own = copy.deepcopy(eager)
    own.__class__ = OwnEncodeDecode
    assert fast_path_problem(torch.nn.Conv2d(6, 2, 1)) == (
        'Conv2d is not an EncoderDecoder')
    assert 'overrides encode_decode' in fast_path_problem(own)
    with pytest.raises(RuntimeError, match='overrides encode_decode'):
        FastChangeSegmentor(own, strict=True).predict(
            torch.zeros(1, 6, 32, 32))
    fallback = FastChangeSegmentor(own)
    x = rand_pairs((1, 6, 32, 32), 6)
    with torch.no_grad():
        got = fallback.predict(x)[0].seg_logits.data
        expected = eager.predict(x)[0].seg_logits.data
    assert fallback.runtime == 'eager PyTorch'
    torch.testing.assert_close(got, expected)
    with pytest.raises(NotImplementedError, match='is for inference'):
        fallback(x, [SegDataSample()], mode='loss')


def test_built_from_a_fresh_import_mmcd():
    """MODELS.build right after `import mmcd` (no mmcd.apis), a model
    wrapper whose state dict is the plain model's."""
    code = f'''
import sys
import mmcd
from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.registry import init_default_scope
from mmcd.registry import MODELS
init_default_scope('mmcd')
model = Config.fromfile({LSNET!r}).model
fast = MODELS.build(dict(type='FastChangeSegmentor', module=model))
plain = MODELS.build(model)
assert type(fast).__name__ == 'FastChangeSegmentor', type(fast)
assert is_model_wrapper(fast)
assert type(fast.module) is type(plain)
assert 'mmcd.apis' not in sys.modules
print('built')
'''
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0 and 'built' in result.stdout, (
        result.stdout[-2000:] + result.stderr[-3000:])


@pytest.mark.slow
def test_test_tool_names_the_runtime_and_gives_eager_metrics(tmp_path):
    """tools/test.py: the config's fast_model (or the default one when the
    config has none) and --no-fast give the same metrics, and the log says
    which runtime computed them; the checkpoint loads into the wrapped
    model with no missing keys."""
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=0, num_val=0, num_test=3,
                        size=32, seed=4)
    ckpt = save_checkpoint(tiny_model(), tmp_path / 'fc_siam_diff.pth')
    opts = ['--cfg-options'] + tiny_options() + loader_options(
        data_root, ['test_dataloader'])
    runs = dict(fast=['--fast-backend', 'onnxruntime'],
                default_fast=['fast_model=None'], eager=['--no-fast'])
    metrics = {}
    for name, extra in runs.items():
        work = tmp_path / name
        _, log = run_tool([
            osp.join(REPO, 'tools', 'test.py'), FC_SIAM_DIFF_CDD, ckpt,
            '--work-dir', work
        ] + opts + extra)
        metrics[name] = load(glob.glob(str(work / '*' / '*.json'))[0])
        assert 'missing keys' not in log
        if name == 'eager':
            assert ('testing with SiameseEncoderDecoder: eager PyTorch '
                    '(--no-fast)') in log
            assert 'metrics computed with eager PyTorch' in log
            assert 'fast inference: ONNX Runtime' not in log
        else:
            backend = 'onnxruntime' if name == 'fast' else 'auto'
            assert ('testing with FastChangeSegmentor: the fast graph, fp32, '
                    f'backend {backend}') in log
            runtime = 'ONNX Runtime' if name == 'fast' else 'OpenVINO'
            assert re.search(
                rf'metrics computed with {runtime} \(fp32, \d+ threads\)',
                log)
    for name in ('fast', 'default_fast'):
        for key in ('Precision', 'Recall', 'F1', 'IoU', 'OA', 'Kappa'):
            assert metrics[name][key] == pytest.approx(
                metrics['eager'][key], abs=1e-6), (name, key)


@pytest.mark.slow
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
