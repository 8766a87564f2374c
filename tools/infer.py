"""Run a trained change detector on your own data.

One pair, two folders of pairs matched by file name, or two whole scenes::

    python tools/infer.py CONFIG CHECKPOINT --pair A.png B.png --out DIR
    python tools/infer.py CONFIG CHECKPOINT --folders DIR_A DIR_B --out DIR
    python tools/infer.py CONFIG CHECKPOINT --scene A.tif B.tif \\
        --out change.tif [--tile 512 --overlap 64 --vector change.gpkg \\
        --bands 4 3 2 --nodata 0 --align]

Pairs write ``DIR/mask/<name>.png`` (0/255), with ``--prob``
``DIR/prob/<name>.png`` and with ``--overlay`` ``DIR/overlay/<name>.png``.
A scene (any band count; uint8, uint16, int16 or float32 pixels, normalised
as in training) writes a 0/255 GeoTIFF (or PNG) with the input's
georeferencing, and with ``--vector`` its changed areas as a GeoPackage or
RFC 7946 GeoJSON.
"""
import argparse
import os.path as osp
import sys

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
from mmengine.config import Config, DictAction

from mmcd.apis import ChangeInferencer, SceneChangePredictor
from mmcd.apis.change_inferencer import find_config
from mmcd.apis.scene_io import limit_heap_growth
from mmcd.datasets.transforms import LABEL_ENCODINGS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Predict change masks with a trained change detector')
    parser.add_argument('config', help='config file (or mmcd config name)')
    parser.add_argument('checkpoint', help='checkpoint file')
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument('--pair', nargs=2, metavar=('A', 'B'),
                        help='one pair of images (date A, date B)')
    inputs.add_argument('--folders', nargs=2, metavar=('DIR_A', 'DIR_B'),
                        help='two folders of images paired by file name')
    inputs.add_argument('--scene', nargs=2, metavar=('A', 'B'),
                        help='two co-registered scenes (GeoTIFF, any band '
                        'count, uint8/uint16/int16/float32; or PNG/JPG/BMP '
                        'without georeferencing)')
    parser.add_argument('--out', required=True,
                        help='output folder (--pair, --folders) or change '
                        'map file, .tif or .png (--scene)')
    parser.add_argument('--prob', action='store_true',
                        help='also write P(changed) maps, as uint8 '
                        'round(255 * p) (--scene: <out>_prob.<ext>)')
    parser.add_argument('--overlay', action='store_true',
                        help='also write the change drawn on date B')
    parser.add_argument('--reference',
                        help='reference change mask (--pair) or folder of '
                        'masks named like the pairs (--folders): overlays '
                        'show TP green, FP red, FN blue; needs --overlay')
    parser.add_argument('--label-encoding', default='0-255',
                        choices=list(LABEL_ENCODINGS),
                        help='encoding of the reference masks (0-255: change '
                        '>= 128; 0-1: change >= 1; 1-2: OSCD, 2 = change)')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='pairs (or scene tiles) per forward pass')
    parser.add_argument('--threshold', type=float,
                        help='decision threshold on P(changed); default: '
                        'the checkpoint\'s')
    parser.add_argument('--device', default=None,
                        help='cpu, cuda, cuda:1... (default: auto)')
    parser.add_argument('--tile', type=int, default=512,
                        help='--scene: tile size in pixels')
    parser.add_argument('--overlap', type=int, default=64,
                        help='--scene: overlap of neighbouring tiles')
    parser.add_argument('--stripe-width', type=int, default=8192,
                        help='--scene: width of the column stripes the scene '
                        'is processed in; memory grows with it, not with the '
                        'scene (about 8 bytes x tile x stripe width)')
    parser.add_argument('--vector', help='--scene: also write the changed '
                        'areas as polygons to this file: .gpkg (GeoPackage, '
                        'the scene\'s CRS) or .geojson (RFC 7946: WGS84 '
                        'longitude/latitude)')
    parser.add_argument('--vector-scene-crs', action='store_true',
                        help='--scene: write the .geojson in the scene\'s '
                        'CRS (older GeoJSON with a "crs" member; NOT RFC '
                        '7946, which is WGS84 only)')
    parser.add_argument('--min-area', type=float, default=0,
                        help='--scene: drop polygons smaller than this many '
                        'pixels')
    parser.add_argument('--nodata', type=float, nargs='+',
                        help='--scene: nodata value, one for all bands or one '
                        'per band used (a pixel whose bands all hold it is '
                        'nodata), besides what the files declare')
    parser.add_argument('--bands', type=int, nargs='+',
                        help='--scene: 1-based bands to use, in the model\'s '
                        'channel order (default: the bands of the config\'s '
                        'loader, else all)')
    parser.add_argument('--align', action='store_true',
                        help='--scene: read date B on date A\'s grid (CRS, '
                        'transform, size), reprojected window by window, '
                        'instead of refusing scenes on different grids')
    parser.add_argument('--align-resampling', default='bilinear',
                        choices=['nearest', 'bilinear', 'cubic',
                                 'cubic_spline', 'lanczos', 'average'],
                        help='--scene --align: resampling of date B')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    parser.add_argument('--no-fast', action='store_true',
                        help='run the eager PyTorch model instead of the '
                        'fast inference path (OpenVINO or ONNX Runtime on '
                        'CPU)')
    parser.add_argument('--allow-partial-weights', action='store_true',
                        help='run even when the checkpoint\'s weights do '
                        'not fit the model (missing, unexpected or '
                        'mis-shaped keys, logged); by default that is an '
                        'error listing them')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs')
    args = parser.parse_args(argv)
    scene_only = [name for name in ('vector', 'nodata', 'bands')
                  if getattr(args, name) is not None]
    scene_only += [name for name in ('min_area', 'align', 'vector_scene_crs')
                   if getattr(args, name)]
    if args.align_resampling != 'bilinear':
        scene_only.append('align_resampling')
    if scene_only and not args.scene:
        names = ', --'.join(n.replace('_', '-') for n in scene_only)
        parser.error(f'--{names} only apply to --scene')
    if args.reference and not args.overlay:
        parser.error('--reference is drawn on overlays: add --overlay')
    if args.scene and (args.overlay or args.reference):
        parser.error('--overlay/--reference apply to --pair and --folders')
    if args.vector_scene_crs and not args.vector:
        parser.error('--vector-scene-crs applies to --vector')
    if args.align_resampling != 'bilinear' and not args.align:
        parser.error('--align-resampling applies to --align')
    return args


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    # a config file, or the name of one of mmcd's configs
    model = Config.fromfile(args.config if osp.isfile(args.config) else
                            find_config(args.config))
    if args.cfg_options:
        model.merge_from_dict(args.cfg_options)
    inferencer = ChangeInferencer(
        model, args.checkpoint, device=args.device,
        threshold=args.threshold, show_progress=not args.no_progress,
        fast=not args.no_fast,
        allow_partial_weights=args.allow_partial_weights)

    if args.scene:
        # a whole program: keep the heap from growing with the tiles run
        limit_heap_growth()
        prob_out = None
        if args.prob:
            stem, ext = osp.splitext(args.out)
            prob_out = f'{stem}_prob{ext}'
        predictor = SceneChangePredictor(
            inferencer, tile=args.tile, overlap=args.overlap,
            batch_size=args.batch_size, bands=args.bands,
            nodata=args.nodata, stripe_width=args.stripe_width,
            align=args.align, resampling=args.align_resampling)
        res = predictor(*args.scene, args.out, prob_out=prob_out,
                        vector_out=args.vector, min_area=args.min_area,
                        overwrite=args.overwrite,
                        vector_scene_crs=args.vector_scene_crs)
        share = res['changed_pixels'] / max(res['valid_pixels'], 1)
        print(f'{res["width"]}x{res["height"]} scene, {res["tiles"]} tiles: '
              f'{res["changed_pixels"]} changed pixels ({share:.2%} of the '
              f'valid ones) -> {args.out}'
              + (f', {prob_out}' if prob_out else '')
              + (f', {res["polygons"]} polygons -> {args.vector}'
                 if args.vector else ''))
        return

    inputs = tuple(args.pair or args.folders)
    for path in inputs:
        if args.folders and not osp.isdir(path):
            raise FileNotFoundError(f'--folders: not a folder: {path}')
        if args.pair and not osp.isfile(path):
            raise FileNotFoundError(f'--pair: image not found: {path}')
    res = inferencer(
        inputs, references=args.reference, batch_size=args.batch_size,
        out_dir=args.out, save_prob=args.prob, save_overlay=args.overlay,
        overwrite=args.overwrite, label_encoding=args.label_encoding,
        return_results=False)
    print(f'{len(res["names"])} pair(s) -> {osp.join(args.out, "mask")}')


if __name__ == '__main__':
    sys.exit(main())
