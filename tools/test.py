"""Evaluate a change detector: ``python tools/test.py CONFIG CHECKPOINT``.

Prints Precision, Recall, F1, IoU (change class), OA and Kappa from one global
confusion matrix over the test set. ``--out DIR`` also writes one 0/255 PNG
mask per pair under the pair's own file name; ``--show-dir DIR`` writes
A | B | overlay panels. A table of Precision, Recall, F1 and IoU per pair,
worst F1 first, is written to ``<work dir>/<timestamp>/per_image_test.csv``.
On CPU the model runs through ONNX Runtime (``mmcd.apis.prepare_fast_model``,
same logits within 1e-4, faster: see the benchmark) unless ``--no-fast`` is given.
"""
import argparse
import os
import os.path as osp

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
from mmengine.config import DictAction
from mmengine.runner import Runner

from mmcd.apis.fast_inference import FastInferenceHook
from mmcd.utils.tool_setup import load_tool_config


def parse_args():
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a change detector')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save logs and the metrics json')
    parser.add_argument(
        '--out',
        help='write one 0/255 PNG change mask per pair into this directory')
    parser.add_argument(
        '--format-only',
        action='store_true',
        help='with --out: only write masks, compute no metric (for test '
        'sets without labels)')
    parser.add_argument(
        '--show-dir',
        help='write A | B | change-overlay panels into this directory '
        '(relative paths go under the run\'s log dir)')
    parser.add_argument(
        '--no-fast',
        action='store_true',
        help='test the eager PyTorch model instead of the fast inference '
        'path (ONNX Runtime on CPU, same logits within 1e-4)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs')
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
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    if args.format_only and not args.out:
        raise ValueError('--format-only needs --out DIR to write the masks to')
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir,
                           args.launcher)
    cfg.load_from = args.checkpoint

    if args.show_dir:
        cfg.default_hooks.visualization = dict(
            type='ChangeVisualizationHook', draw=True, out_dir=args.show_dir)
    if args.out:
        cfg.test_evaluator.output_dir = args.out
        cfg.test_evaluator.format_only = args.format_only
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, dict) and str(evaluator.get('type')).endswith(
            'ChangeMetric'):
        # per-pair P/R/F1/IoU, worst first: <log dir>/per_image_test.csv
        evaluator.per_image_table = True

    runner = Runner.from_cfg(cfg)
    if not args.no_fast:
        runner.register_hook(FastInferenceHook())
    runner.test()


if __name__ == '__main__':
    main()
