"""LSNet training steps against the original code, side by side in one
process.

    python tools/analysis_tools/train_vs_original.py ORIGINAL_DIR \\
        [--config CONFIG] [--batch-size 4] [--shape 256] [--repeats 5] \\
        [--compile]

ORIGINAL_DIR is a checkout of github.com/qaz670756/LSNet (its ``models/`` and
``utils/metrics.py`` are imported from there; nothing of it is copied). The
original model of the config's variant and mmcd's get the same weights (a
random initialisation of the original with non-trivial BatchNorm parameters,
converted with ``tools/model_converters/lsnet2mmcd.py``) and the same
synthetic batch. One training step is, for the original, what its
``train.py`` does (``model(cat([A, B]))``, its ``FocalLoss(gamma=0)`` +
``dice_loss``, backward, ``AdamW(lr=1e-3)``), for mmcd ``model.train_step``
(data preprocessor, CE + soft Dice, backward, the config's AdamW), in the
default memory format (``mmcd eager``) and channels-last (``mmcd
channels-last``, what ``channels_last = True`` trains with) and, with
``--compile``, both formats with ``torch.compile`` on ``extract_feat`` and the
decode head's ``forward`` (``mmcd compile``, ``mmcd channels-last +
compile``; the first step, which compiles, is timed apart). The runtimes
alternate in blocks of steps, so all see the same machine load; it prints
the first step's losses of both codes and a Markdown table of the medians.
"""
import argparse
import copy
import os
import os.path as osp
import statistics
import sys
import time

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmcd.engine.hooks.compile_network_hook import compile_network
from mmcd.registry import MODELS

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from benchmark import train_batch  # noqa: E402
from benchmark_vs_original import (CONFIG, import_file,  # noqa: E402
                                   original_model, same_weights, variant_of)

CONVERTER = osp.join(osp.dirname(HERE), 'model_converters', 'lsnet2mmcd.py')


def parse_args():
    parser = argparse.ArgumentParser(
        description='LSNet training step: original code vs mmcd')
    parser.add_argument('original', help='checkout of qaz670756/LSNet')
    parser.add_argument('--config', default=CONFIG, help='an LSNet config')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='pairs per step (default 4)')
    parser.add_argument('--shape', type=int, default=256, help='square side')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed steps per runtime')
    parser.add_argument('--block', type=int, default=1,
                        help='steps per runtime in a row')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--compile', action='store_true',
                        help='also time both formats with torch.compile')
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    MMLogger.get_instance('mmengine', log_level='WARNING')
    init_default_scope('mmcd')
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    converter = import_file('lsnet2mmcd', CONVERTER)
    original = original_model(args.original, variant_of(model)).train()
    same_weights(original, model, None, converter)
    metrics = import_file('lsnet_original_metrics',
                          osp.join(args.original, 'utils', 'metrics.py'))
    focal, dice = metrics.FocalLoss(gamma=0, alpha=None), metrics.dice_loss()

    data = train_batch(model, args.batch_size, (args.shape, args.shape))
    pairs = torch.stack(data['inputs']).float()
    images = torch.cat([pairs[:, :3], pairs[:, 3:]], 0)  # the original's
    labels = torch.cat([s.gt_sem_seg.data for s in data['data_samples']])
    original_optimizer = torch.optim.AdamW(original.parameters(), lr=1e-3)

    def original_step():
        original_optimizer.zero_grad()
        logits = original(images)[-1]
        loss = focal(logits, labels) + dice(logits, labels)
        loss.backward()
        original_optimizer.step()
        return float(loss)

    runtimes = [('original', original_step)]
    variants = [('mmcd eager', False, False),
                ('mmcd channels-last', True, False)]
    if args.compile:
        variants += [('mmcd compile', False, True),
                     ('mmcd channels-last + compile', True, True)]
    for name, channels_last, compiled in variants:
        copy_ = copy.deepcopy(model).train()
        if channels_last:
            copy_.to(memory_format=torch.channels_last)
        if compiled:
            compile_network(copy_)
        wrapper = build_optim_wrapper(copy_, copy.deepcopy(cfg.optim_wrapper))

        def step(copy_=copy_, wrapper=wrapper):
            return float(copy_.train_step(data, wrapper)['loss'])

        runtimes.append((name, step))
    first, first_seconds = {}, {}
    for name, step in runtimes:  # also the warm-up (and compilation)
        start = time.perf_counter()
        first[name] = step()
        first_seconds[name] = time.perf_counter() - start
    print('first step seconds: ' + ', '.join(
        f'{name} {t:.1f}' for name, t in first_seconds.items()))
    print('first step loss: ' + ', '.join(
        f'{name} {loss:.7f}' for name, loss in first.items()))
    print('load average before timing (other processes share the CPU): ' +
          ' '.join(f'{v:.2f}' for v in os.getloadavg()))
    times = {name: [] for name, _ in runtimes}
    while len(times[runtimes[-1][0]]) < args.repeats:
        for name, step in runtimes:
            for _ in range(args.block):
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
        print('  ' + ', '.join(f'{n} {t[-1]:.2f} s' for n, t in times.items()),
              flush=True)
    base = statistics.median(times['original'])
    print(f'\nLSNet ({osp.basename(args.config)}), one training step, batch '
          f'{args.batch_size}, {args.shape}x{args.shape}, {args.threads} '
          f'threads, medians of {args.repeats} steps, runtimes alternating\n')
    print('| runtime | s/step | pairs/s | vs original |')
    print('|---|---|---|---|')
    for name, _ in runtimes:
        median = statistics.median(times[name])
        print(f'| {name} | {median:.2f} | {args.batch_size / median:.3f} | '
              f'{base / median:.2f}x |')


if __name__ == '__main__':
    main()
