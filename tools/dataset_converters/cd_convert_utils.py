"""Helpers shared by mmcd's dataset converters (``cdd.py``, ``levircd.py``).

The converters read a dataset in its released layout through mmcd's own
dataset classes (so pairing is checked exactly as in training: a file
without its partner is an error naming it), and write a new tree, never
touching an existing file.
"""
import os
import os.path as osp
import shutil
from typing import List, Sequence

import cv2
import numpy as np

SPLITS = ('train', 'val', 'test')


def check_source_dir(src: str) -> None:
    """Raise if the dataset folder ``src`` does not exist."""
    if not osp.isdir(src):
        raise FileNotFoundError(f'dataset folder {src} does not exist')


def check_output_dir(out_dir: str) -> None:
    """Refuse an output folder that already holds files (nothing is ever
    overwritten); an existing empty folder is fine."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(f'output {out_dir} exists and is not a folder')
    for root, _, files in os.walk(out_dir):
        if files:
            raise FileExistsError(
                f'output folder {out_dir} already holds files (e.g. '
                f'{osp.join(root, files[0])}); choose a new or empty folder: '
                'the converter never overwrites anything')


def find_splits(src: str, splits: Sequence[str], requested: bool) -> List[str]:
    """The splits of ``splits`` that exist as folders under ``src``.

    A split the user asked for explicitly (``requested``) must exist; of the
    default ones, at least one must.
    """
    found = [s for s in splits if osp.isdir(osp.join(src, s))]
    missing = [osp.join(src, s) for s in splits if s not in found]
    if requested and missing:
        raise FileNotFoundError(f'split folder(s) {", ".join(missing)} do '
                                'not exist')
    if not found:
        raise FileNotFoundError(
            f'{src} has none of the split folders {", ".join(splits)}; give '
            'the dataset root that holds them')
    return found


def list_pairs(dataset_cls, src: str, split: str, folders: Sequence[str],
               **kwargs) -> List[dict]:
    """The samples of one split, as mmcd's dataset class pairs them.

    Args:
        dataset_cls (type): ``CDDDataset``, ``LEVIRCD`` or another
            :class:`~mmcd.datasets.ChangeDetectionDataset`.
        src (str): The dataset root.
        split (str): The split folder.
        folders (Sequence[str]): Date-A, date-B and mask folder names.
        **kwargs: Further dataset arguments (suffixes).

    Returns:
        list[dict]: Data infos with ``img_path``, ``img_path2`` and
        ``seg_map_path``, sorted by name.
    """
    prefix = dict(
        zip(('img_path', 'img_path2', 'seg_map_path'),
            (osp.join(split, f) for f in folders)))
    dataset = dataset_cls(
        data_root=src, data_prefix=prefix, pipeline=[], **kwargs)
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def stem(path: str) -> str:
    """File name without folder and suffix."""
    return osp.splitext(osp.basename(path))[0]


def write_image(path: str, img: np.ndarray) -> None:
    """Encode ``img`` (BGR or grey, as cv2 reads it) by the suffix of
    ``path`` and write it; an existing file is never overwritten."""
    ok, buf = cv2.imencode(osp.splitext(path)[1], img)
    if not ok:
        raise OSError(f'could not encode {path}')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'xb') as f:
        f.write(buf.tobytes())


def copy_file(src: str, dst: str, symlink: bool = False) -> None:
    """Copy (or symlink) ``src`` to ``dst``; an existing ``dst`` raises."""
    os.makedirs(osp.dirname(dst), exist_ok=True)
    if symlink:
        os.symlink(osp.abspath(src), dst)
        return
    with open(src, 'rb') as fin, open(dst, 'xb') as fout:
        shutil.copyfileobj(fin, fout)


def read_unchanged(path: str, what: str) -> np.ndarray:
    """Read an image file with all its channels and bit depth."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f'cannot read {what} {path} (missing, corrupt or not '
                      'an image)')
    return img


def print_table(header: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Print a small left-aligned table."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        print('  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
