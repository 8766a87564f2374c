"""Scene throughput and peak memory of the sliding-window predictor.

Writes a synthetic GeoTIFF pair per size into a temporary folder, predicts
each in a fresh process (so its peak RSS is its own) and prints megapixels
per second and peak memory::

    python tools/analysis_tools/scene_benchmark.py \\
        --sizes 1024 2048 4096 16384x1024 32768x1024 --tile 512 \\
        --overlap 64 --batch-size 4

Sizes are ``N`` (N x N) or ``WxH``. Memory should stay flat as the scene
grows, in height and in width: it is bounded by the tile batch and one band
of ``tile`` rows x ``--stripe-width`` columns, not by the scene.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'lsnet',
                          'lsnet_difffpn_1xb8-10e_synthetic-128x128.py')


def scene_size(text: str):
    """``N`` or ``WxH`` as (width, height)."""
    try:
        sizes = [int(v) for v in text.lower().split('x')]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f'scene size {text!r}: give N or WxH in pixels')
    return (sizes[0], sizes[-1])


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--checkpoint', help='weights (default: random '
                        'initialisation; speed and memory do not depend on '
                        'the weights)')
    parser.add_argument('--sizes', type=scene_size, nargs='+',
                        default=[scene_size(s) for s in (
                            '1024', '2048', '4096', '16384x1024',
                            '32768x1024')],
                        help='scene sizes in pixels: N (square) or WxH')
    parser.add_argument('--tile', type=int, default=512)
    parser.add_argument('--overlap', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--stripe-width', type=int, default=8192)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--worker', nargs=3, metavar=('A', 'B', 'OUT'),
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def write_scene(path, size, seed, crs='EPSG:32633'):
    """A random uint8 RGB GeoTIFF of ``size`` (width, height), written in
    strips (bounded memory)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window
    rng = np.random.default_rng(seed)
    width, height = size
    with rasterio.open(path, 'w', driver='GTiff', height=height, width=width,
                       count=3, dtype='uint8', crs=crs, tiled=True,
                       blockxsize=256, blockysize=256, compress='deflate',
                       transform=Affine(0.5, 0, 500000, 0, -0.5, 4e6)) as ds:
        for y in range(0, height, 256):
            h = min(256, height - y)
            strip = rng.integers(0, 256, (3, h, width), dtype=np.uint8)
            ds.write(strip, window=Window(0, y, width, h))


def rss_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f'no {field} in /proc/self/status')


def reset_peak_rss() -> bool:
    """Restart the peak RSS (VmHWM) from the current RSS (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def worker(args):
    import warnings
    warnings.simplefilter('ignore')
    import mmcd  # noqa: F401
    from mmcd.apis import ChangeInferencer, SceneChangePredictor
    from mmcd.apis.scene_io import limit_heap_growth
    limit_heap_growth()  # as tools/infer.py --scene
    inferencer = ChangeInferencer(args.config, args.checkpoint,
                                  device=args.device, show_progress=False)
    predictor = SceneChangePredictor(inferencer, tile=args.tile,
                                     overlap=args.overlap,
                                     batch_size=args.batch_size,
                                     stripe_width=args.stripe_width)
    # warm up on a few batches so that one-off allocations (and the
    # allocator's steady state) count for every size
    a = np.random.default_rng(0).integers(0, 256, (args.tile, args.tile, 3),
                                          dtype=np.uint8)
    for _ in range(3):
        inferencer.predict_probabilities([(a, a)] * args.batch_size,
                                         args.batch_size)
    # the peak from here on is the scene's (model loading and the fast
    # path's export peak earlier do not count)
    if not reset_peak_rss():
        sys.exit('cannot reset the peak RSS (/proc/self/clear_refs); this '
                 'benchmark needs Linux >= 4.0')
    rss_model = rss_mb('VmRSS')
    start = time.perf_counter()
    res = predictor(args.worker[0], args.worker[1], args.worker[2])
    seconds = time.perf_counter() - start
    print(json.dumps(dict(seconds=seconds, tiles=res['tiles'],
                          rss_model=rss_model, rss_peak=rss_mb('VmHWM'))))


def main():
    args = parse_args()
    if args.worker:
        return worker(args)
    print(f'config {osp.basename(args.config)}, tile {args.tile}, overlap '
          f'{args.overlap}, batch {args.batch_size}, stripe width '
          f'{args.stripe_width}, device {args.device}')
    print(f'{"scene":>11} {"tiles":>6} {"seconds":>8} {"MP/s":>6} '
          f'{"RSS before scene":>16} {"peak RSS":>9} {"scene part":>10}')
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            name = '{}x{}'.format(*size)
            a, b = osp.join(tmp, f'a{name}.tif'), osp.join(tmp, f'b{name}.tif')
            write_scene(a, size, 0)
            write_scene(b, size, 1)
            cmd = [sys.executable, __file__, '--worker', a, b,
                   osp.join(tmp, f'c{name}.tif'), '--config', args.config,
                   '--tile', str(args.tile), '--overlap', str(args.overlap),
                   '--batch-size', str(args.batch_size), '--stripe-width',
                   str(args.stripe_width), '--device', args.device]
            if args.checkpoint:
                cmd += ['--checkpoint', args.checkpoint]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stdout + out.stderr)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            mp = size[0] * size[1] / 1e6
            print(f'{name:>11} {r["tiles"]:>6} {r["seconds"]:>8.1f} '
                  f'{mp / r["seconds"]:>6.3f} {r["rss_model"]:>13.0f} MB '
                  f'{r["rss_peak"]:>6.0f} MB '
                  f'{r["rss_peak"] - r["rss_model"]:>7.0f} MB', flush=True)


if __name__ == '__main__':
    main()
