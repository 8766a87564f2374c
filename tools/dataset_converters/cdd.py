"""Binarise CDD's change masks into clean 0/255 PNG masks.

CDD (Lebedev et al. 2018) ships its change masks (``OUT``) as JPEG, so they
carry compression noise around the 0 and 255 (or, in some redistributed
copies, 0 and 1) values; the original LSNet code thresholded them (Otsu per
image) before training. This tool writes a new dataset tree with the images
copied unchanged and every mask binarised with mmcd's own rule (the one
``LoadChangeAnnotation`` applies while training: change = value >= 128 for
``--label-encoding 0-255``, value >= 1 for ``0-1``; a mask that contradicts
the encoding is an error naming the file) and saved as a lossless 0/255 PNG.
The input is never modified and the output folder must be new or empty.

Example::

    python tools/dataset_converters/cdd.py data/CDD/Real/subset \
        data/CDD_png

    # then, in a config:
    # dataset=dict(type='CDDDataset', data_root='data/CDD_png',
    #              seg_map_suffix='.png')
"""
import argparse
import os.path as osp
import sys
import time

from mmengine.utils import track_iter_progress

from mmcd.datasets import CDDDataset
from mmcd.datasets.transforms import LoadChangeAnnotation

from cd_convert_utils import (SPLITS, check_output_dir, check_source_dir,
                              copy_file, find_splits, list_pairs, print_table,
                              stem, write_image)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write a copy of CDD (SRC/{train,val,test}/{A,B,OUT}) '
        'with clean 0/255 PNG change masks to OUT_DIR (new or empty).')
    parser.add_argument('src', help='CDD root holding train/val/test, e.g. '
                        'data/CDD/Real/subset')
    parser.add_argument('out_dir', help='output folder (new or empty)')
    parser.add_argument(
        '--label-encoding', choices=['0-255', '0-1'], default='0-255',
        help="how the source masks encode change: '0-255' (CDD as released:"
        " change = value >= 128) or '0-1' (copies storing 0/1, change = "
        "value >= 1). Default '0-255'")
    parser.add_argument('--splits', nargs='+', default=None,
                        help=f'splits to convert (default: those of '
                        f'{" ".join(SPLITS)} that exist)')
    parser.add_argument('--folders', nargs=3, default=['A', 'B', 'OUT'],
                        metavar=('A', 'B', 'MASK'),
                        help='date-A, date-B and mask folder names inside '
                        'each split, kept in the output (default: A B OUT)')
    parser.add_argument('--img-suffix', default='.jpg',
                        help='suffix of the images (default .jpg)')
    parser.add_argument('--seg-map-suffix', default='.jpg',
                        help='suffix of the source masks (default .jpg)')
    parser.add_argument('--symlink-images', action='store_true',
                        help='symlink the images instead of copying them')
    return parser.parse_args(argv)


def convert(args) -> list:
    """Convert the splits; return one summary row per split."""
    check_source_dir(args.src)
    splits = find_splits(args.src, args.splits or SPLITS,
                         args.splits is not None)
    check_output_dir(args.out_dir)
    # list (and pair-check) every split before writing anything
    pairs = {
        split: list_pairs(
            CDDDataset, args.src, split, args.folders,
            img_suffix=args.img_suffix, seg_map_suffix=args.seg_map_suffix,
            label_encoding=args.label_encoding)
        for split in splits
    }
    binarise = LoadChangeAnnotation(label_encoding=args.label_encoding)
    dir_a, dir_b, dir_mask = args.folders
    rows = []
    for split in splits:
        print(f'{split}: {len(pairs[split])} pairs')
        out = osp.join(args.out_dir, split)
        n_changed_masks = changed_px = total_px = 0
        for info in track_iter_progress(pairs[split]):
            gt = binarise(dict(seg_map_path=info['seg_map_path']))[
                'gt_seg_map']
            name = stem(info['img_path'])
            copy_file(info['img_path'],
                      osp.join(out, dir_a, osp.basename(info['img_path'])),
                      args.symlink_images)
            copy_file(info['img_path2'],
                      osp.join(out, dir_b, osp.basename(info['img_path2'])),
                      args.symlink_images)
            write_image(osp.join(out, dir_mask, name + '.png'), gt * 255)
            n_changed = int(gt.sum())
            n_changed_masks += n_changed > 0
            changed_px += n_changed
            total_px += gt.size
        rows.append((split, len(pairs[split]), n_changed_masks,
                     len(pairs[split]) - n_changed_masks,
                     f'{100.0 * changed_px / max(total_px, 1):.2f}%'))
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        rows = convert(args)
    except (FileNotFoundError, FileExistsError, ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        if 'label_encoding' in str(e):
            print('(with this converter: --label-encoding 0-1 or 0-255)',
                  file=sys.stderr)
        if osp.isdir(args.out_dir) and not isinstance(e, FileExistsError):
            print(f'(anything written so far is in {args.out_dir}; remove '
                  'it before running again)', file=sys.stderr)
        return 1
    rule = ('value >= 128' if args.label_encoding == '0-255' else
            'value >= 1')
    print(f'\nwrote {sum(r[1] for r in rows)} pairs to {args.out_dir} in '
          f'{time.perf_counter() - start:.1f} s: images '
          f'{"symlinked" if args.symlink_images else "copied"}, masks as '
          f'0/255 PNG (change = source {rule}, label_encoding '
          f'{args.label_encoding!r})')
    print_table(('split', 'pairs', 'masks with change', 'empty masks',
                 'changed pixels'), rows)
    print(f"load it with dict(type='CDDDataset', data_root="
          f"'{args.out_dir}', seg_map_suffix='.png')")
    return 0


if __name__ == '__main__':
    sys.exit(main())
