"""Train a change detector: ``python tools/train.py CONFIG [options]``."""
import argparse
import logging
import os

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
from mmengine.config import DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmcd.utils.tool_setup import load_tool_config


def parse_args():
    parser = argparse.ArgumentParser(description='Train a change detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        help='resume from CHECKPOINT, or without a value from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs '
        '(e.g. train_dataloader.batch_size=4)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir,
                           args.launcher)

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.',
                      logger='current', level=logging.WARNING)
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper type is '
                f'`OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not os.path.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume: checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume

    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
