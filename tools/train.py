"""Train a change detector: ``python tools/train.py CONFIG [options]``."""
import argparse
import logging
import os

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
from mmengine.config import DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner, find_latest_checkpoint

from mmcd.utils.tool_setup import (load_tool_config,
                                   write_checkpoints_atomically)


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
        '--channels-last',
        action='store_true',
        help='train in the channels-last memory format (the config\'s '
        '`channels_last = True`; ChannelsLastHook)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='compile the network (backbone, neck, decode head) with '
        'torch.compile (CompileNetworkHook); the first step of each input '
        'shape compiles')
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
        latest = find_latest_checkpoint(cfg.work_dir)
        if latest is None:
            raise FileNotFoundError(
                f'--resume: nothing to resume in the work dir {cfg.work_dir} '
                '(no last_checkpoint file there); pass --resume CHECKPOINT, '
                'or leave --resume out to start a new run')
        if not os.path.isfile(latest):
            raise FileNotFoundError(
                f'--resume: the latest checkpoint named in '
                f'{os.path.join(cfg.work_dir, "last_checkpoint")} is not '
                f'there: {latest}; pass --resume CHECKPOINT')
        cfg.resume = True
        cfg.load_from = latest
    elif args.resume is not None:
        if not os.path.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume: checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume

    # a run killed while saving leaves no truncated checkpoint
    write_checkpoints_atomically(cfg)
    # --resume continues as the uninterrupted run would (configs that set
    # their own custom_hooks get it too)
    custom_hooks = list(cfg.get('custom_hooks') or [])
    if not any(str(h.get('type')).endswith('ExactResumeHook')
               for h in custom_hooks):
        custom_hooks.append(dict(type='ExactResumeHook'))
    # channels-last memory format: the same results, faster on CPU
    if args.channels_last:
        cfg.channels_last = True
    if cfg.get('channels_last', False) and not any(
            str(h.get('type')).endswith('ChannelsLastHook')
            for h in custom_hooks):
        custom_hooks.append(dict(type='ChannelsLastHook'))
    if args.compile and not any(
            str(h.get('type')).endswith('CompileNetworkHook')
            for h in custom_hooks):
        custom_hooks.append(dict(type='CompileNetworkHook'))
    cfg.custom_hooks = custom_hooks
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
