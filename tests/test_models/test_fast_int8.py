"""The fast path's int8 mode (FastChangeSegmentor(precision='int8'),
mmcd.models.utils.onnx_export.quantize_int8): explicit, calibrated, close to
the fp32 graph on a tiny model; tools/test.py --fast int8 reports the F1 of
both graphs. No timing is asserted (benchmark_vs_original.py prints them)."""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.models.segmentors import FastChangeSegmentor
from mmcd.registry import MODELS

pytest.importorskip('onnxruntime')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FC_SIAM_DIFF = osp.join(REPO, 'configs', '_base_', 'models',
                        'fc-siam-diff_unet.py')
FC_SIAM_DIFF_CDD = osp.join(REPO, 'configs', 'fcsiam',
                            'fc-siam-diff_unet_1xb32-50e_cdd-256x256.py')
TINY = dict(stage_channels=(4, 8, 8, 8))
#: the skip connections' channels (the stages' and the bottleneck's)
TINY_IN_CHANNELS = list(TINY['stage_channels']) + [8]


def tiny_config():
    """The model config of FC-Siam-diff with 4-8 channels."""
    cfg = Config.fromfile(FC_SIAM_DIFF).model
    cfg.backbone.update(TINY)
    cfg.decode_head.update(TINY)
    cfg.neck.in_channels = cfg.decode_head.in_channels = TINY_IN_CHANNELS
    return cfg


def tiny_model(seed=0):
    """FC-Siam-diff with 4-8 channels and trained-looking BatchNorm."""
    init_default_scope('mmcd')
    torch.manual_seed(seed)
    model = MODELS.build(tiny_config())
    model.init_weights()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model.eval()


def tiny_options():
    """``--cfg-options`` that give a config the model of ``tiny_model``."""
    channels = '(' + ','.join(map(str, TINY['stage_channels'])) + ')'
    in_channels = '[' + ','.join(map(str, TINY_IN_CHANNELS)) + ']'
    return [f'model.backbone.stage_channels={channels}',
            f'model.decode_head.stage_channels={channels}',
            f'model.neck.in_channels={in_channels}',
            f'model.decode_head.in_channels={in_channels}']


def pairs(n, seed, size=32):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((n, 6, size, size), generator=gen) * 255


def test_int8_is_explicit_and_needs_calibration():
    model = tiny_model()
    assert FastChangeSegmentor(model).precision == 'fp32'
    with pytest.raises(ValueError, match='precision'):
        FastChangeSegmentor(model, precision='int4')
    fast = FastChangeSegmentor(model, precision='int8', strict=True)
    with pytest.raises(RuntimeError, match='calibrat'):
        fast(pairs(1, 0), mode='tensor')


@pytest.mark.slow
def test_int8_logits_agree_with_fp32(fast_backend):
    """Calibrated on other pairs of the same kind, the int8 graph's logits
    stay within 10% of the largest fp32 logit and its masks agree on >= 97%
    of the pixels; the graph is rebuilt from new weights.

    NNCF runs in a child process: after it quantised in the pytest process
    (which had forked DataLoader workers in earlier tests), the process was
    killed by SIGSEGV while waiting on a later test's subprocess."""
    backend, runtime = fast_backend
    if backend == 'openvino':
        pytest.importorskip('nncf')
        from cli_helpers import run_python
        code = ('import sys; sys.path[:0] = [{!r}, {!r}]; '
                'from test_models.test_fast_int8 import check_int8; '
                'check_int8("openvino", "OpenVINO"); print("int8 ok")').format(
                    osp.dirname(osp.dirname(osp.abspath(__file__))),
                    osp.dirname(osp.abspath(__file__)))
        assert 'int8 ok' in run_python(['-c', code])
    else:
        check_int8(backend, runtime)


def check_int8(backend, runtime):
    """The assertions of :func:`test_int8_logits_agree_with_fp32`."""
    model = tiny_model()
    fp32 = FastChangeSegmentor(model, backend=backend, strict=True)
    int8 = FastChangeSegmentor(model, precision='int8', backend=backend,
                               strict=True, calibrate_method='minmax')
    int8.calibrate(list(pairs(8, 1).split(2)))
    x = pairs(3, 2)
    with torch.inference_mode():
        expected = fp32(x, mode='tensor')
        got = int8(x, mode='tensor')
    assert int8.runtime.startswith(f'{runtime} (int8, calibrated on 8 '
                                   'pairs, ')
    assert got.shape == expected.shape
    scale = float(expected.abs().max())
    assert float((got - expected).abs().max()) < 0.1 * scale
    agree = (got.argmax(1) == expected.argmax(1)).float().mean()
    assert agree >= 0.97
    # not the fp32 graph under another name
    assert float((got - expected).abs().max()) > 1e-6
    # new weights: exported and quantised again
    model.load_state_dict({k: v * 0 if k.endswith('conv_seg.bias') else v
                           for k, v in model.state_dict().items()})
    assert int8.runtime is None


@pytest.mark.slow
def test_test_tool_fast_int8_reports_both_f1(tmp_path):
    """tools/test.py --fast int8 calibrates on the training split and logs
    the int8 and fp32 F1; --fast int8 with --no-fast is refused."""
    from cli_helpers import loader_options, run_python
    from test_tools.tool_test_utils import save_checkpoint
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=3, num_val=0, num_test=2,
                        size=32, seed=4)
    ckpt = save_checkpoint(tiny_model(), tmp_path / 'fc_siam_diff.pth')
    config = FC_SIAM_DIFF_CDD
    opts = ['--cfg-options'] + tiny_options() + loader_options(
        data_root, ['train_dataloader', 'test_dataloader'])
    tool = osp.join(REPO, 'tools', 'test.py')
    log = run_python([tool, config, ckpt, '--work-dir', tmp_path / 'w',
                      '--fast', 'int8', '--calib-pairs', '2'] + opts)
    assert 'metrics computed with OpenVINO (int8, calibrated on 2 ' \
        'pairs, NNCF' in log
    m = re.search(r'change F1: int8 ([0-9.]+), fp32 ([0-9.]+) \(int8 - '
                  r'fp32: ([+-][0-9.]+)', log)
    assert m, log[-3000:]
    assert float(m[3]) == pytest.approx(float(m[1]) - float(m[2]), abs=1e-4)
    log = run_python([tool, config, ckpt, '--no-fast', '--fast', 'int8'],
                     ok=False)
    assert 'contradict' in log


def test_joint_norm_folds_into_the_depthwise_convolutions_exactly():
    """The export copy's folded Context Guided Block gives the block's
    output; the block itself keeps its BatchNorm."""
    import copy

    from mmcd.models.utils.context_guided_block import ContextGuidedBlock
    from mmcd.models.utils.onnx_export import fold_joint_norm
    torch.manual_seed(0)
    block = ContextGuidedBlock(8, 8, dilation=2, reduction=4).eval()
    norm = block.norm_joint
    norm.running_mean.uniform_(-1, 1)
    norm.running_var.uniform_(0.5, 2)
    norm.weight.data.uniform_(0.5, 1.5)
    norm.bias.data.uniform_(-0.5, 0.5)
    folded = copy.deepcopy(block)
    fold_joint_norm(folded)
    x = torch.randn(2, 8, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), block(x), rtol=0, atol=1e-5)
    assert isinstance(folded.norm_joint, torch.nn.Identity)
    assert isinstance(block.norm_joint, torch.nn.BatchNorm2d)


@pytest.mark.parametrize('flags,expected', [('fpu avx2 fma', False),
                                            ('avx2 avx512f avx512_vnni', True),
                                            ('avx2 avx_vnni', True)])
def test_cpu_has_vnni_reads_the_flags(monkeypatch, tmp_path, flags,
                                      expected):
    """Without VNNI, ONNX Runtime's quantiser must keep weights to 7 bits
    (its u8 x s8 kernels saturate otherwise; the int8 test above failed on
    an AVX2-only CPU without it)."""
    import builtins

    from mmcd.models.utils.onnx_export import cpu_has_vnni
    fake = tmp_path / 'cpuinfo'
    fake.write_text(f'processor\t: 0\nflags\t\t: {flags}\n')
    real_open = builtins.open
    monkeypatch.setattr(
        builtins, 'open', lambda path, *a, **k: real_open(
            fake if path == '/proc/cpuinfo' else path, *a, **k))
    assert cpu_has_vnni() is expected
