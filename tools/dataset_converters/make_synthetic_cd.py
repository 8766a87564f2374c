"""Write a small synthetic change-detection dataset in the CDD layout.

Example::

    python tools/dataset_converters/make_synthetic_cd.py data/synthetic_cd \
        --num-train 400 --num-val 50 --num-test 50 --size 256 --seed 0

The result (``OUT_DIR/{train,val,test}/{A,B,OUT}``) loads with
``CDDDataset`` (``seg_map_suffix='.png'`` with ``--label-format png``).
OUT_DIR may exist but must not contain files: nothing is overwritten.
"""
import argparse
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write a synthetic change-detection dataset (CDD '
        'layout: OUT_DIR/{train,val,test}/{A,B,OUT}, JPEG images, 0/255 '
        'masks). Refuses a target folder that already contains files.')
    parser.add_argument('out_dir', help='output folder (new or empty)')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--num-test', type=int, default=50)
    parser.add_argument('--size', type=int, default=256,
                        help='image height and width (default 256)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--label-format', choices=['jpg', 'png'],
                        default='jpg',
                        help='change-mask format: 0/255 JPEG as in CDD '
                        '(default) or exact 0/255 PNG')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmcd.datasets.synthetic import write_synthetic_cdd
    start = time.perf_counter()
    try:
        counts = write_synthetic_cdd(
            args.out_dir,
            num_train=args.num_train,
            num_val=args.num_val,
            num_test=args.num_test,
            size=args.size,
            seed=args.seed,
            label_format=args.label_format)
    except (FileExistsError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    total = sum(counts.values())
    per_split = ', '.join(f'{k}: {v}' for k, v in counts.items())
    print(f'wrote {total} pairs ({per_split}) of {args.size}x{args.size} '
          f'to {args.out_dir} in {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
