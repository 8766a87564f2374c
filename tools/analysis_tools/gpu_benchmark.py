"""Training and inference speed on a GPU, as one Markdown table.

    python tools/analysis_tools/gpu_benchmark.py [--device cuda] \\
        [--configs CONFIG ...] [--train-batch 8] [--shape 256]
    python tools/analysis_tools/gpu_benchmark.py --device cpu --quick

For each config (default: LSNet diffFPN, BiSeNetV2-CD and the FC-Siam-diff
baseline) and each mode (fp32; channels-last; AMP, i.e. float16 autocast with
mmengine's ``AmpOptimWrapper`` in training; AMP + channels-last; AMP only on
CUDA) it measures:

- training pairs/s: ``model.train_step`` (data preprocessor, forward, losses,
  backward, optimiser step) on one synthetic batch of ``--train-batch``
  pairs, the modes alternating
  (``benchmark.py --train``'s :func:`benchmark_train`);
- inference latency (median) at batch 1 and pairs/s at batch 1, 8 and 32:
  the network's logits (what ``tools/test.py`` runs per batch) under
  ``torch.inference_mode``;
- peak GPU memory (``torch.cuda.max_memory_allocated``) of training and of
  inference at the largest batch.

It prints one Markdown table (and writes it to ``--out``). ``--quick`` runs
tiny sizes (64x64, batches 1 and 2, one timed run) so that it also finishes
in a minute on a CPU; the figures are then only a check that it works.
"""
import argparse
import contextlib
import os
import os.path as osp
import statistics
import sys
import time

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmcd.models.utils import ChangeLogits

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark import benchmark_train, train_batch, train_modes  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = [
    'configs/lsnet/lsnet_difffpn_1xb12-100e_cdd-256x256.py',
    'configs/bisenetv2_cd/bisenetv2cd_bga-booster_1xb16-40k_cdd-256x256.py',
    'configs/fcsiam/fc-siam-diff_unet_1xb32-50e_cdd-256x256.py',
]
MODES = ('fp32', 'channels-last', 'amp', 'amp+cl')
#: benchmark_train's names of the modes
TRAIN_NAMES = dict(zip(MODES, ('eager', 'channels-last', 'amp', 'amp+cl')))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Training and inference speed, one Markdown table')
    parser.add_argument('--configs', nargs='+', default=CONFIGS,
                        help='configs (default: LSNet diffFPN, BiSeNetV2-CD, '
                        'FC-Siam-diff)')
    parser.add_argument('--device', default='cuda',
                        help='cuda (default) or cpu')
    parser.add_argument('--train-batch', type=int, default=8,
                        help='pairs per training step')
    parser.add_argument('--infer-batch', type=int, nargs='+',
                        default=[1, 8, 32], help='inference batch sizes')
    parser.add_argument('--shape', type=int, default=256,
                        help='image side in pixels')
    parser.add_argument('--repeats', type=int, default=10,
                        help='timed runs per mode')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed runs per mode')
    parser.add_argument('--quick', action='store_true',
                        help='tiny sizes: 64x64, batches 2 / 1 2, 1 run')
    parser.add_argument('--out', help='also write the table to this file')
    args = parser.parse_args(argv)
    if args.quick:
        args.shape, args.train_batch, args.infer_batch = 64, 2, [1, 2]
        args.repeats, args.warmup = 1, 1
    return args


def peak_mib(cuda):
    return torch.cuda.max_memory_allocated() / 2**20 if cuda else None


def time_inference(model, x, repeats, warmup, amp, sync):
    """Median seconds of the network's logits on ``x``."""
    logits = ChangeLogits(model)
    times = []
    autocast = torch.autocast('cuda', dtype=torch.float16) if amp else (
        contextlib.nullcontext())
    with torch.inference_mode(), autocast:
        for i in range(warmup + repeats):
            start = time.perf_counter()
            logits(x)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def benchmark_config(config, args):
    """Rows ``{mode: {figure: value}}`` of one config."""
    cfg = Config.fromfile(config if osp.isfile(config) else
                          osp.join(REPO, config))
    cuda = args.device.startswith('cuda')
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    shape = (args.shape, args.shape)
    modes = MODES if cuda else MODES[:2]
    rows = {mode: {} for mode in modes}
    _, train = benchmark_train(cfg, args.train_batch, shape, args.repeats,
                               args.warmup, args.device, amp=cuda,
                               channels_last=True)
    for mode in modes:
        rows[mode]['train'] = train[TRAIN_NAMES[mode]]['pairs_per_s']
        rows[mode]['train_mib'] = train[TRAIN_NAMES[mode]]['peak_mib']
    # inference: the same initial weights, NCHW and channels-last
    models = [model.eval() for _, model, _ in train_modes(
        cfg, args.device, amp=False, channels_last=True)]
    for mode in modes:
        channels_last = mode in ('channels-last', 'amp+cl')
        model = models[int(channels_last)]
        for batch in args.infer_batch:
            data = train_batch(model, batch, shape)
            with torch.no_grad():
                x = model.data_preprocessor(data, False)['inputs']
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            seconds = time_inference(model, x, args.repeats, args.warmup,
                                     mode.startswith('amp'), sync)
            rows[mode][f'infer{batch}'] = batch / seconds
            rows[mode][f'latency{batch}'] = seconds
        rows[mode]['infer_mib'] = peak_mib(cuda)
    return rows


def markdown_table(results, args):
    batches = args.infer_batch
    head = (['model', 'mode', f'train pairs/s (batch {args.train_batch})',
             'train peak MiB', f'latency batch {batches[0]} (ms)'] +
            [f'pairs/s batch {b}' for b in batches] +
            [f'inference peak MiB (batch {batches[-1]})'])
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]

    def cell(value, fmt):
        return 'n/a' if value is None else format(value, fmt)

    for config, rows in results.items():
        name = osp.splitext(osp.basename(config))[0]
        for mode, row in rows.items():
            cells = [name, mode, cell(row['train'], '.2f'),
                     cell(row['train_mib'], '.0f'),
                     cell(row[f'latency{batches[0]}'] * 1e3, '.1f')]
            cells += [cell(row[f'infer{b}'], '.1f') for b in batches]
            cells.append(cell(row['infer_mib'], '.0f'))
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    cuda = args.device.startswith('cuda')
    if cuda and not torch.cuda.is_available():
        raise RuntimeError('--device cuda: no CUDA device is available '
                           '(use --device cpu --quick to check the script)')
    if cuda:
        torch.backends.cudnn.benchmark = True
    MMLogger.get_instance('mmengine', log_level='WARNING')
    device = (torch.cuda.get_device_name() if cuda else
              f'CPU, {torch.get_num_threads()} threads')
    results = {}
    for config in args.configs:
        start = time.perf_counter()
        results[config] = benchmark_config(config, args)
        print(f'{config}: {time.perf_counter() - start:.0f} s',
              file=sys.stderr, flush=True)
    table = (f'{device}, torch {torch.__version__}, {args.shape}x'
             f'{args.shape}, median of {args.repeats} runs after '
             f'{args.warmup} warm-up runs per mode'
             + (', cudnn.benchmark' if cuda else '') + '\n\n'
             + markdown_table(results, args))
    print(table)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
