"""LSNet speed against the original code, side by side in one process.

    python tools/analysis_tools/benchmark_vs_original.py ORIGINAL_DIR \\
        [--config CONFIG] [--checkpoint CKPT] [--batch-size 1 8] \\
        [--inputs noise real] [--real-samples DIR] [--repeats 8] \\
        [--fast ort_fp32 ov_fp32 ov_bf16 ov_int8 ort_int8]

ORIGINAL_DIR is a checkout of github.com/qaz670756/LSNet (its ``models/``
package is imported from there; nothing of it is copied). The original model
of the config's variant (diffFPN, thin diffFPN, denseFPN) and mmcd's get the
same weights: the mmcd checkpoint given with ``--checkpoint``, mapped to the
original's names with ``tools/model_converters/lsnet2mmcd.py``, or else a
random initialisation of the original with non-trivial BatchNorm statistics,
converted to mmcd with the same tool. The runtimes are timed **alternating in
blocks of runs** (the first run of each block untimed), so all see the same
machine load: the original model, mmcd eager and mmcd's fast path
(:class:`FastChangeSegmentor`): ONNX Runtime fp32, OpenVINO fp32 (the
default), OpenVINO bf16 (where the CPU has bfloat16), OpenVINO int8 (NNCF)
and ONNX Runtime int8 (both calibrated on synthetic pairs, not on the inputs
timed); ``--fast`` picks among them. Inputs: ``noise`` (uniform 0..255)
and ``real`` (the real sample pairs of ``--real-samples``, read in place,
cycled to fill a batch). It prints per runtime the median latency, pairs/s
and CPU seconds per pair (all threads; steadier than wall time on a shared
machine), the largest logit difference to the original, and, with real
inputs, the change F1 of each runtime against the samples' labels and the
agreement of the bf16 and int8 masks with the eager fp32 masks; at the end
a Markdown table for the README.
"""
import argparse
import glob
import importlib.util
import os
import os.path as osp
import statistics
import sys
import time

import mmcd  # noqa: F401  (before anything of mmseg: mmcv-lite stand-in)
import numpy as np
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.logging import MMLogger
from mmseg.apis import init_model
from PIL import Image

from mmcd.datasets.synthetic import make_synthetic_pair
from mmcd.evaluation.functional import change_metrics_from_counts
from mmcd.models.segmentors import FastChangeSegmentor
from mmcd.models.utils import ChangeLogits

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'lsnet',
                  'lsnet_difffpn_1xb12-100e_cdd-256x256.py')
#: The original's class of each variant (lsnet2mmcd.detect_variant names).
ORIGINAL_CLASSES = dict(difffpn='LSNet_diffFPN',
                        thindifffpn='LSNet_thin_diffFPN',
                        densefpn='LSNet_denseFPN')
NECK_VARIANTS = dict(DiffFPN='difffpn', DenseFPN='densefpn')
#: The fast runtimes timed: (name, precision, backend).
FAST_RUNTIMES = (('ort_fp32', 'fp32', 'onnxruntime'),
                 ('ov_fp32', 'fp32', 'openvino'),
                 ('ov_bf16', 'bf16', 'openvino'),
                 ('ov_int8', 'int8', 'openvino'),
                 ('ort_int8', 'int8', 'onnxruntime'))


def parse_args():
    parser = argparse.ArgumentParser(
        description='LSNet: original code vs mmcd eager / fast fp32 / int8')
    parser.add_argument('original', help='checkout of qaz670756/LSNet')
    parser.add_argument('--config', default=CONFIG, help='an LSNet config')
    parser.add_argument(
        '--checkpoint', help='mmcd checkpoint (default: random weights with '
        'non-trivial BatchNorm statistics)')
    parser.add_argument('--batch-size', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--shape', type=int, default=256, help='square side')
    parser.add_argument(
        '--inputs', nargs='+', choices=['noise', 'real'],
        default=['noise', 'real'])
    parser.add_argument(
        '--real-samples',
        default=osp.join(REPO, '..', 'shared', 'data', 'real_samples'),
        help='folder of <dataset>/{A,B,label}/<name> pairs, read in place')
    parser.add_argument('--repeats', type=int, default=8,
                        help='timed runs per runtime and setting')
    parser.add_argument('--block', type=int, default=2,
                        help='timed runs per block')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--settle', type=float, default=0.0,
        help='seconds to sleep before each block (idle threads of the '
        'previous runtime stop spinning; default 0)')
    parser.add_argument('--calib-pairs', type=int, default=8,
                        help='synthetic pairs to calibrate int8 on')
    parser.add_argument('--no-int8', action='store_true')
    parser.add_argument(
        '--fast', nargs='+', default=[n for n, _, _ in FAST_RUNTIMES],
        choices=[n for n, _, _ in FAST_RUNTIMES],
        help='fast runtimes to time (default: all)')
    parser.add_argument(
        '--bound', action='store_true',
        help='also measure memory bandwidth and matrix-multiply throughput '
        'and print the physical bound per pair they give')
    return parser.parse_args()


def traffic_and_macs(model, side):
    """(bytes written by the leaf modules, MACs of the convolutions and
    linear layers, by ``mmengine.analysis.FlopAnalyzer``) for one pair
    through the eager model."""
    written = [0]

    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor):
            written[0] += output.numel() * output.element_size()

    logits = ChangeLogits(model).eval()
    inputs = torch.rand(1, 6, side, side) * 255
    handles = [
        m.register_forward_hook(hook) for m in model.modules()
        if not list(m.children())
    ]
    try:
        with torch.inference_mode():
            logits(inputs)
    finally:
        for h in handles:
            h.remove()
    counter = FlopAnalyzer(logits, inputs)
    counter.unsupported_ops_warnings(False)
    counter.uncalled_modules_warnings(False)
    by_operator = counter.by_operator()
    return written[0], by_operator['conv'] + by_operator.get('linear', 0)


def machine_figures():
    """(copy bandwidth GB/s, fp32 matmul GFLOP/s) of one core, measured
    here in CPU time of this thread (steady when other processes share the
    machine)."""
    src = np.ones(2**26, np.float32)  # 256 MiB, far beyond the caches
    dst = np.empty_like(src)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a = torch.rand(2048, 2048)
    copy_times, mm_times = [], []
    try:
        torch.mm(a, a)
        for _ in range(5):
            t = time.thread_time()
            np.copyto(dst, src)
            copy_times.append(time.thread_time() - t)
            t = time.thread_time()
            torch.mm(a, a)
            mm_times.append(time.thread_time() - t)
    finally:
        torch.set_num_threads(threads)
    return (2 * src.nbytes / min(copy_times) / 1e9,  # read + write
            2 * 2048**3 / min(mm_times) / 1e9)


def print_bound(model, side, threads):
    written, macs = traffic_and_macs(model, side)
    bandwidth, gflops = machine_figures()
    moved = 2 * written  # each activation written once and read once
    print(f'bound, one {side}x{side} pair: {macs / 1e9:.3g} GMACs (conv and '
          f'linear), {written / 2**20:.0f} MiB of activations written by the '
          f'eager model\'s layers ({moved / 2**20:.0f} MiB moved, written '
          f'and read once); one core here: copy bandwidth {bandwidth:.1f} '
          f'GB/s, fp32 matmul {gflops:.0f} GFLOP/s -> per pair on '
          f'{threads} cores (perfect scaling, shared memory bandwidth not '
          f'counted): {moved / bandwidth / threads / 1e6:.1f} ms memory-bound '
          f'if nothing stays in cache, '
          f'{2 * macs / gflops / threads / 1e6:.1f} ms compute-bound at '
          'matmul speed (int8 moves a quarter of the bytes)')


def import_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def original_model(original_dir, variant):
    """The original LSNet of ``variant``, built from its own code."""
    if not osp.isfile(osp.join(original_dir, 'models', 'Models.py')):
        raise FileNotFoundError(
            f'{original_dir} has no models/Models.py: give a checkout of '
            'github.com/qaz670756/LSNet')
    sys.path.insert(0, osp.abspath(original_dir))
    try:
        from models import Models  # the original's package
    finally:
        sys.path.pop(0)
    return getattr(Models, ORIGINAL_CLASSES[variant])().eval()


def randomise_batchnorm(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)


def same_weights(original, model, checkpoint, converter):
    """Give ``original`` and ``model`` (mmcd) the same weights."""
    variant = variant_of(model)
    if checkpoint:  # mmcd -> original names
        mmcd_state = model.state_dict()
        state = {
            k: mmcd_state[converter.convert_key(k, variant)]
            for k in original.state_dict()
        }
        original.load_state_dict(state, strict=True)
    else:
        randomise_batchnorm(original)
        state, _ = converter.convert_lsnet(original.state_dict(), variant)
        model.load_state_dict(state, strict=True)


def variant_of(model):
    neck = type(model.neck).__name__
    if neck == 'DiffFPN' and len(model.neck.second_diff_blocks) == 0:
        return 'thindifffpn'
    if neck not in NECK_VARIANTS:
        raise ValueError(f'not an LSNet config: neck {neck}')
    return NECK_VARIANTS[neck]


def real_pairs(folder, side):
    """(pairs (N, 6, side, side) float 0..255, masks (N, side, side))."""
    pairs, masks = [], []
    for a_path in sorted(glob.glob(osp.join(folder, '*', 'A', '*'))):
        root, name = osp.dirname(osp.dirname(a_path)), osp.basename(a_path)
        images = [
            np.asarray(Image.open(osp.join(root, d, name)).convert('RGB'))
            for d in ('A', 'B')
        ]
        label = np.asarray(Image.open(osp.join(root, 'label', name)).convert(
            'L'))
        if images[0].shape[:2] != (side, side):
            continue
        pairs.append(np.concatenate(images, 2).transpose(2, 0, 1))
        masks.append(label >= 1)  # 0/255, CDD's JPEG 0/1 (see its README)
    if not pairs:
        raise FileNotFoundError(f'no {side}x{side} pairs under {folder}')
    return (torch.from_numpy(np.stack(pairs)).float(),
            torch.from_numpy(np.stack(masks)))


def synthetic_pairs(count, side, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        a, b, _ = make_synthetic_pair(rng, side)
        out.append(np.concatenate([a, b], 2).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(out)).float()


def f1(pred, mask):
    tp = int((pred & mask).sum())
    fp = int((pred & ~mask).sum())
    fn = int((~pred & mask).sum())
    tn = int((~pred & ~mask).sum())
    return change_metrics_from_counts(tp, fp, fn, tn)['F1']


def differing(pred, other):
    """Percentage of the pixels where two masks differ."""
    return float((pred != other).float().mean()) * 100


def time_runtimes(runtimes, x, repeats, block, settle=0.0):
    """Median seconds and CPU seconds per run of each runtime, alternating
    blocks of ``block`` timed runs (each block after ``settle`` seconds of
    sleep and one untimed run, so the previous runtime's threads have stopped
    spinning)."""
    wall = {k: [] for k in runtimes}
    cpu = {k: [] for k in runtimes}
    outs = {}
    while min(len(v) for v in wall.values()) < repeats:
        for name, fn in runtimes.items():
            time.sleep(settle)
            outs[name] = fn(x)  # untimed: the last runtime's threads stop
            for _ in range(block):
                c, t = time.process_time(), time.perf_counter()
                fn(x)
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
    return ({k: statistics.median(v) for k, v in wall.items()},
            {k: statistics.median(v) for k, v in cpu.items()}, outs)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    MMLogger.get_instance('mmengine', log_level='WARNING')
    converter = import_file(
        'lsnet2mmcd', osp.join(REPO, 'tools', 'model_converters',
                               'lsnet2mmcd.py'))
    model = init_model(args.config, args.checkpoint, 'cpu')
    original = original_model(args.original, variant_of(model))
    same_weights(original, model, args.checkpoint, converter)
    side = args.shape
    calib = synthetic_pairs(args.calib_pairs, side, seed=123)

    def original_logits(x):  # the original takes cat([A, B], 0)
        return original(torch.cat([x[:, :3], x[:, 3:]], 0))[-1]

    runtimes = dict(original=original_logits, eager=ChangeLogits(model))
    described = {}
    for name, precision, backend in FAST_RUNTIMES:
        if precision == 'int8' and args.no_int8 or name not in args.fast:
            continue
        fast = FastChangeSegmentor(model, precision=precision,
                                   backend=backend, num_threads=args.threads,
                                   strict=True)
        if precision == 'int8':
            fast.calibrate(list(calib.split(1)))
        try:
            runtimes[name] = fast.fast_logits()
        except (ImportError, RuntimeError) as e:  # e.g. no bfloat16 here
            print(f'{name} left out: {e}')
            continue
        described[name] = fast.runtime
    weights = args.checkpoint or 'random, non-trivial BatchNorm statistics'
    print(f'{args.config}\nweights: {weights}\noriginal: {args.original}  '
          f'threads: torch {torch.get_num_threads()}  (median of '
          f'{args.repeats} runs per runtime, alternating blocks of '
          f'{args.block})')
    for name, runtime in described.items():
        print(f'  {name}: {runtime}')
    print('load average before timing (other processes share the CPU): ' +
          ' '.join(f'{v:.2f}' for v in os.getloadavg()))
    if args.bound:
        print_bound(model, side, args.threads)
    real = real_pairs(args.real_samples, side) if 'real' in args.inputs \
        else None
    rows = []
    with torch.inference_mode():
        for kind in args.inputs:
            for batch in args.batch_size:
                if kind == 'noise':
                    gen = torch.Generator().manual_seed(batch)
                    x = torch.rand((batch, 6, side, side), generator=gen) * 255
                else:
                    idx = torch.arange(batch) % len(real[0])
                    x = real[0][idx]
                wall, cpu, outs = time_runtimes(runtimes, x, args.repeats,
                                                args.block, args.settle)
                print(f'{kind} inputs, batch {batch}, {side}x{side}:')
                ref = outs['original']
                print(f'  largest |logit| of the original: '
                      f'{float(ref.abs().max()):.1f}')
                for name in runtimes:
                    diff = float((outs[name] - ref).abs().max())
                    print(f'  {name:<10} median {wall[name] * 1e3:8.1f} ms  '
                          f'{batch / wall[name]:6.2f} pairs/s  '
                          f'{cpu[name] / batch:6.3f} CPU s/pair  x'
                          f'{wall["original"] / wall[name]:5.2f} vs original'
                          f'  max |logit - original| {diff:.2e}')
                rows.append((kind, batch, wall, cpu))
        if real is not None:
            x, masks = real
            preds = {
                name: torch.cat([fn(p).argmax(1) == 1 for p in x.split(1)])
                for name, fn in runtimes.items()
            }
            print(f'change F1 on the {len(x)} real sample pairs (labels): ' +
                  ', '.join(f'{n} {f1(p, masks):.4f}'
                            for n, p in preds.items()))
            for name in ('ov_bf16', 'ov_int8', 'ort_int8'):
                if name in preds:
                    print(f'{name} mask vs eager fp32 mask: F1 '
                          f'{f1(preds[name], preds["eager"]):.4f}, pixels '
                          'differing '
                          f'{differing(preds[name], preds["eager"]):.3f}%')
    names = list(runtimes)
    print('\n| inputs | batch | ' + ' | '.join(names) +
          ' | ' + ' | '.join(f'{n} vs original' for n in names[1:]) + ' |')
    print('|---' * (2 + 2 * len(names) - 1) + '|')
    for kind, batch, wall, cpu in rows:
        print(f'| {kind} | {batch} | ' + ' | '.join(
            f'{batch / wall[n]:.2f} pairs/s' for n in names) + ' | ' +
              ' | '.join(f'{wall["original"] / wall[n]:.2f}x'
                         for n in names[1:]) + ' |')


if __name__ == '__main__':
    main()
