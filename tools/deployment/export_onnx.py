"""Export a change detector to ONNX and check it with ONNX Runtime.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT \\
        [--out model.onnx] [--shape 256]

The graph has two image inputs, ``img_a`` and ``img_b``: float32
``(N, C, H, W)`` images of the two dates as the dataset loads them (RGB, 0..255
for mmcd's datasets), with dynamic batch, height and width. Inside it: the
config's data preprocessing (mean/std), the model, and a bilinear resize of the
logits to the input size. Output ``logits``: ``(N, num_classes, H, W)``; the
change mask is ``logits.argmax(1)`` (1 = changed; with a single output channel,
``sigmoid(logits) > threshold``). H and W must be multiples of the config's
``size_divisor`` (8 for LSNet): pad the images with 0 at the bottom/right and
crop the mask back.

After export, ONNX Runtime and PyTorch run the same random inputs at two
sizes and two batch sizes and the largest absolute logit difference is
printed. An existing output file is never overwritten.
"""
import argparse
import os.path as osp

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import DictAction
from mmengine.logging import MMLogger
from mmseg.apis import init_model

from mmcd.models.utils.onnx_export import (ChangeLogits, export_onnx,
                                           import_onnxruntime, pair_channels)


class TwoDateOnnxModel(nn.Module):
    """``(img_a, img_b) -> logits`` with the config's preprocessing inside.

    Args:
        segmentor (nn.Module): The change segmentor (eval mode).
    """

    def __init__(self, segmentor):
        super().__init__()
        self.logits = ChangeLogits(segmentor, resize_to_input=True)
        pre = segmentor.data_preprocessor
        channels = pair_channels(segmentor)
        mean = getattr(pre, 'mean', None)
        std = getattr(pre, 'std', None)
        self.register_buffer(
            'mean', (mean if mean is not None else torch.zeros(channels))
            .reshape(1, channels, 1, 1).float().clone(), False)
        self.register_buffer(
            'std', (std if std is not None else torch.ones(channels))
            .reshape(1, channels, 1, 1).float().clone(), False)

    def forward(self, img_a, img_b):
        inputs = (torch.cat([img_a, img_b], 1) - self.mean) / self.std
        return self.logits(inputs)


def check_with_onnxruntime(module, path, channels, shape, divisor):
    """Largest |ONNX Runtime - PyTorch| logit difference per test input."""
    ort = import_onnxruntime()
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    h, w = shape
    half = (max(divisor, h // 2 // divisor * divisor),
            max(divisor, w // 2 // divisor * divisor))
    results = []
    gen = torch.Generator().manual_seed(0)
    for batch, size in ((1, (h, w)), (2, half)):
        a = torch.rand((batch, channels // 2, *size), generator=gen) * 255
        b = torch.rand((batch, channels // 2, *size), generator=gen) * 255
        with torch.inference_mode():
            expected = module(a, b).numpy()
        got = session.run(None, {'img_a': a.numpy(), 'img_b': b.numpy()})[0]
        if got.shape != expected.shape:
            raise RuntimeError(f'ONNX output shape {got.shape} differs from '
                               f'PyTorch {expected.shape}')
        results.append(((batch, *size), float(np.abs(got - expected).max())))
    return results


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export a change detector to ONNX (two image inputs)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='ONNX file to write (default: the checkpoint path '
        'with .onnx); never overwritten')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[256],
        help='tracing and checking size: one value or height width')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs')
    return parser.parse_args()


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    out = args.out or osp.splitext(args.checkpoint)[0] + '.onnx'
    if osp.exists(out):
        raise FileExistsError(f'{out} exists; refusing to overwrite it '
                              '(pass another --out or remove it first)')
    if len(args.shape) not in (1, 2):
        raise ValueError(f'--shape takes 1 or 2 values, got {args.shape}')
    shape = tuple(args.shape * 2 if len(args.shape) == 1 else args.shape)
    import_onnxruntime()  # fail early, before the export
    MMLogger.get_instance('mmengine', log_level='WARNING')
    model = init_model(args.config, args.checkpoint, 'cpu', args.cfg_options)
    divisor = getattr(model.data_preprocessor, 'size_divisor', None) or 1
    if shape[0] % divisor or shape[1] % divisor:
        raise ValueError(f'--shape {shape} must be a multiple of the '
                         f"config's size_divisor {divisor}")
    module = TwoDateOnnxModel(model).eval()
    channels = pair_channels(model)
    if getattr(model.data_preprocessor, 'channel_conversion', False):
        print('note: bgr_to_rgb/rgb_to_bgr in the data preprocessor has no '
              "effect: mmseg's SegDataPreProcessor converts only 3-channel "
              f'inputs and the pair input has {channels}; the graph, like '
              'mmseg, converts no channels')
    example = [torch.rand(1, channels // 2, *shape) * 255] * 2
    export_onnx(module, example, out, ['img_a', 'img_b'], ['logits'])
    print(f'wrote {out}: inputs img_a, img_b (N, {channels // 2}, H, W) '
          'float32 RGB 0..255, output logits (N, num_classes, H, W); '
          f'H, W multiples of {divisor}')
    for size, diff in check_with_onnxruntime(module, out, channels, shape,
                                             divisor):
        print(f'ONNX Runtime vs PyTorch, input {size}: max abs logit '
              f'difference {diff:.3e}')


if __name__ == '__main__':
    main()
