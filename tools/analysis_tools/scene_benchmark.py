"""Scene throughput and peak memory of the sliding-window predictor.

Writes a synthetic GeoTIFF pair per size into a temporary folder, predicts
each in a fresh process (so its peak RSS is its own) and prints megapixels
per second and peak memory::

    python tools/analysis_tools/scene_benchmark.py \\
        --sizes 1024 2048 4096 --tile 512 --overlap 64 --batch-size 4

Memory should stay flat as the scene grows: it is bounded by the tile batch
and one band of ``tile`` rows x scene width, not by the scene.
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'lsnet',
                          'lsnet_difffpn_1xb8-10e_synthetic-128x128.py')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--checkpoint', help='weights (default: random '
                        'initialisation; speed and memory do not depend on '
                        'the weights)')
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[1024, 2048, 4096],
                        help='scene side lengths in pixels')
    parser.add_argument('--tile', type=int, default=512)
    parser.add_argument('--overlap', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--worker', nargs=3, metavar=('A', 'B', 'OUT'),
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def write_scene(path, size, seed, crs='EPSG:32633'):
    """A textured uint8 RGB GeoTIFF, written in strips (bounded memory)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window
    rng = np.random.default_rng(seed)
    with rasterio.open(path, 'w', driver='GTiff', height=size, width=size,
                       count=3, dtype='uint8', crs=crs, tiled=True,
                       blockxsize=256, blockysize=256, compress='deflate',
                       transform=Affine(0.5, 0, 500000, 0, -0.5, 4e6)) as ds:
        for y in range(0, size, 256):
            h = min(256, size - y)
            strip = rng.integers(0, 256, (3, h, size), dtype=np.uint8)
            ds.write(strip, window=Window(0, y, size, h))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args):
    import warnings
    warnings.simplefilter('ignore')
    import mmcd  # noqa: F401
    from mmcd.apis import ChangeInferencer, SceneChangePredictor
    inferencer = ChangeInferencer(args.config, args.checkpoint,
                                  device=args.device, show_progress=False)
    predictor = SceneChangePredictor(inferencer, tile=args.tile,
                                     overlap=args.overlap,
                                     batch_size=args.batch_size)
    # warm up on a few batches so that one-off allocations (and the
    # allocator's steady state) count for every size
    a = np.random.default_rng(0).integers(0, 256, (args.tile, args.tile, 3),
                                          dtype=np.uint8)
    for _ in range(3):
        inferencer.predict_probabilities([(a, a)] * args.batch_size,
                                         args.batch_size)
    rss_model = peak_rss_mb()
    start = time.perf_counter()
    res = predictor(args.worker[0], args.worker[1], args.worker[2])
    seconds = time.perf_counter() - start
    print(json.dumps(dict(seconds=seconds, tiles=res['tiles'],
                          rss_model=rss_model, rss_peak=peak_rss_mb())))


def main():
    args = parse_args()
    if args.worker:
        return worker(args)
    print(f'config {osp.basename(args.config)}, tile {args.tile}, overlap '
          f'{args.overlap}, batch {args.batch_size}, device {args.device}')
    print(f'{"scene":>11} {"tiles":>6} {"seconds":>8} {"MP/s":>6} '
          f'{"RSS after model":>16} {"peak RSS":>9} {"scene part":>10}')
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            a, b = osp.join(tmp, f'a{size}.tif'), osp.join(tmp, f'b{size}.tif')
            write_scene(a, size, 0)
            write_scene(b, size, 1)
            cmd = [sys.executable, __file__, '--worker', a, b,
                   osp.join(tmp, f'c{size}.tif'), '--config', args.config,
                   '--tile', str(args.tile), '--overlap', str(args.overlap),
                   '--batch-size', str(args.batch_size), '--device',
                   args.device]
            if args.checkpoint:
                cmd += ['--checkpoint', args.checkpoint]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stdout + out.stderr)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            mp = size * size / 1e6
            print(f'{size:>5}x{size:<5} {r["tiles"]:>6} {r["seconds"]:>8.1f} '
                  f'{mp / r["seconds"]:>6.3f} {r["rss_model"]:>13.0f} MB '
                  f'{r["rss_peak"]:>6.0f} MB '
                  f'{r["rss_peak"] - r["rss_model"]:>7.0f} MB', flush=True)


if __name__ == '__main__':
    main()
