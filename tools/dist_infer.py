"""Predict the change maps of many scene pairs on several processes.

    python tools/dist_infer.py CONFIG CHECKPOINT --scenes LIST --out DIR
    tools/dist_infer.sh CONFIG CHECKPOINT N --scenes LIST --out DIR \\
        [--split-scenes]

LIST is a text file with one scene pair per line: ``A B [NAME]`` (paths
separated by white space, relative ones taken from LIST's folder; blank lines
and lines starting with ``#`` are skipped). Each pair writes
``DIR/NAME.tif`` (NAME defaults to A's file name without its suffix), with
``--prob`` also ``DIR/NAME_prob.tif`` and with ``--vector`` also
``DIR/NAME.geojson``, exactly as ``tools/infer.py --scene`` would.

Under ``torchrun`` (``tools/dist_infer.sh``, ``--launcher pytorch``) rank
``r`` of ``N`` takes the pairs ``r, r + N, r + 2N...`` of the list (round
robin) and predicts each whole scene with
:class:`mmcd.apis.SceneChangePredictor`, on GPU ``LOCAL_RANK`` when there
are GPUs, else on the CPU (gloo); the outputs are the same files as one
process writes. Every process checks the whole list before predicting
anything, so a missing input or an existing output stops all of them.

With ``--split-scenes`` every scene is shared by all ``N`` processes
instead (one huge scene, or fewer scenes than processes): rank ``r``
predicts the column stripes ``r, r + N, ...`` of the scene
(:meth:`~mmcd.apis.SceneChangePredictor.predict_part`; tiles across a
stripe border run on both sides) into a hidden part file in DIR
(``.NAME.part-r.tif``, float32), and rank 0 merges the parts into the
outputs, the same files as one process writes, byte for byte; the parts are
then removed.
"""
import argparse
import os
import os.path as osp
import sys
import time

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction

from mmcd.apis import ChangeInferencer, SceneChangePredictor
from mmcd.apis.change_inferencer import find_config
from mmcd.apis.scene_io import limit_heap_growth


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Change maps of many scene pairs, whole scenes per '
        'process')
    parser.add_argument('config', help='config file (or mmcd config name)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--scenes', required=True,
                        help='text file: one "A B [NAME]" scene pair a line')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--suffix', default='.tif', choices=['.tif', '.png'],
                        help='format of the change maps (default .tif)')
    parser.add_argument('--prob', action='store_true',
                        help='also write P(changed) as NAME_prob<suffix>')
    parser.add_argument('--vector', action='store_true',
                        help='also write the changed areas as NAME.geojson')
    parser.add_argument('--min-area', type=float, default=0,
                        help='drop polygons smaller than this many pixels')
    parser.add_argument('--tile', type=int, default=512,
                        help='tile size in pixels')
    parser.add_argument('--overlap', type=int, default=64,
                        help='overlap of neighbouring tiles')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='tiles per forward pass')
    parser.add_argument('--stripe-width', type=int, default=8192,
                        help='width of the column stripes a scene is '
                        'processed in')
    parser.add_argument('--bands', type=int, nargs='+',
                        help='1-based bands to use, in the model\'s channel '
                        'order (default: the bands of the config\'s loader, '
                        'else all)')
    parser.add_argument('--nodata', type=float, nargs='+',
                        help='nodata value, one for all bands or one per band '
                        'used, besides what the files declare')
    parser.add_argument('--align', action='store_true',
                        help='read date B on date A\'s grid (tools/infer.py '
                        '--scene --align)')
    parser.add_argument('--align-resampling', default='bilinear',
                        choices=['nearest', 'bilinear', 'cubic',
                                 'cubic_spline', 'lanczos', 'average'],
                        help='--align: resampling of date B')
    parser.add_argument('--threshold', type=float,
                        help='decision threshold on P(changed); default: '
                        'the checkpoint\'s')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda:LOCAL_RANK when '
                        'available)')
    parser.add_argument('--no-fast', action='store_true',
                        help='run the eager PyTorch model instead of the '
                        'fast path (OpenVINO or ONNX Runtime on CPU)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--split-scenes', action='store_true',
                        help='share every scene among all processes (column '
                        'stripes, merged by rank 0) instead of giving each '
                        'process whole scenes')
    parser.add_argument('--launcher', choices=['none', 'pytorch'],
                        default='none', help='job launcher')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs')
    return parser.parse_args(argv)


def read_scene_list(path):
    """``[(path_a, path_b, name), ...]`` from a scene list file; relative
    paths are taken from the list's folder."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'--scenes: file not found: {path}')
    root = osp.dirname(osp.abspath(path))
    scenes, names = [], {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0].startswith('#'):
                continue
            if len(fields) not in (2, 3):
                raise ValueError(
                    f'--scenes: {path} line {number}: expected "A B [NAME]", '
                    f'got {line.strip()!r}')
            path_a, path_b = (osp.join(root, p) for p in fields[:2])
            name = fields[2] if len(fields) == 3 else osp.splitext(
                osp.basename(path_a))[0]
            if name in names:
                raise ValueError(
                    f'--scenes: {path} lines {names[name]} and {number} '
                    f'both write {name!r}; give one a NAME')
            for p in (path_a, path_b):
                if not osp.isfile(p):
                    raise FileNotFoundError(
                        f'--scenes: {path} line {number}: scene not found: '
                        f'{p}')
            names[name] = number
            scenes.append((path_a, path_b, name))
    if not scenes:
        raise ValueError(f'--scenes: no scene pairs in {path}')
    return scenes


def output_paths(args, name):
    """(change map, probability map or None, polygons or None) of a pair."""
    stem = osp.join(args.out, name)
    return (stem + args.suffix,
            stem + '_prob' + args.suffix if args.prob else None,
            stem + '.geojson' if args.vector else None)


def init_launcher(launcher):
    """(rank, world size, local rank); starts the process group under
    torchrun (NCCL with GPUs, else gloo)."""
    if launcher == 'none':
        return 0, 1, 0
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    torch_dist.init_process_group(backend=backend)
    return (torch_dist.get_rank(), torch_dist.get_world_size(),
            int(os.environ.get('LOCAL_RANK', 0)))


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    scenes = read_scene_list(args.scenes)
    existing = [p for _, _, name in scenes for p in output_paths(args, name)
                if p and osp.exists(p)]
    if existing and not args.overwrite:
        raise FileExistsError(
            f'{len(existing)} output(s) already exist (pass --overwrite to '
            f'replace them): ' + ', '.join(existing[:5]))
    rank, world_size, local_rank = init_launcher(args.launcher)
    if world_size > 1:  # no process writes before every one has checked
        torch_dist.barrier()
    device = args.device
    if device is None and torch.cuda.is_available():
        device = f'cuda:{local_rank}'
    os.makedirs(args.out, exist_ok=True)
    cfg = Config.fromfile(args.config if osp.isfile(args.config) else
                          find_config(args.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    inferencer = ChangeInferencer(
        cfg, args.checkpoint, device=device, threshold=args.threshold,
        show_progress=False, fast=not args.no_fast)
    limit_heap_growth()
    predictor = SceneChangePredictor(
        inferencer, tile=args.tile, overlap=args.overlap,
        batch_size=args.batch_size, bands=args.bands, nodata=args.nodata,
        stripe_width=args.stripe_width, align=args.align,
        resampling=args.align_resampling)
    if args.split_scenes and world_size > 1:
        results = predict_split(args, predictor, scenes, rank, world_size)
        torch_dist.destroy_process_group()
        if rank == 0:
            report(args, results, world_size)
        return
    results = []
    for path_a, path_b, name in scenes[rank::world_size]:
        start = time.perf_counter()
        out, prob_out, vector_out = output_paths(args, name)
        res = predictor(path_a, path_b, out, prob_out=prob_out,
                        vector_out=vector_out, min_area=args.min_area,
                        overwrite=args.overwrite)
        results.append(summary(name, rank, start, res))
    if world_size > 1:
        gathered = [None] * world_size
        torch_dist.all_gather_object(gathered, results)
        results = [r for part in gathered for r in part]
        torch_dist.destroy_process_group()
    if rank == 0:
        report(args, results, world_size)


def summary(name, rank, start, res):
    """What :func:`report` prints of a scene pair's prediction."""
    return dict(name=name, rank=rank, seconds=time.perf_counter() - start,
                **{k: res[k] for k in ('width', 'height', 'tiles',
                                       'changed_pixels', 'valid_pixels')})


def predict_split(args, predictor, scenes, rank, world_size):
    """Every scene shared by all ranks: each predicts its stripes into a
    part file, rank 0 merges them; the results of rank 0 (others: [])."""
    results = []
    for path_a, path_b, name in scenes:
        start = time.perf_counter()
        out, prob_out, vector_out = output_paths(args, name)
        parts = [osp.join(args.out, f'.{name}.part-{k}.tif')
                 for k in range(world_size)]
        try:
            predictor.predict_part(path_a, path_b, parts[rank], out, rank,
                                   world_size)
            torch_dist.barrier()  # every part written
            if rank == 0:
                res = predictor(path_a, path_b, out, prob_out=prob_out,
                                vector_out=vector_out,
                                min_area=args.min_area,
                                overwrite=args.overwrite, parts=parts)
                results.append(summary(name, f'0-{world_size - 1}', start,
                                       res))
            torch_dist.barrier()  # merged: the parts can go
        finally:
            if osp.exists(parts[rank]):
                os.remove(parts[rank])
    return results


def report(args, results, world_size):
    """Print one line per scene pair and a summary (rank 0)."""
    for r in sorted(results, key=lambda r: r['name']):
        share = r['changed_pixels'] / max(r['valid_pixels'], 1)
        print(f'{r["name"]}: {r["width"]}x{r["height"]}, {r["tiles"]} '
              f'tiles, {share:.2%} changed, {r["seconds"]:.1f} s on '
              f'rank {r["rank"]}')
    print(f'{len(results)} scene pair(s) on {world_size} process(es) -> '
          f'{args.out}')


if __name__ == '__main__':
    sys.exit(main())
