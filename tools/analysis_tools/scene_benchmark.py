"""Scene throughput and peak memory of the sliding-window predictor.

Writes a synthetic GeoTIFF pair per size into a temporary folder, predicts
each in a fresh process per model (so its peak RSS is its own) and prints
megapixels per second and peak memory::

    python tools/analysis_tools/scene_benchmark.py \\
        --sizes 1024 2048 4096 16384x1024 32768x1024 --tile 512 \\
        --overlap 64 --batch-size 4

Sizes are ``N`` (N x N) or ``WxH``. Memory should stay flat as the scene
grows, in height and in width: it is bounded by the tile batch and one band
of ``tile`` rows x ``--stripe-width`` columns, not by the scene.

``--prefetch 0 2`` runs each scene with reading, inference and writing in
one thread (0) and overlapped in a reader and a writer thread (2 batches
ahead / blocks behind), alternating ``--repeats`` times in one process, and
prints the median of each and their ratio (the outputs are checked to be
identical byte for byte), with the time spent reading and writing (``I/O
s``; in the reader and writer threads with prefetch > 0): with prefetch 0,
its share of the scene's time bounds what the overlap can gain. The default
models are LSNet (diffFPN) and BiSeNetV2-CD; ``--configs`` takes any others.
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
DEFAULT_CONFIGS = [
    osp.join(REPO, 'configs', 'lsnet',
             'lsnet_difffpn_1xb8-10e_synthetic-128x128.py'),
    osp.join(REPO, 'configs', 'bisenetv2_cd',
             'bisenetv2cd_bga-booster_1xb16-40k_cdd-256x256.py'),
]


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
    parser.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS,
                        help='models to run (default: LSNet diffFPN and '
                        'BiSeNetV2-CD)')
    parser.add_argument('--checkpoint', help='weights, with one config '
                        '(default: random initialisation; speed and memory '
                        'do not depend on the weights)')
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
    parser.add_argument('--prefetch', type=int, nargs='+', default=[2],
                        help='SceneChangePredictor prefetch values to run '
                        'side by side (0: no reader/writer threads)')
    parser.add_argument('--repeats', type=int, default=1,
                        help='runs per prefetch value (alternating); the '
                        'median is printed')
    parser.add_argument('--worker', nargs=3, metavar=('A', 'B', 'OUT'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.checkpoint and len(args.configs) != 1:
        parser.error('--checkpoint goes with one config (--configs)')
    if args.repeats < 1 or min(args.prefetch) < 0:
        parser.error('--repeats must be >= 1 and --prefetch >= 0')
    return args


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


def time_io(io_seconds: list) -> None:
    """Add the time spent reading (pixels and nodata masks) and writing
    scene blocks to ``io_seconds[0]``: with prefetch 0 its share of the
    scene's time bounds what overlapping them can gain."""
    from mmcd.apis.scene_io import RasterSceneReader
    from mmcd.utils.writers import RasterSceneWriter

    def timed(fn):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                io_seconds[0] += time.perf_counter() - start
        return call

    for cls, names in ((RasterSceneReader, ('read', 'valid')),
                       (RasterSceneWriter, ('write', 'close'))):
        for name in names:
            setattr(cls, name, timed(getattr(cls, name)))


def worker(args):
    import filecmp
    import warnings
    warnings.simplefilter('ignore')
    import mmcd  # noqa: F401
    from mmcd.apis import ChangeInferencer, SceneChangePredictor
    from mmcd.apis.scene_io import limit_heap_growth
    limit_heap_growth()  # as tools/infer.py --scene
    io_seconds = [0.]
    time_io(io_seconds)
    inferencer = ChangeInferencer(args.configs[0], args.checkpoint,
                                  device=args.device, show_progress=False)
    predictors = {
        p: SceneChangePredictor(inferencer, tile=args.tile,
                                overlap=args.overlap,
                                batch_size=args.batch_size,
                                stripe_width=args.stripe_width, prefetch=p)
        for p in args.prefetch}
    # warm up on a few batches so that one-off allocations (and the
    # allocator's steady state) count for every size
    a = np.random.default_rng(0).integers(0, 256, (args.tile, args.tile, 3),
                                          dtype=np.uint8)
    for _ in range(3):
        inferencer.predict_probabilities([(a, a)] * args.batch_size,
                                         args.batch_size)
    rss_model = rss_mb('VmRSS')
    path_a, path_b, out = args.worker
    stem, ext = osp.splitext(out)
    seconds = {p: [] for p in args.prefetch}
    io = {p: [] for p in args.prefetch}
    rss_peak = 0
    for repeat in range(args.repeats):
        # alternate the order, so that neither always runs first
        order = args.prefetch[::-1] if repeat % 2 else args.prefetch
        for p in order:
            # the peak from here on is the scene's (model loading and the
            # fast path's export peak earlier do not count)
            if not reset_peak_rss():
                sys.exit('cannot reset the peak RSS (/proc/self/clear_refs);'
                         ' this benchmark needs Linux >= 4.0')
            io_seconds[0] = 0.
            start = time.perf_counter()
            res = predictors[p](path_a, path_b, f'{stem}_{p}{ext}',
                                overwrite=True)
            seconds[p].append(time.perf_counter() - start)
            io[p].append(io_seconds[0])
            rss_peak = max(rss_peak, rss_mb('VmHWM'))
    outputs = [f'{stem}_{p}{ext}' for p in args.prefetch]
    identical = all(filecmp.cmp(outputs[0], o, shallow=False)
                    for o in outputs[1:])
    print(json.dumps(dict(seconds=seconds, io=io, tiles=res['tiles'],
                          rss_model=rss_model, rss_peak=rss_peak,
                          identical=identical)))


def main():
    args = parse_args()
    if args.worker:
        return worker(args)
    print(f'tile {args.tile}, overlap {args.overlap}, batch '
          f'{args.batch_size}, stripe width {args.stripe_width}, device '
          f'{args.device}, prefetch {args.prefetch}, medians of '
          f'{args.repeats} run(s)')
    print(f'{"model":>24} {"scene":>11} {"prefetch":>8} {"tiles":>6} '
          f'{"seconds":>8} {"I/O s":>6} {"MP/s":>6} {"vs first":>8} '
          f'{"RSS before scene":>16} {"peak RSS":>9} {"scene part":>10}')
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            name = '{}x{}'.format(*size)
            a, b = osp.join(tmp, f'a{name}.tif'), osp.join(tmp, f'b{name}.tif')
            write_scene(a, size, 0)
            write_scene(b, size, 1)
            for config in args.configs:
                run_worker(args, config, size, a, b,
                           osp.join(tmp, f'c{name}.tif'))


def run_worker(args, config, size, a, b, out):
    cmd = [sys.executable, __file__, '--worker', a, b, out, '--configs',
           config, '--tile', str(args.tile), '--overlap', str(args.overlap),
           '--batch-size', str(args.batch_size), '--stripe-width',
           str(args.stripe_width), '--device', args.device, '--repeats',
           str(args.repeats), '--prefetch', *map(str, args.prefetch)]
    if args.checkpoint:
        cmd += ['--checkpoint', args.checkpoint]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        sys.exit(res.stdout + res.stderr)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    mp = size[0] * size[1] / 1e6
    model = osp.splitext(osp.basename(config))[0].split('_')[0]
    first = None
    for p in args.prefetch:
        seconds = float(np.median(r['seconds'][str(p)]))
        io = float(np.median(r['io'][str(p)]))
        first = first or seconds
        print(f'{model:>24} {"{}x{}".format(*size):>11} {p:>8} '
              f'{r["tiles"]:>6} {seconds:>8.2f} {io:>6.2f} '
              f'{mp / seconds:>6.3f} '
              f'{first / seconds:>7.2f}x {r["rss_model"]:>13.0f} MB '
              f'{r["rss_peak"]:>6.0f} MB '
              f'{r["rss_peak"] - r["rss_model"]:>7.0f} MB', flush=True)
    if len(args.prefetch) > 1:
        print(f'{"":>24} outputs identical across prefetch values: '
              f'{"yes" if r["identical"] else "NO"}', flush=True)


if __name__ == '__main__':
    main()
