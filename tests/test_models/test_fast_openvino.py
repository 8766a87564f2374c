"""The fast path in OpenVINO (mmcd.models.utils.OpenVINOLogits): fp32 by
default and never bf16 silently, batches on streams equal to single runs,
one compilation per input size, bf16 only when asked; the backend choice of
FastChangeSegmentor. No timing is asserted (benchmark_vs_original.py prints
them)."""
import os.path as osp
import re

import pytest
import torch

from mmcd.models.segmentors import FastChangeSegmentor
from mmcd.models.segmentors.fast_change_segmentor import choose_backend
from mmcd.models.utils import ChangeLogits, OpenVINOLogits, export_onnx
from mmcd.models.utils.openvino_runtime import (fold_constants,
                                                pool_strip_means)
from test_models.test_fast_int8 import (FC_SIAM_DIFF_CDD, REPO, pairs,
                                        tiny_model, tiny_options)

ov = pytest.importorskip('openvino')
HAS_BF16 = 'BF16' in ov.Core().get_property('CPU',
                                            'OPTIMIZATION_CAPABILITIES')


def test_backend_choice():
    assert choose_backend('auto', 'fp32') == 'openvino'
    assert choose_backend('auto', 'bf16') == 'openvino'
    assert choose_backend('auto', 'int8') == 'openvino'  # with nncf
    assert choose_backend('onnxruntime', 'int8') == 'onnxruntime'
    assert choose_backend('onnxruntime', 'fp32') == 'onnxruntime'
    with pytest.raises(ValueError, match="needs the 'openvino' backend"):
        choose_backend('onnxruntime', 'bf16')
    with pytest.raises(ValueError, match='backend must be one of'):
        FastChangeSegmentor(tiny_model(), backend='tensorrt')


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    model = tiny_model()
    path = str(tmp_path_factory.mktemp('ov') / 'logits.onnx')
    export_onnx(ChangeLogits(model), [torch.zeros(1, 6, 32, 32)], path,
                ['inputs'], ['logits'])
    return model, path


def test_fp32_batches_on_streams_equal_single_runs(graph):
    model, path = graph
    runner = OpenVINOLogits(path, num_threads=2, max_compiled_sizes=2)
    x = pairs(3, 5, size=40)
    with torch.inference_mode():
        expected = ChangeLogits(model)(x)
        batch = runner(x)  # 3 requests on 2 single-threaded streams
        singles = torch.cat([runner(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, singles, rtol=0, atol=1e-5)
    assert (batch - expected).abs().max() < 1e-4 * max(
        1, float(expected.abs().max()))
    single, requests = runner._compiled[(6, 40, 40)]
    assert len(requests) == 2
    assert single.get_property('INFERENCE_PRECISION_HINT') == ov.Type.f32
    # one compilation per size, the oldest dropped beyond the limit
    for size in (24, 32):
        runner(pairs(1, size, size=size))
    assert list(runner._compiled) == [(6, 24, 24), (6, 32, 32)]
    torch.testing.assert_close(runner(x), batch, rtol=0, atol=1e-5)


class StripMeans(torch.nn.Module):
    """Means over the height, the width and both, as coordinate attention
    and squeeze-excitation take them."""

    def forward(self, x):
        return (x * x.mean(2, keepdim=True) + x.mean(-1, keepdim=True) -
                torch.nn.functional.adaptive_avg_pool2d(x, 1))


def test_strip_means_run_as_poolings(tmp_path):
    path = export_onnx(StripMeans(), [torch.zeros(1, 3, 8, 8)],
                       str(tmp_path / 'means.onnx'), ['x'], ['y'])
    model = ov.Core().read_model(path)
    model.reshape([1, 3, 9, 7])
    fold_constants(model)
    assert pool_strip_means(model) == 2  # not the mean over both axes
    types = [node.get_type_name() for node in model.get_ordered_ops()]
    assert types.count('AvgPool') == 2 and types.count('ReduceMean') == 1
    x = torch.randn(2, 3, 9, 7)  # a size other than the traced one
    torch.testing.assert_close(
        OpenVINOLogits(path, num_threads=1)(x), StripMeans()(x),
        rtol=1e-5, atol=1e-5)


class SharedDepthwise(torch.nn.Module):
    """One depthwise convolution with bias run on two halves of the input,
    as a Siamese backbone runs once per date."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)

    def forward(self, x):
        return self.conv(x[:, :4]) + self.conv(x[:, 4:])


def test_folding_leaves_constant_biases(tmp_path):
    module = SharedDepthwise().eval()
    path = export_onnx(module, [torch.zeros(1, 8, 8, 8)],
                       str(tmp_path / 'shared.onnx'), ['x'], ['y'])
    model = ov.Core().read_model(path)
    model.reshape([1, 8, 8, 8])

    def bias_sources(model):  # what each convolution's bias Add adds
        sources = []
        for node in model.get_ordered_ops():
            inputs = [i.get_source_output().get_node().get_type_name()
                      for i in node.inputs()]
            if node.get_type_name() == 'Add' and \
                    'GroupConvolution' in inputs:
                sources += [i for i in inputs if i != 'GroupConvolution']
        return sources

    assert len(bias_sources(model)) == 2
    assert set(bias_sources(model)) != {'Constant'}  # computed reshapes
    fold_constants(model)
    assert bias_sources(model) == ['Constant', 'Constant']
    x = torch.randn(1, 8, 8, 8)
    with torch.no_grad():
        expected = module(x)
    torch.testing.assert_close(
        OpenVINOLogits(path, num_threads=1)(x), expected, rtol=1e-5,
        atol=1e-5)


def test_bf16_only_where_the_cpu_has_it(graph):
    model, path = graph
    if not HAS_BF16:
        with pytest.raises(RuntimeError, match='no bfloat16 support'):
            OpenVINOLogits(path, precision='bf16')
        return
    x = pairs(2, 6, size=32)
    fp32 = OpenVINOLogits(path, precision='fp32')(x)
    bf16 = OpenVINOLogits(path, precision='bf16')(x)
    scale = float(fp32.abs().max())
    diff = float((bf16 - fp32).abs().max())
    assert 1e-6 < diff < 0.1 * scale  # bfloat16 rounding, not fp32
    fast = FastChangeSegmentor(model, precision='bf16', strict=True)
    fast(x, mode='tensor')
    assert fast.runtime.startswith('OpenVINO (bf16, ')


@pytest.mark.slow
def test_test_tool_fast_bf16_reports_both_f1(tmp_path):
    """tools/test.py --fast bf16 logs the bf16 and fp32 F1 (or refuses on a
    CPU without bfloat16)."""
    from cli_helpers import loader_options, run_python
    from mmcd.datasets.synthetic import write_synthetic_cdd
    from test_tools.tool_test_utils import save_checkpoint
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=0, num_val=0, num_test=2,
                        size=32, seed=4)
    ckpt = save_checkpoint(tiny_model(), tmp_path / 'fc_siam_diff.pth')
    config = FC_SIAM_DIFF_CDD
    opts = ['--cfg-options'] + tiny_options() + loader_options(
        data_root, ['test_dataloader'])
    tool = osp.join(REPO, 'tools', 'test.py')
    log = run_python([tool, config, ckpt, '--work-dir', tmp_path / 'w',
                      '--fast', 'bf16'] + opts, ok=HAS_BF16)
    if not HAS_BF16:
        assert 'no bfloat16 support' in log
        return
    assert 'metrics computed with OpenVINO (bf16, ' in log
    m = re.search(r'change F1: bf16 ([0-9.]+), fp32 ([0-9.]+) \(bf16 - '
                  r'fp32: ([+-][0-9.]+); fp32 with OpenVINO \(fp32', log)
    assert m, log[-3000:]
    assert float(m[3]) == pytest.approx(float(m[1]) - float(m[2]), abs=1e-4)
    log = run_python([tool, config, ckpt, '--fast', 'bf16',
                      '--fast-backend', 'onnxruntime'] + opts, ok=False)
    assert "needs the 'openvino' backend" in log
