"""Per-band statistics of a config's training images, for its
``data_preprocessor``.

Every training pair is loaded by the config's own loading transforms
(``LoadImagePairFromFile`` with its ``bands`` and ``dtype``; no crops, flips
or photometric changes) and each band's mean, standard deviation and 2nd /
98th percentiles are computed over all pixels of both dates (one value per
band, used for date A and date B alike, so that a change of value stays a
change; ``--per-date`` gives each date its own). The ``mean=`` / ``std=``
lines printed at the end are the ``data_preprocessor`` settings to paste,
with 2C values: date A's bands, then date B's.

Memory stays bounded whatever the dataset size: means and variances are
merged image by image (Chan et al.), percentiles come from exact per-band
histograms for integer data (uint8, uint16, int16) and from a fixed-size
uniform reservoir sample per band for float data.

Example::

    python tools/analysis_tools/band_stats.py CONFIG [--split train] \
        [--max-samples 500] [--nodata 0]
"""
import argparse
import copy
import sys
from typing import Optional

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import numpy as np
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmcd.registry import DATASETS
from mmcd.utils.tool_setup import load_tool_config

#: Transforms kept from the pipeline: the ones that load the pair.
_ANNOTATION_LOADERS = ('LoadChangeAnnotation', 'LoadAnnotations')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Per-band mean/std and 2/98 percentiles of the training '
        'images, printed as data_preprocessor settings')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--split',
                        choices=['train', 'val', 'test'],
                        default='train',
                        help="which dataloader's dataset (default train)")
    parser.add_argument('--max-samples',
                        type=int,
                        default=None,
                        help='use this many pairs drawn at random (default '
                        'all)')
    parser.add_argument('--per-date',
                        action='store_true',
                        help='statistics of date A and date B apart '
                        '(default: one set per band, both dates pooled)')
    parser.add_argument('--reservoir',
                        type=int,
                        default=200_000,
                        help='float data: values kept per band for the '
                        'percentiles (default 200000)')
    parser.add_argument('--nodata',
                        type=float,
                        default=None,
                        help="a value left out of every band's statistics "
                        '(e.g. 0, Sentinel-2 L1C no-data)')
    parser.add_argument('--seed',
                        type=int,
                        default=0,
                        help='seed of --max-samples and the reservoir')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs')
    args = parser.parse_args(argv)
    if args.max_samples is not None and args.max_samples < 1:
        parser.error(f'--max-samples must be >= 1; got {args.max_samples}')
    if args.reservoir < 100:
        parser.error(f'--reservoir must be >= 100; got {args.reservoir}')
    return args


def _type_name(t) -> str:
    t = t['type']
    return (t if isinstance(t, str) else t.__name__).split('.')[-1]


def loading_only(dataset_cfg: dict) -> dict:
    """The dataset config with its pipeline cut to the leading ``Load*``
    transforms (annotations dropped) and repeat wrappers removed."""
    cfg = copy.deepcopy(dataset_cfg)
    if 'Repeat' in _type_name(cfg) and 'dataset' in cfg:
        return loading_only(cfg['dataset'])
    if 'datasets' in cfg:
        cfg['datasets'] = [loading_only(d) for d in cfg['datasets']]
        return cfg
    if 'dataset' in cfg:
        cfg['dataset'] = loading_only(cfg['dataset'])
        return cfg
    pipeline = []
    for t in cfg.get('pipeline', []):
        if not _type_name(t).startswith('Load'):
            break
        if _type_name(t) not in _ANNOTATION_LOADERS:
            pipeline.append(t)
    if not pipeline:
        raise ValueError('the dataset pipeline starts with no loading '
                         'transform (e.g. LoadImagePairFromFile)')
    cfg['pipeline'] = pipeline
    return cfg


class BandStatistics:
    """Running per-band mean/std and percentiles of ``N x C`` pixel
    batches in bounded memory.

    Args:
        num_bands (int): Bands (columns) of every batch.
        dtype (np.dtype): The data's type: integer types get exact
            histograms, float types a reservoir sample.
        reservoir (int): Float data: values kept per band. Defaults to
            200000.
        seed (int): Seed of the reservoir sampling. Defaults to 0.
        nodata (float, optional): A value left out of the statistics.
            Defaults to None.
    """

    def __init__(self,
                 num_bands: int,
                 dtype,
                 reservoir: int = 200_000,
                 seed: int = 0,
                 nodata: Optional[float] = None) -> None:
        self.num_bands = num_bands
        self.nodata = nodata
        self.dtype = np.dtype(dtype)
        self.count = np.zeros(num_bands, np.int64)
        self.mean = np.zeros(num_bands, np.float64)
        self.m2 = np.zeros(num_bands, np.float64)
        self.integer = self.dtype.kind in 'ui'
        if self.integer:
            info = np.iinfo(self.dtype)
            if info.max - info.min >= 1 << 16:
                raise ValueError(f'{self.dtype} data: histograms cover '
                                 'integer types of at most 16 bits')
            self.offset = -int(info.min)
            self.hist = np.zeros((num_bands, info.max - info.min + 1),
                                 np.int64)
        else:
            self.rng = np.random.default_rng(seed)
            self.reservoir_size = reservoir
            self.samples = [np.empty(0, np.float64) for _ in range(num_bands)]

    def update(self, pixels: np.ndarray) -> None:
        """Add an ``N x C`` batch (non-finite float values are skipped)."""
        for c in range(self.num_bands):
            values = pixels[:, c]
            if not self.integer:
                values = values[np.isfinite(values)]
            if self.nodata is not None:
                values = values[values != self.nodata]
            n = values.size
            if not n:
                continue
            v = values.astype(np.float64)
            mean = v.mean()
            m2 = ((v - mean)**2).sum()
            total = self.count[c] + n
            delta = mean - self.mean[c]
            self.mean[c] += delta * n / total
            self.m2[c] += m2 + delta**2 * self.count[c] * n / total
            seen = self.count[c]
            self.count[c] = total
            if self.integer:
                self.hist[c] += np.bincount(values.astype(np.int64) +
                                            self.offset,
                                            minlength=self.hist.shape[1])
            else:
                self._reservoir(c, v, seen)

    def _reservoir(self, c: int, values: np.ndarray, seen: int) -> None:
        # each of the seen + n values is kept with probability k / (seen + n)
        k = self.reservoir_size
        sample = self.samples[c]
        if sample.size < k:
            take = min(k - sample.size, values.size)
            sample = np.concatenate([sample, values[:take]])
            values, seen = values[take:], seen + take
        if values.size:
            positions = seen + np.arange(values.size)
            slots = (self.rng.random(values.size) * (positions + 1)).astype(
                np.int64)
            keep = slots < k
            # later values win a contended slot, as in the sequential form
            sample[slots[keep]] = values[keep]
        self.samples[c] = sample

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per band."""
        return np.sqrt(self.m2 / np.maximum(self.count, 1))

    def percentile(self, q: float) -> np.ndarray:
        """The ``q``-th percentile per band (exact for integer data; of the
        reservoir sample for float data)."""
        out = np.zeros(self.num_bands)
        for c in range(self.num_bands):
            if self.integer:
                cdf = np.cumsum(self.hist[c])
                if cdf[-1]:
                    out[c] = np.searchsorted(
                        cdf, q / 100 * cdf[-1], side='left') - self.offset
            elif self.samples[c].size:
                out[c] = np.percentile(self.samples[c], q)
        return out


def _fmt(values) -> str:
    return '[' + ', '.join(f'{v:.6g}' for v in values) + ']'


def main(argv=None):
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmcd'))
    loader = cfg.get(f'{args.split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError(f'config {args.config} has no {args.split}_'
                         'dataloader.dataset')
    dataset = DATASETS.build(loading_only(loader['dataset']))
    indices = np.arange(len(dataset))
    if not len(indices):
        raise ValueError(f'the {args.split} dataset of {args.config} is '
                         'empty')
    if args.max_samples is not None and args.max_samples < len(indices):
        indices = np.sort(
            np.random.default_rng(args.seed).choice(indices,
                                                    args.max_samples,
                                                    replace=False))

    stats = None
    progress = ProgressBar(len(indices))
    for i in indices:
        img = dataset[int(i)]['img']
        if img.ndim != 3 or img.shape[2] % 2:
            raise ValueError(f'sample {i}: the pipeline gives shape '
                             f'{img.shape}, not H x W x 2C')
        c = img.shape[2] // 2
        pixels = img.reshape(-1, 2 * c)
        if not args.per_date:
            pixels = np.concatenate([pixels[:, :c], pixels[:, c:]], axis=0)
        if stats is None:
            stats = BandStatistics(pixels.shape[1], img.dtype, args.reservoir,
                                   args.seed, args.nodata)
            first = (c, img.dtype)
        elif (c, img.dtype) != first:
            raise ValueError(
                f'sample {i} ({dataset.get_data_info(int(i)).get("img_path")}'
                f') has {c} bands of {img.dtype} per date, the first had '
                f'{first[0]} of {first[1]}')
        stats.update(pixels)
        progress.update()
    print()

    c = first[0]
    p2, p98 = stats.percentile(2), stats.percentile(98)
    mean, std = stats.mean, stats.std
    names = [f'band {k + 1}' for k in range(c)]
    if args.per_date:
        names = [f'A {n}' for n in names] + [f'B {n}' for n in names]
    print(f'{len(indices)} {args.split} pairs, {c} bands per date, '
          f'{first[1]}' +
          ('' if stats.integer else ' (percentiles of a reservoir sample)'))
    print(f'{"":>10} {"mean":>12} {"std":>12} {"p2":>12} {"p98":>12}')
    for k, name in enumerate(names):
        print(f'{name:>10} {mean[k]:12.4f} {std[k]:12.4f} {p2[k]:12.4f} '
              f'{p98[k]:12.4f}')
    if not args.per_date:
        mean, std = np.tile(mean, 2), np.tile(std, 2)
    if (std == 0).any():
        print('warning: constant band(s) '
              f'{[k + 1 for k in np.flatnonzero(std[:c] == 0)]}: std 0 '
              'would divide by zero; use std=1 there or drop the band')
    print(f'\ndata_preprocessor settings ({2 * c} values: date A\'s bands, '
          "then date B's):")
    print(f'    mean={_fmt(mean)},')
    print(f'    std={_fmt(std)},')


if __name__ == '__main__':
    sys.exit(main())
