"""Evaluate a change detector: ``python tools/test.py CONFIG CHECKPOINT``.

Prints Precision, Recall, F1, IoU (change class), OA and Kappa from one global
confusion matrix over the test set. ``--out DIR`` also writes one 0/255 PNG
mask per pair under the pair's own file name; ``--show-dir DIR`` writes A | B |
overlay panels (``--show`` displays them). Existing files there are refused
before the run unless ``--overwrite``; an input image or mask and a folder of
the test set never are written to. ``--format-only --out DIR`` writes the masks
of an unlabelled test set (no mask is read). A table of Precision, Recall, F1
and IoU per pair, worst F1 first, is written to
``<work dir>/<timestamp>/per_image_test.csv``.
On CPU the network runs in OpenVINO (or ONNX Runtime, ``--fast-backend``):
the config's ``fast_model`` (``FastChangeSegmentor``, from
``configs/_base_/default_runtime.py``) wraps ``model`` as mmseg's ``--tta``
wraps it in ``tta_model``; the logits equal the eager model's within 1e-4 (the
README's Speed section has the measurements).
``--no-fast`` tests the eager PyTorch model; on a GPU it is always eager. The
log names the runtime that computed the metrics. ``--fast bf16`` runs the
graph with bfloat16 arithmetic (OpenVINO), ``--fast int8`` a statically
quantised graph (OpenVINO's NNCF, or ONNX Runtime with ``--fast-backend
onnxruntime``; calibrated on ``--calib-pairs`` pairs of the config's training
split, nothing written to disk); both then also score the
fp32 graph on the same test set, logging both F1s and their difference.
"""
import argparse
import copy
import os
import os.path as osp

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import torch
from mmengine.config import DictAction
from mmengine.device import get_device
from mmengine.runner import Runner

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
        '--show', action='store_true', help='show the panels in a window')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace existing files in --out and --show-dir (input images '
        'and masks are never replaced)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--no-fast',
        action='store_true',
        help='test the eager PyTorch model instead of the config\'s '
        'fast_model (default on CPU: FastChangeSegmentor, the network in '
        'ONNX Runtime, same logits within 1e-4); the log names the runtime '
        'that computed the metrics')
    parser.add_argument(
        '--fast',
        choices=['fp32', 'bf16', 'int8'],
        default='fp32',
        help='precision of the fast graph on CPU (default fp32, the eager '
        'model\'s logits within 1e-4); bf16: bfloat16 arithmetic (OpenVINO, '
        'CPUs with bfloat16 instructions); int8: statically quantised '
        '(NNCF in OpenVINO, or ONNX Runtime), calibrated on pairs of the '
        'training split; for both the fp32 graph\'s F1 is reported beside '
        'theirs')
    parser.add_argument(
        '--fast-backend',
        choices=['auto', 'openvino', 'onnxruntime'],
        default='auto',
        help='runtime of the fast graph (default auto: OpenVINO where it is '
        'installed, for int8 with nncf; else ONNX Runtime)')
    parser.add_argument(
        '--calib-pairs',
        type=int,
        default=16,
        help='--fast int8: pairs of the config\'s training split to '
        'calibrate the activation ranges on (default 16)')
    parser.add_argument(
        '--calib-method',
        choices=['percentile', 'minmax', 'entropy'],
        default='percentile',
        help='--fast int8 in ONNX Runtime: activation ranges from the '
        'calibration runs (NNCF has its own) '
        '(default percentile, 99.999%%; minmax is 2-3x faster to calibrate '
        'and loses more F1)')
    parser.add_argument(
        '--allow-partial-weights',
        action='store_true',
        help='test even when the checkpoint\'s weights do not fit the '
        'model (missing, unexpected or mis-shaped keys, logged); by default '
        'that is an error listing them')
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


def drop_test_labels(cfg):
    """--format-only: the test set needs no change masks (unlabelled data):
    no label folder, no LoadChangeAnnotation."""
    dataset = cfg.test_dataloader.dataset
    if isinstance(dataset.get('data_prefix'), dict):
        dataset.data_prefix = dict(dataset.data_prefix, seg_map_path=None)
    dataset.pipeline = [
        t for t in dataset.get('pipeline', [])
        if not str(t.get('type')).endswith('LoadChangeAnnotation')
    ]


def check_test_outputs(dataset, out_dirs, overwrite):
    """Refuse an output folder that is an input folder, an output file that
    is an input file and, unless ``overwrite``, an existing output file.

    The masks (--out) and panels (--show-dir) are named
    ``<date-A name>.png``, as ChangeMetric and ChangeVisualizationHook
    write them.
    """
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    inputs = {
        osp.realpath(info[key])
        for info in infos
        for key in ('img_path', 'img_path2', 'seg_map_path') if info.get(key)
    }
    input_dirs = {osp.dirname(p) for p in inputs}
    for option, out_dir in out_dirs.items():
        if not out_dir:
            continue
        if osp.realpath(out_dir) in input_dirs:
            raise ValueError(
                f'{option} {out_dir} is a folder of the test set\'s images or '
                'masks; its files would be replaced: choose another folder')
        paths = [
            osp.join(out_dir,
                     osp.splitext(osp.basename(info['img_path']))[0] + '.png')
            for info in infos
        ]
        replaced = [p for p in paths if osp.realpath(p) in inputs]
        if replaced:
            raise ValueError(f'{option}: {replaced[0]} is an input of the '
                             'test set; choose another folder')
        existing = [p for p in paths if osp.lexists(p)]
        if existing and not overwrite:
            shown = ', '.join(existing[:5]) + (
                f' (and {len(existing) - 5} more)' if len(existing) > 5 else
                '')
            raise FileExistsError(
                f'{option}: {len(existing)} output file(s) already exist: '
                f'{shown}; choose another folder or pass --overwrite')


def calibration_batches(cfg, model, num_pairs):
    """``num_pairs`` preprocessed pairs (one per batch) of the config's
    training split, through its training pipeline, for int8 calibration."""
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(batch_size=1, num_workers=0, persistent_workers=False)
    try:
        loader = Runner.build_dataloader(loader_cfg, seed=0)
    except (FileNotFoundError, OSError) as e:
        raise FileNotFoundError(
            '--fast int8 calibrates on the training split of the config '
            f'(train_dataloader), which could not be read: {e}') from e
    batches = []
    with torch.no_grad():
        for data in loader:
            batches.append(model.data_preprocessor(data, False)['inputs'])
            if len(batches) == num_pairs:
                break
    if not batches:
        raise ValueError('--fast int8: the training split is empty; nothing '
                         'to calibrate on')
    return batches


def score_again(runner, evaluator_cfg):
    """The test set's metrics with ``runner.model`` as it is now, writing
    nothing (no masks, panels or per-pair table)."""
    evaluator_cfg = copy.deepcopy(evaluator_cfg)
    for cfg in evaluator_cfg if isinstance(evaluator_cfg, list) else [
            evaluator_cfg
    ]:
        cfg.update(output_dir=None, format_only=False, per_image_table=False)
    evaluator = runner.build_evaluator(evaluator_cfg)
    dataloader = runner.test_loop.dataloader
    evaluator.dataset_meta = dataloader.dataset.metainfo
    runner.model.eval()
    with torch.no_grad():
        for data in dataloader:
            evaluator.process(runner.model.test_step(data), data)
    return evaluator.evaluate(len(dataloader.dataset))


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    if args.format_only and not args.out:
        raise ValueError('--format-only needs --out DIR to write the masks to')
    if args.overwrite and not (args.out or args.show_dir):
        raise ValueError('--overwrite applies to --out and --show-dir')
    if args.no_fast and args.fast != 'fp32':
        raise ValueError(f'--no-fast and --fast {args.fast} contradict each '
                         'other: choose one')
    if args.no_fast and args.fast_backend != 'auto':
        raise ValueError(f'--no-fast and --fast-backend {args.fast_backend} '
                         'contradict each other: choose one')
    if args.calib_pairs < 1:
        raise ValueError(f'--calib-pairs must be >= 1, got {args.calib_pairs}')
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir,
                           args.launcher)
    cfg.load_from = args.checkpoint
    # the Runner loads load_from non-strictly: refuse weights of another
    # model (auxiliary heads, used in training only, may differ)
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='WeightsMatchHook', allow_partial=args.allow_partial_weights)
    ]

    if args.show or args.show_dir:
        cfg.default_hooks.visualization = dict(
            type='ChangeVisualizationHook',
            draw=True,
            out_dir=args.show_dir,
            show=args.show,
            wait_time=args.wait_time)
    if args.out:
        cfg.test_evaluator.output_dir = args.out
        cfg.test_evaluator.format_only = args.format_only
    if args.format_only:
        drop_test_labels(cfg)
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, dict) and str(evaluator.get('type')).endswith(
            'ChangeMetric'):
        # per-pair P/R/F1/IoU, worst first: <log dir>/per_image_test.csv
        evaluator.per_image_table = True
    custom_hooks = cfg.get('custom_hooks') or []
    if not any(
            str(hook.get('type')).endswith('ChangeReportHook')
            for hook in custom_hooks):
        # writes the per-image table and PR curve of ChangeMetric
        cfg.custom_hooks = list(custom_hooks) + [
            dict(type='ChangeReportHook')
        ]

    # as mmseg's --tta does with tta_model: the config's fast_model wraps
    # model (configs without one get FastChangeSegmentor's defaults)
    device = get_device()
    if args.no_fast:
        chosen = 'eager PyTorch (--no-fast)'
    elif device != 'cpu':
        chosen = f'eager PyTorch (on {device}; the fast path is for CPUs)'
    else:
        cfg.fast_model = cfg.get('fast_model') or dict(
            type='mmcd.FastChangeSegmentor')
        cfg.fast_model.module = cfg.model
        cfg.fast_model.precision = args.fast
        cfg.fast_model.backend = args.fast_backend
        if args.fast == 'int8':
            cfg.fast_model.calibrate_method = args.calib_method
        cfg.model = cfg.fast_model
        # each process runs its own graph: no DistributedDataParallel
        cfg.model_wrapper_cfg = None
        chosen = (f'the fast graph, {args.fast}, backend {args.fast_backend} '
                  '(--no-fast for eager PyTorch)')

    runner = Runner.from_cfg(cfg)
    # before anything runs: never replace an input or, without
    # --overwrite, an existing file
    show_dir = args.show_dir and osp.join(runner.log_dir, args.show_dir)
    check_test_outputs(runner.test_loop.dataloader.dataset,
                       {'--out': args.out, '--show-dir': show_dir},
                       args.overwrite)
    precision = getattr(runner.model, 'precision', 'fp32')
    if precision == 'int8':
        runner.model.calibrate(
            calibration_batches(cfg, runner.model, args.calib_pairs))
    runner.logger.info(
        f'testing with {type(runner.model).__name__}: {chosen}')
    metrics = runner.test()
    runtime = getattr(runner.model, 'runtime', None) or 'eager PyTorch'
    runner.logger.info(f'metrics computed with {runtime}')
    if (precision != 'fp32' and not args.format_only
            and 'F1' in (metrics or {})):
        # the cost of the reduced precision, on the same test set
        runner.model.precision = 'fp32'
        runner.model.reset()
        reference = score_again(runner, cfg.test_evaluator)
        runner.logger.info(
            f'change F1: {precision} {metrics["F1"]:.4f}, fp32 '
            f'{reference["F1"]:.4f} ({precision} - fp32: '
            f'{metrics["F1"] - reference["F1"]:+.4f}; fp32 with '
            f'{runner.model.runtime})')


if __name__ == '__main__':
    main()
