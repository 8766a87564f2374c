"""Cut LEVIR-CD's 1024x1024 tiles into non-overlapping 256x256 crops.

Reads ``SRC/{train,val,test}/{A,B,label}/<name>.png`` (pairing checked as
mmcd's ``LEVIRCD`` dataset does) and writes every crop of the images and the
mask, pixel for pixel (lossless PNG, channels and bit depth kept), to
``OUT_DIR/<split>/{A,B,label}/<name>_<y>_<x>.png``, where ``<y>`` and
``<x>`` are the crop's top row and left column in the tile, zero-padded to 4
digits (``train_1_0256_0512.png``: rows 256-511, columns 512-767 of
``train_1.png``). A tile whose size is not a multiple of the crop size is an
error naming the file (nothing is silently dropped). The output folder must
be new or empty.

Example::

    python tools/dataset_converters/levircd.py data/LEVIR-CD \
        data/LEVIR-CD-256
"""
import argparse
import os.path as osp
import sys
import time

from mmengine.utils import track_iter_progress

from mmcd.datasets import LEVIRCD

from cd_convert_utils import (SPLITS, check_output_dir, check_source_dir,
                              find_splits, list_pairs, print_table,
                              read_unchanged, stem, write_image)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Cut LEVIR-CD tiles (SRC/{train,val,test}/{A,B,label}) '
        'into non-overlapping square crops in OUT_DIR (new or empty).')
    parser.add_argument('src', help='LEVIR-CD root holding train/val/test')
    parser.add_argument('out_dir', help='output folder (new or empty)')
    parser.add_argument('--crop-size', type=int, default=256,
                        help='crop height and width (default 256)')
    parser.add_argument('--splits', nargs='+', default=None,
                        help=f'splits to convert (default: those of '
                        f'{" ".join(SPLITS)} that exist)')
    parser.add_argument('--folders', nargs=3, default=['A', 'B', 'label'],
                        metavar=('A', 'B', 'MASK'),
                        help='date-A, date-B and mask folder names inside '
                        'each split, kept in the output (default: A B label)')
    parser.add_argument('--suffix', default='.png',
                        help='suffix of the images and masks (default .png)')
    args = parser.parse_args(argv)
    if args.crop_size < 1:
        parser.error(f'--crop-size must be positive; got {args.crop_size}')
    return args


def tile_size(files) -> tuple:
    """Height and width shared by a pair's images and mask, read from the
    file headers; raises naming the files when they differ."""
    from PIL import Image
    sizes = []
    for path in files:
        try:
            with Image.open(path) as img:
                sizes.append(img.size[::-1])
        except Exception as e:  # noqa: BLE001 (PIL's many error types)
            raise OSError(f'cannot read {path}: {e}') from e
    if len(set(sizes)) != 1:
        raise ValueError('the images and mask of a pair differ in size: ' +
                         ', '.join(f'{p} is {h}x{w}'
                                   for p, (h, w) in zip(files, sizes)))
    return sizes[0]


def crop_origins(height: int, width: int, crop: int, path: str):
    """Top-left corners of the non-overlapping crops covering the tile."""
    if height % crop or width % crop:
        raise ValueError(
            f'{path} is {height}x{width}, not a multiple of --crop-size '
            f'{crop}: non-overlapping crops would leave pixels out')
    return [(y, x) for y in range(0, height, crop)
            for x in range(0, width, crop)]


def convert(args) -> list:
    """Crop the splits; return one summary row per split."""
    check_source_dir(args.src)
    splits = find_splits(args.src, args.splits or SPLITS,
                         args.splits is not None)
    check_output_dir(args.out_dir)
    pairs = {
        split: list_pairs(LEVIRCD, args.src, split, args.folders,
                          img_suffix=args.suffix, seg_map_suffix=args.suffix)
        for split in splits
    }
    crop = args.crop_size
    # check every tile's size (headers only) before writing anything
    origins = {}
    for split in splits:
        for info in pairs[split]:
            files = (info['img_path'], info['img_path2'],
                     info['seg_map_path'])
            origins[files] = crop_origins(*tile_size(files), crop, files[0])
    rows = []
    for split in splits:
        print(f'{split}: {len(pairs[split])} tiles')
        n_crops = n_changed = 0
        for info in track_iter_progress(pairs[split]):
            files = (info['img_path'], info['img_path2'],
                     info['seg_map_path'])
            imgs = [
                read_unchanged(path, what) for path, what in zip(
                    files, ('date-A image', 'date-B image', 'change mask'))
            ]
            name = stem(info['img_path'])
            for y, x in origins[files]:
                crop_name = f'{name}_{y:04d}_{x:04d}{args.suffix}'
                for folder, img in zip(args.folders, imgs):
                    write_image(
                        osp.join(args.out_dir, split, folder, crop_name),
                        img[y:y + crop, x:x + crop])
                n_crops += 1
                n_changed += bool(imgs[2][y:y + crop, x:x + crop].any())
        rows.append((split, len(pairs[split]), n_crops, n_changed,
                     n_crops - n_changed))
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        rows = convert(args)
    except (FileNotFoundError, FileExistsError, ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        if osp.isdir(args.out_dir) and not isinstance(e, FileExistsError):
            print(f'(anything written so far is in {args.out_dir}; remove '
                  'it before running again)', file=sys.stderr)
        return 1
    print(f'\nwrote {sum(r[2] for r in rows)} crops of {args.crop_size}x'
          f'{args.crop_size} (images and masks, lossless) from '
          f'{sum(r[1] for r in rows)} tiles to {args.out_dir} in '
          f'{time.perf_counter() - start:.1f} s')
    print_table(('split', 'tiles', 'crops', 'crops with change',
                 'crops without change'), rows)
    print(f"load it with dict(type='LEVIRCD', data_root='{args.out_dir}')")
    return 0


if __name__ == '__main__':
    sys.exit(main())
