"""Inference speed of a change detector: eager PyTorch and the fast path.

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] \\
        [--batch-size 1 8] [--shape 256] [--repeats 20] [--threads N]

For each batch size the network (backbone, neck, decode head: what
``tools/test.py`` runs per batch, without data loading) is timed on synthetic
image pairs (:func:`mmcd.datasets.synthetic.make_synthetic_pair`, through the
model's data preprocessor), eager PyTorch (``torch.inference_mode``) and the
fast path (:class:`mmcd.models.segmentors.FastChangeSegmentor`, OpenVINO or
ONNX Runtime: ``--fast-backend``)
**alternating in blocks of runs in one process**, so both see the same machine
load (the first run of each block is not timed: each runtime's idle threads
spin a little after a run). It prints latency median and p90, pairs per second
(batch / median latency), the fast/eager ratio, the largest logit difference,
the threads used and peak memory. Give the trained checkpoint: trained weights
behave differently from a random initialisation (subnormal floats, logit
magnitudes). On a GPU (``--device cuda``) it times the eager model only (the
fast path is for CPUs) and reports ``torch.cuda.max_memory_allocated``.

With ``--train`` it times training steps instead (``model.train_step``: the
data preprocessor, forward, losses, backward and the config's optimiser step,
on one synthetic batch made beforehand, so without data loading) and reports
training pairs per second, eager and, with ``--channels-last`` / ``--amp``
(CUDA), in those modes too, all alternating in one process::

    python tools/analysis_tools/benchmark.py CONFIG --train \\
        [--batch-size 4] [--channels-last] [--amp] [--repeats 5]
"""
import argparse
import copy
import os
import resource
import statistics
import sys
import time

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.apis import init_model
from mmseg.structures import SegDataSample

from mmcd.datasets.synthetic import make_synthetic_pair
from mmcd.models.segmentors import FastChangeSegmentor
from mmcd.models.utils import ChangeLogits, fast_path_problem, pair_channels
from mmcd.registry import MODELS


def parse_args():
    parser = argparse.ArgumentParser(
        description='Latency and throughput, eager vs fast path')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (optional)')
    parser.add_argument(
        '--batch-size', type=int, nargs='+', default=[1, 8],
        help='batch sizes (pairs per forward); default 1 8')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[256],
        help='image size: one value (square) or height width; default 256')
    parser.add_argument(
        '--repeats', type=int, default=20, help='timed runs per mode')
    parser.add_argument(
        '--warmup', type=int, default=2, help='untimed runs per mode')
    parser.add_argument(
        '--threads', type=int,
        help='CPU threads of PyTorch and ONNX Runtime (default: torch\'s)')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cpu or cuda (default: cuda when available)')
    parser.add_argument(
        '--no-fast', action='store_true', help='time the eager model only')
    parser.add_argument(
        '--fast-backend', choices=['auto', 'openvino', 'onnxruntime'],
        default='auto', help='runtime of the fast path (default auto: '
        'OpenVINO where installed)')
    parser.add_argument(
        '--train', action='store_true',
        help='time training steps (forward, backward, optimiser step)')
    parser.add_argument(
        '--channels-last', action='store_true',
        help='--train: also time the channels-last memory format')
    parser.add_argument(
        '--amp', action='store_true',
        help='--train: also time mixed precision (CUDA)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs')
    return parser.parse_args()


def peak_rss_mib():
    """Peak resident memory of this process so far (Linux: KiB units)."""
    scale = 1 if sys.platform == 'darwin' else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def timed(fn, x, sync):
    start = time.perf_counter()
    out = fn(x)
    sync()
    return time.perf_counter() - start, out


def summary(name, times, batch):
    median = statistics.median(times)
    p90 = float(np.percentile(times, 90))
    return (median, f'  {name:<6} median {median * 1e3:9.1f} ms   p90 '
            f'{p90 * 1e3:9.1f} ms   {batch / median:8.2f} pairs/s')


def benchmark_inputs(model, batch, shape):
    """A preprocessed batch of synthetic pairs (as ``tools/test.py`` feeds
    the network), ``(batch, 2C, H, W)``."""
    rng = np.random.default_rng(batch)
    side = max(shape)
    channels = pair_channels(model) // 2
    pairs = []
    for _ in range(batch):
        img_a, img_b, _ = make_synthetic_pair(rng, side)
        pair = np.concatenate([img_a, img_b], 2)[:shape[0], :shape[1]]
        if channels != 3:  # not RGB: repeat or cut the RGB channels
            rgb = np.arange(channels) % 3
            pair = np.concatenate([pair[..., rgb], pair[..., 3 + rgb]], 2)
        pairs.append(torch.from_numpy(pair).permute(2, 0, 1).contiguous())
    samples = [SegDataSample() for _ in pairs]
    with torch.no_grad():
        return model.data_preprocessor(
            dict(inputs=pairs, data_samples=samples), False)['inputs']


def benchmark(model, batch, shape, repeats, warmup, device, fast_logits=None,
              block=5):
    """Time eager (and fast) on one batch size; returns the printed lines
    and the figures."""
    x = benchmark_inputs(model, batch, shape).to(device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (
        lambda: None)
    modes = [('eager', ChangeLogits(model))]
    if fast_logits is not None:
        modes.append(('fast', fast_logits))
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    times = {name: [] for name, _ in modes}
    outs = {}
    with torch.inference_mode():
        for name, fn in modes:
            for _ in range(warmup):
                timed(fn, x, sync)
        while len(times[modes[-1][0]]) < repeats:
            for name, fn in modes:  # alternating blocks: same load for both
                for i in range(min(block, repeats - len(times[name])) + 1):
                    t, outs[name] = timed(fn, x, sync)
                    if i > 0:
                        times[name].append(t)
    lines, figures = [f'batch {batch}, {shape[0]}x{shape[1]}:'], {}
    for name, _ in modes:
        figures[name], line = summary(name, times[name], batch)
        lines.append(line)
    if fast_logits is not None:
        diff = (outs['eager'].float().cpu() - outs['fast']).abs().max()
        figures['ratio'] = figures['eager'] / figures['fast']
        figures['max_abs_diff'] = float(diff)
        scale = float(outs['eager'].abs().max())
        lines.append(f'  fast/eager pairs/s: {figures["ratio"]:.2f}x   '
                     f'max |logit difference| {float(diff):.2e} (largest '
                     f'|logit| {scale:.1f})')
    if device.startswith('cuda'):
        lines.append('  peak GPU memory '
                     f'{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB')
    return lines, figures


def main():
    args = parse_args()
    if len(args.shape) not in (1, 2):
        raise ValueError(f'--shape takes 1 or 2 values, got {args.shape}')
    shape = tuple(args.shape * 2 if len(args.shape) == 1 else args.shape)
    if args.threads:
        torch.set_num_threads(args.threads)
    MMLogger.get_instance('mmengine', log_level='WARNING')
    if args.train:
        return main_train(args, shape)
    model = init_model(args.config, args.checkpoint, args.device,
                       args.cfg_options)
    fast_logits = None
    if not args.no_fast and args.device == 'cpu':
        problem = fast_path_problem(model)
        if problem is not None:
            print(f'no fast path for this model ({problem}): timing the '
                  'eager model only')
        else:
            start = time.perf_counter()
            fast = FastChangeSegmentor(model, backend=args.fast_backend,
                                       strict=True)
            fast_logits = fast.fast_logits()
            print(f'fast path ({fast.runtime}) prepared in '
                  f'{time.perf_counter() - start:.1f} s')
    elif not args.no_fast:
        print('the fast path is for CPUs: timing the eager model only')
    threads = torch.get_num_threads()
    print(f'{args.config}  device {args.device}  torch threads {threads}' +
          (f'  fast path threads {fast_logits.num_threads}'
           if fast_logits is not None else '') +
          f'  (median/p90 of {args.repeats} runs after {args.warmup} '
          'warm-up runs, eager and fast alternating in blocks)')
    print('load average before timing (other processes share the CPU): ' +
          ' '.join(f'{v:.2f}' for v in os.getloadavg()))
    for batch in args.batch_size:
        lines, _ = benchmark(model, batch, shape, args.repeats, args.warmup,
                             args.device, fast_logits)
        print('\n'.join(lines))
    print(f'peak resident memory of the process (both modes): '
          f'{peak_rss_mib():.0f} MiB')


# ------------------------------------------------------------ --train


def train_batch(model, batch, shape, seed=0):
    """One training batch as the train dataloader gives it (before the data
    preprocessor): synthetic pairs (uint8, ``2C x H x W``) and their change
    masks."""
    rng = np.random.default_rng(seed)
    channels = pair_channels(model) // 2
    rgb = np.arange(channels) % 3  # not RGB: repeat or cut the RGB channels
    inputs, samples = [], []
    for _ in range(batch):
        img_a, img_b, mask = make_synthetic_pair(rng, max(shape))
        pair = np.concatenate([img_a[..., rgb], img_b[..., rgb]], 2)
        pair = pair[:shape[0], :shape[1]]
        inputs.append(torch.from_numpy(pair).permute(2, 0, 1).contiguous())
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(
            mask[:shape[0], :shape[1]].astype(np.int64))[None])
        sample.set_metainfo(dict(img_shape=shape, ori_shape=shape))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def train_modes(cfg, device, amp, channels_last):
    """``[(name, model, optim_wrapper)]``: the config's model (one random
    initialisation, copied to every mode) and optimiser wrapper, eager and,
    where they apply, with AMP (CUDA; mmengine's ``AmpOptimWrapper``) and
    channels-last memory format."""
    init_default_scope(cfg.get('default_scope', 'mmcd'))
    base = MODELS.build(cfg.model)
    base.init_weights()
    base.to(device).train()
    variants = [('eager', False, False)]
    if channels_last:
        variants.append(('channels-last', False, True))
    if amp and device.startswith('cuda'):
        variants.append(('amp', True, False))
        if channels_last:
            variants.append(('amp+cl', True, True))
    elif amp:
        print('--amp: mmengine\'s AmpOptimWrapper needs CUDA; timing fp32 '
              'only')
    modes = []
    for name, use_amp, use_cl in variants:
        model = copy.deepcopy(base)
        if use_cl:
            model.to(memory_format=torch.channels_last)
        wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
        if use_amp:
            wrapper_cfg.update(type='AmpOptimWrapper', loss_scale='dynamic')
        modes.append((name, model, build_optim_wrapper(model, wrapper_cfg)))
    return modes


def benchmark_train(cfg, batch, shape, repeats, warmup, device, amp=False,
                    channels_last=False, block=2):
    """Time training steps (``model.train_step``: data preprocessor,
    forward, losses, backward, optimiser step; the batch is made once, so no
    data loading) of each mode, alternating in blocks; returns the printed
    lines and ``{mode: dict(pairs_per_s, peak_mib)}`` (peak GPU memory of
    the mode's warm-up steps, every mode's model being resident; None on
    CPU)."""
    modes = train_modes(cfg, device, amp, channels_last)
    data = train_batch(modes[0][1], batch, shape)
    cuda = device.startswith('cuda')
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    peak = {}

    def step(model, wrapper):
        start = time.perf_counter()
        model.train_step(data, wrapper)
        sync()
        return time.perf_counter() - start

    for name, model, wrapper in modes:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        for _ in range(warmup):
            step(model, wrapper)
        if cuda:
            peak[name] = torch.cuda.max_memory_allocated() / 2**20
    times = {name: [] for name, _, _ in modes}
    while len(times[modes[-1][0]]) < repeats:
        for name, model, wrapper in modes:  # alternating: same load
            for _ in range(min(block, repeats - len(times[name]))):
                times[name].append(step(model, wrapper))
    lines = [f'training, batch {batch}, {shape[0]}x{shape[1]} (data '
             'preprocessor, forward, losses, backward, optimiser step):']
    figures = {}
    eager = statistics.median(times['eager'])
    for name, _, _ in modes:
        median = statistics.median(times[name])
        figures[name] = dict(pairs_per_s=batch / median,
                             peak_mib=peak.get(name))
        lines.append(
            f'  {name:<13} median {median * 1e3:9.1f} ms/step   p90 '
            f'{np.percentile(times[name], 90) * 1e3:9.1f} ms   '
            f'{batch / median:7.2f} pairs/s   {eager / median:5.2f}x eager' +
            (f'   peak GPU memory {peak[name]:.0f} MiB'
             if name in peak else ''))
    return lines, figures


def main_train(args, shape):
    """``--train``: training pairs/s of the config's model."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    print(f'{args.config}  device {args.device}  torch threads '
          f'{torch.get_num_threads()}  (median/p90 of {args.repeats} steps '
          f'after {args.warmup} warm-up steps per mode, modes alternating)')
    if cfg.get('channels_last', False):
        print('the config trains channels-last (tools/train.py): its speed '
              'is the channels-last row; eager is the default NCHW format')
    print('load average before timing (other processes share the CPU): ' +
          ' '.join(f'{v:.2f}' for v in os.getloadavg()))
    for batch in args.batch_size:
        lines, _ = benchmark_train(cfg, batch, shape, args.repeats,
                                   args.warmup, args.device, args.amp,
                                   args.channels_last)
        print('\n'.join(lines))
    print(f'peak resident memory of the process: {peak_rss_mib():.0f} MiB')


if __name__ == '__main__':
    main()
