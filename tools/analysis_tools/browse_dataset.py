"""Look at what a config's data pipeline really feeds the model.

For each sample of the chosen split, the dataset's pipeline runs exactly as
in training or testing (loading, label binarisation, flips, rotations,
crops, photometric changes, packing) and the packed ``inputs`` (``2C x H x
W``, date A's channels first) and ``gt_sem_seg`` are drawn as one panel:
date A | date B | the change label tinted red on date B (ignored pixels,
value 255, stay untinted). A flip or rotation that moved the images but not
the label, a 0/1 mask read as empty, or swapped dates show up at a glance.

Example::

    python tools/analysis_tools/browse_dataset.py \
        configs/lsnet/lsnet_difffpn_1xb12-100e_cdd-256x256.py \
        --output-dir work_dirs/browse --split train --max-samples 20

Panels are saved as ``<output-dir>/<index>_<pair name>.png``; an existing
file is never overwritten.
"""
import argparse
import os
import os.path as osp
import sys

import cv2
import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import numpy as np
from mmengine.config import DictAction
from mmengine.registry import init_default_scope

from mmcd.datasets.transforms.image_io import display_rgb
from mmcd.registry import DATASETS
from mmcd.utils.tool_setup import load_tool_config
from mmcd.visualization import compose_change_panel


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Save date A | date B | label panels of what the data '
        'pipeline of a config outputs')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--output-dir', required=True,
                        help='folder for the panels (created if needed)')
    parser.add_argument('--split', choices=['train', 'val', 'test'],
                        default='train',
                        help='which dataloader\'s dataset (default train)')
    parser.add_argument('--max-samples', type=int, default=None,
                        help='draw at most this many samples (default all)')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='opacity of the label tint (default 0.5)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs')
    args = parser.parse_args(argv)
    if args.max_samples is not None and args.max_samples < 1:
        parser.error(f'--max-samples must be >= 1; got {args.max_samples}')
    return args


def _date_image(chw: np.ndarray) -> np.ndarray:
    """One date's ``C x H x W`` pipeline output as an ``H x W x 3`` uint8
    picture: uint8 as it is; float values in (1, 255] (8-bit data made float
    by a photometric transform) rounded; any other data (uint16, int16,
    reflectance floats) stretched per band between its 2nd and 98th
    percentiles. Multispectral dates show their first three bands as
    loaded (order ``bands`` so that they are R, G, B)."""
    img = chw.transpose(1, 2, 0)
    finite = img[np.isfinite(img)] if img.dtype.kind == 'f' else None
    if finite is not None and finite.size and 1 < finite.max() <= 255 \
            and finite.min() >= 0:
        img = np.clip(np.rint(np.nan_to_num(img)), 0, 255).astype(np.uint8)
    return display_rgb(img)


def sample_panel(packed: dict, alpha: float = 0.5):
    """The A | B | label-on-B panel of one packed sample.

    Args:
        packed (dict): A dataset item: ``inputs`` (``2C x H x W`` tensor)
            and ``data_samples`` (``SegDataSample`` with ``gt_sem_seg``
            when labelled, and ``img_path`` in its metainfo).
        alpha (float): Opacity of the label tint.

    Returns:
        tuple[np.ndarray, str]: The RGB uint8 panel and the pair's path.
    """
    inputs = packed['inputs'].numpy()
    sample = packed['data_samples']
    path = sample.metainfo.get('img_path', '?')
    if inputs.ndim != 3 or inputs.shape[0] % 2:
        raise ValueError(f'{path}: the pipeline outputs inputs of shape '
                         f'{tuple(inputs.shape)}; expected 2C x H x W')
    c = inputs.shape[0] // 2
    img_a = _date_image(inputs[:c])
    img_b = _date_image(inputs[c:])
    if 'gt_sem_seg' in sample:
        label = sample.gt_sem_seg.data.numpy()[0]
    else:
        label = np.zeros(inputs.shape[1:], np.uint8)
    return compose_change_panel(
        img_a, img_b, (label == 1).astype(np.uint8), alpha=alpha), path


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmcd'))
    loader = cfg.get(f'{args.split}_dataloader')
    if not loader or 'dataset' not in loader:
        print(f'error: {args.config} has no {args.split}_dataloader.dataset',
              file=sys.stderr)
        return 1
    dataset = DATASETS.build(loader['dataset'])
    count = len(dataset) if args.max_samples is None else min(
        args.max_samples, len(dataset))
    os.makedirs(args.output_dir, exist_ok=True)
    print(f'{args.split} pipeline of {args.config}:')
    for transform in dataset.pipeline.transforms:
        print(f'  {transform!r}')
    changed = ignored = total = 0
    for index in range(count):
        packed = dataset[index]
        panel, path = sample_panel(packed, args.alpha)
        name = f'{index:05d}_{osp.splitext(osp.basename(path))[0]}.png'
        target = osp.join(args.output_dir, name)
        ok, buf = cv2.imencode('.png', panel[..., ::-1])
        if not ok:
            raise OSError(f'could not encode the panel {target}')
        try:
            with open(target, 'xb') as f:
                f.write(buf.tobytes())
        except FileExistsError:
            print(f'error: {target} exists; choose another --output-dir '
                  '(nothing is overwritten)', file=sys.stderr)
            return 1
        if 'gt_sem_seg' in packed['data_samples']:
            label = packed['data_samples'].gt_sem_seg.data
            changed += int((label == 1).sum())
            ignored += int((label == 255).sum())
            total += label.numel()
        if index == 0:
            inputs = packed['inputs']
            print(f'inputs: {tuple(inputs.shape)} {inputs.dtype} (2C x H x '
                  f'W, date A first), range {float(inputs.min()):g}..'
                  f'{float(inputs.max()):g}')
    label_note = (f'; labels: {100.0 * changed / total:.2f}% changed, '
                  f'{100.0 * ignored / total:.2f}% ignored' if total else
                  '; no labels')
    print(f'wrote {count} of {len(dataset)} panels (date A | date B | change '
          f'label in red on B) to {args.output_dir}{label_note}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
