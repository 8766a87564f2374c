"""Parameters and MACs of a change detector for one image pair.

    python tools/analysis_tools/get_flops.py CONFIG [--shape 256]

Counts the inference model (backbone, fusion neck, decode head) per part,
and the auxiliary heads apart (training only), in two conventions:

* **full** (mmengine): every parameter; MACs by
  ``mmengine.analysis.FlopAnalyzer`` (fvcore's rules): convolution and
  linear multiply-accumulates (no bias), BatchNorm 2 per element (affine,
  eval), bilinear upsampling 4 per output element, adaptive average pooling
  1 per input element. Element-wise ops (activations, PReLU, sigmoid,
  products, additions, concatenation, means, ``avg_pool2d``) count 0.
* **thop** (LSNet's published figures, counted by thop 0.0.31 with
  ``profile(model, inputs=(torch.randn(2, 3, 256, 256),))``, i.e. one pair):
  parameters of every module except PReLU (thop had no PReLU rule and only
  summed the parameters of modules with a rule); MACs: convolution
  ``out_elements * (C_in / groups * k_h * k_w + bias)``, linear
  ``out_elements * in_features``, BatchNorm 2 per element, bilinear
  ``nn.Upsample`` 11 per output element, ``AvgPool2d`` 1 per output
  element, ``AdaptiveAvgPool2d`` ``(prod(in / out) + 1)`` per output
  element; activations, sigmoid, products, additions, concatenation 0. The
  coordinate attention's pooling is not counted: the original creates its
  ``AdaptiveAvgPool2d`` modules inside ``forward``, after thop had hooked
  the model (mmcd computes it as a mean, which this convention leaves out).

It counts the graph the model runs. LSNet's necks run each block's entry
convolution on the parts of its input concatenation
(``ContextGuidedBlock.forward_concat``), which needs fewer MACs than the
original's graph; on that graph the thop convention gives LSNet diffFPN's
published figures at 256x256 (tested).
"""
import argparse
from math import prod

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import DictAction
from mmengine.logging import MMLogger
from mmseg.apis import init_model

from mmcd.models.utils import count_parameters, pair_channels


def _thop_conv(inputs, outputs):
    weight, out = get_shape(inputs[1]), get_shape(outputs[0])
    bias = 1 if get_shape(inputs[2]) is not None else 0
    return prod(out) * (weight[1] * prod(weight[2:]) + bias)


def _thop_batch_norm(inputs, outputs):
    return 2 * prod(get_shape(inputs[0]))


def _thop_bilinear(inputs, outputs):
    return 11 * prod(get_shape(outputs[0]))


def _thop_avg_pool(inputs, outputs):
    return prod(get_shape(outputs[0]))


def _thop_adaptive_avg_pool(inputs, outputs):
    x, y = get_shape(inputs[0]), get_shape(outputs[0])
    kernel = prod(a // b for a, b in zip(x[2:], y[2:]))
    return (kernel + 1) * prod(y)


#: aten op -> counting rule of the thop convention (linear: as mmengine).
THOP_HANDLES = {
    'aten::_convolution': _thop_conv,
    'aten::batch_norm': _thop_batch_norm,
    'aten::upsample_bilinear2d': _thop_bilinear,
    'aten::upsample_nearest2d': None,
    'aten::avg_pool2d': _thop_avg_pool,
    'aten::adaptive_avg_pool2d': _thop_adaptive_avg_pool,
}


class AllHeads(nn.Module):
    """Backbone, neck, decode head and auxiliary heads in one forward."""

    def __init__(self, segmentor):
        super().__init__()
        self.segmentor = segmentor

    def forward(self, inputs):
        feats = self.segmentor.extract_feat(inputs)
        # called as modules, not through .forward: the operations a head
        # runs in its own forward (functional convolutions) are then
        # counted as the head's
        outs = [self.segmentor.decode_head(feats)]
        for name, head in auxiliary_heads(self.segmentor):
            outs.append(head(feats))
        return outs


def auxiliary_heads(segmentor):
    """``(name, head)`` of the segmentor's auxiliary heads."""
    aux = getattr(segmentor, 'auxiliary_head', None)
    if aux is None:
        return []
    if isinstance(aux, nn.ModuleList):
        return [(f'auxiliary_head.{i}', h) for i, h in enumerate(aux)]
    return [('auxiliary_head', aux)]


def complexity(segmentor, shape=(256, 256)):
    """Parameters and MACs per part for one pair of ``shape`` images.

    Args:
        segmentor (nn.Module): A change segmentor (EncoderDecoder style).
        shape (tuple[int, int]): Image height and width.

    Returns:
        dict: ``{part: dict(params_full, params_thop, macs_full,
        macs_thop)}`` for ``backbone``, ``neck``, ``decode_head``, each
        auxiliary head, and ``inference`` (the sum of the first three).
    """
    segmentor.eval()
    inputs = torch.rand(1, pair_channels(segmentor), *shape) * 255
    wrapper = AllHeads(segmentor).eval()
    full = FlopAnalyzer(wrapper, inputs)
    full.unsupported_ops_warnings(False)
    full.uncalled_modules_warnings(False)
    thop = FlopAnalyzer(wrapper, inputs).set_op_handle(**THOP_HANDLES)
    thop.unsupported_ops_warnings(False)
    thop.uncalled_modules_warnings(False)
    parts = [(n, getattr(segmentor, n))
             for n in ('backbone', 'neck', 'decode_head')
             if getattr(segmentor, n, None) is not None]
    parts += auxiliary_heads(segmentor)
    result = {}
    with torch.no_grad():
        for name, module in parts:
            key = f'segmentor.{name}'
            result[name] = dict(
                params_full=count_parameters(module, exclude=()),
                params_thop=count_parameters(module),
                macs_full=full.total(key),
                macs_thop=thop.total(key))
    result['inference'] = {
        k: sum(result[n][k] for n in ('backbone', 'neck', 'decode_head')
               if n in result)
        for k in ('params_full', 'params_thop', 'macs_full', 'macs_thop')
    }
    return result


def format_table(result, shape):
    """The table printed by the tool."""
    lines = [
        f'one image pair, {shape[0]}x{shape[1]} '
        '(input tensor (1, 2C, H, W))',
        f'{"part":<28}{"params full":>14}{"params thop":>14}'
        f'{"GMACs full":>12}{"GMACs thop":>12}'
    ]

    def row(name, r):
        return (f'{name:<28}{r["params_full"] / 1e6:>12.6f} M'
                f'{r["params_thop"] / 1e6:>12.6f} M'
                f'{r["macs_full"] / 1e9:>12.3f}{r["macs_thop"] / 1e9:>12.3f}')

    for name in ('backbone', 'neck', 'decode_head'):
        if name in result:
            lines.append(row(name, result[name]))
    lines.append(row('total (inference model)', result['inference']))
    aux = [n for n in result if n.startswith('auxiliary_head')]
    if aux:
        lines.append('training only (not in the total):')
        lines += [row(n, result[n]) for n in aux]
    lines += [
        'full: all parameters; MACs of mmengine.analysis.FlopAnalyzer '
        '(conv/linear MACs without bias, BN 2/elem, bilinear 4/out elem, '
        'adaptive avg pool 1/in elem; element-wise ops 0).',
        'thop: LSNet\'s published convention (thop 0.0.31): PReLU slopes '
        'not counted; conv MACs with bias, BN 2/elem, bilinear 11/out elem, '
        'avg pool 1/out elem, adaptive avg pool (k+1)/out elem, '
        'coordinate-attention pooling and element-wise ops 0.'
    ]
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Parameters and MACs of a change detector per part')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[256],
        help='image size: one value (square) or height width; default 256')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs')
    return parser.parse_args()


def main():
    args = parse_args()
    if len(args.shape) == 1:
        shape = (args.shape[0], args.shape[0])
    elif len(args.shape) == 2:
        shape = tuple(args.shape)
    else:
        raise ValueError(f'--shape takes 1 or 2 values, got {args.shape}')
    MMLogger.get_instance('mmengine', log_level='WARNING')
    model = init_model(args.config, None, 'cpu', args.cfg_options)
    print(format_table(complexity(model, shape), shape))


if __name__ == '__main__':
    main()
