"""Folder-layout dataset for bi-temporal change detection."""
import copy
import os
import os.path as osp
from typing import Dict, List, Optional

import mmengine
import mmengine.fileio as fileio
from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset

from mmcd.registry import DATASETS
from .transforms.loading import (check_ignore_value, check_label_encoding,
                                 count_changed, read_change_mask)

_MAX_LISTED = 5
# masks read at start-up to check that ignore_value leaves a change class
_MAX_CHECKED_MASKS = 64


def _listing(paths: List[str]) -> str:
    shown = ', '.join(paths[:_MAX_LISTED])
    more = len(paths) - _MAX_LISTED
    return shown + (f' (and {more} more)' if more > 0 else '')


@DATASETS.register_module()
class ChangeDetectionDataset(BaseSegDataset):
    """Bi-temporal change-detection dataset in a folder layout.

    .. code-block:: none

        data_root
        ├── train
        │   ├── A        # date A: xxx{img_suffix}
        │   ├── B        # date B: xxx{img_suffix2}
        │   └── label    # change mask: xxx{seg_map_suffix}
        ├── val
        └── test

    The folders are given by ``data_prefix`` (relative to ``data_root``);
    the three files of a sample share their name without suffix ("basename",
    matched among the files directly inside each folder). Every data info
    carries ``img_path``, ``img_path2`` and (when labelled)
    ``seg_map_path``, as mmseg's ``BaseCDDataset`` does, plus the dataset's
    ``label_encoding`` and ``ignore_value`` for
    :class:`~mmcd.datasets.transforms.LoadChangeAnnotation`. Samples are
    sorted by name.

    The folders are checked when the dataset is built: a missing folder, a
    folder without a file of the expected suffix, a date-A image without its
    date-B image or change mask, a date-B image or mask without its date-A
    image, and a split-list name with a missing file all raise, naming the
    file or folder. Suffixes match whatever their case (``x.PNG`` for
    '.png'); a broken symbolic link with the suffix raises. The number of
    pairs found is logged. With ``ignore_value`` set, up to 64 masks spread
    over the split are read (stopping at the first with a changed pixel):
    when ignoring leaves none of them a changed pixel, it raises, saying
    which setting to use.

    Args:
        ann_file (str): Optional split list, one sample name per line
            (without suffix, or the date-A file name with ``img_suffix``),
            relative to ``data_root``. When given, only
            the listed samples are used (each must have all its files) and
            extra files in the folders are allowed. Defaults to ''.
        img_suffix (str): Suffix of date-A images. Defaults to '.png'.
        img_suffix2 (str, optional): Suffix of date-B images. Defaults to
            None (same as ``img_suffix``).
        seg_map_suffix (str): Suffix of change masks; may differ from the
            image suffix. Defaults to '.png'.
        data_prefix (dict): Folders of date A (``img_path``), date B
            (``img_path2``) and the change masks (``seg_map_path``). Leave
            out ``seg_map_path`` (or set it to None) for unlabelled data;
            the data infos then have no label keys. Defaults to
            ``dict(img_path='A', img_path2='B', seg_map_path='label')``.
        label_encoding (str): How the masks encode change: '0-255'
            (change = value >= 128) or '0-1' (change = value >= 1).
            Defaults to '0-255'.
        ignore_value (int, optional): Raw mask value marking pixels to
            ignore (-> 255 in ``gt_seg_map``). Defaults to None (nothing is
            ignored; 255 means "changed" under '0-255').
        metainfo (dict, optional): Meta information; defaults to classes
            ('unchanged', 'changed') with a black/white palette.
        **kwargs: The remaining :class:`mmseg.datasets.BaseSegDataset`
            arguments (``data_root``, ``pipeline``, ``test_mode``,
            ``indices``, ``serialize_data``, ``lazy_init``, ``ignore_index``,
            ``backend_args``...).
    """
    METAINFO = dict(
        classes=('unchanged', 'changed'),
        palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(self,
                 ann_file: str = '',
                 img_suffix: str = '.png',
                 img_suffix2: Optional[str] = None,
                 seg_map_suffix: str = '.png',
                 data_prefix: Dict[str, Optional[str]] = dict(
                     img_path='A', img_path2='B', seg_map_path='label'),
                 label_encoding: str = '0-255',
                 ignore_value: Optional[int] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        self.label_encoding = check_label_encoding(label_encoding)
        self.ignore_value = check_ignore_value(ignore_value, label_encoding)
        self.img_suffix2 = img_suffix if img_suffix2 is None else img_suffix2
        data_prefix = copy.copy(data_prefix)
        for key in ('img_path', 'img_path2'):
            if not isinstance(data_prefix.get(key), str):
                raise ValueError(
                    f'data_prefix[{key!r}] must name the date-'
                    f'{"A" if key == "img_path" else "B"} image folder; got '
                    f'data_prefix={data_prefix}')
        if data_prefix.get('seg_map_path', None) is None:
            data_prefix.pop('seg_map_path', None)
        super().__init__(
            ann_file=ann_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            metainfo=metainfo,
            **kwargs)

    def _list_folder(self, folder: str, suffix: str,
                     what: str) -> Dict[str, str]:
        """Map sample name -> file name for the files of ``folder``.

        The suffix is matched whatever its case (``x.PNG`` for '.png');
        two files of one name, and broken symbolic links with the suffix,
        raise, naming the files.
        """
        if not fileio.isdir(folder, backend_args=self.backend_args):
            kind = 'is not a folder' if fileio.exists(
                folder, backend_args=self.backend_args) else 'does not exist'
            raise FileNotFoundError(f'{what} folder {folder} {kind}')
        files = sorted(
            fileio.list_dir_or_file(
                folder,
                list_dir=False,
                recursive=False,
                backend_args=self.backend_args))
        if isinstance(
                fileio.get_file_backend(
                    folder, backend_args=self.backend_args),
                fileio.LocalBackend):
            broken = sorted(
                entry.name for entry in os.scandir(folder)
                if entry.is_symlink() and not osp.exists(entry.path)
                and entry.name.lower().endswith(suffix.lower()))
            if broken:
                links = [
                    f'{osp.join(folder, n)} -> '
                    f'{os.readlink(osp.join(folder, n))}' for n in broken
                ]
                raise FileNotFoundError(
                    f'{what} folder {folder} holds broken symbolic links '
                    f'(their target does not exist): {_listing(links)}')
        names: Dict[str, str] = {}
        for f in files:
            if not f.lower().endswith(suffix.lower()):
                continue
            name = f[:len(f) - len(suffix)]
            if name in names:
                raise ValueError(
                    f'{what} folder {folder} has two files for sample '
                    f'{name!r}: {names[name]} and {f} (suffixes are matched '
                    'whatever their case)')
            names[name] = f
        if not names:
            others = (f'; it holds {_listing(files)}' if files else
                      ' (it is empty)')
            raise FileNotFoundError(
                f'{what} folder {folder} has no "*{suffix}" file{others}')
        return names

    def load_data_list(self) -> List[dict]:
        """Pair up the date-A, date-B and mask files of the folders.

        Returns:
            list[dict]: One data info per sample, sorted by name.
        """
        dir_a = self.data_prefix['img_path']
        dir_b = self.data_prefix['img_path2']
        dir_label = self.data_prefix.get('seg_map_path')
        labelled = dir_label is not None
        files_a = self._list_folder(dir_a, self.img_suffix, 'date-A image')
        files_b = self._list_folder(dir_b, self.img_suffix2, 'date-B image')
        files_label = self._list_folder(
            dir_label, self.seg_map_suffix, 'change mask') if labelled else {}

        if self.ann_file:
            if not fileio.isfile(self.ann_file,
                                 backend_args=self.backend_args):
                raise FileNotFoundError(
                    f'split list (ann_file) {self.ann_file} does not exist')
            lines = mmengine.list_from_file(
                self.ann_file, backend_args=self.backend_args)
            names = [line.strip() for line in lines if line.strip()]
            # lists naming the date-A files (e.g. ChangeFormer's, BIT's
            # 'list/train.txt' with 'xxx.png'): drop the suffix
            suffix = self.img_suffix.lower()
            names = [
                n[:len(n) - len(suffix)] if n not in files_a
                and n.lower().endswith(suffix) else n for n in names
            ]
            if not names:
                raise ValueError(
                    f'split list (ann_file) {self.ann_file} lists no sample')
            for name in names:
                missing = [
                    osp.join(folder, name + suffix)
                    for folder, suffix, files in (
                        (dir_a, self.img_suffix, files_a),
                        (dir_b, self.img_suffix2, files_b),
                        (dir_label, self.seg_map_suffix, files_label))
                    if folder is not None and name not in files
                ]
                if missing:
                    raise FileNotFoundError(
                        f'sample {name!r} of split list {self.ann_file} '
                        f'has no file {_listing(missing)}')
            names = sorted(set(names))
        else:
            self._check_pairing(files_a, files_b, files_label, dir_a, dir_b,
                                dir_label)
            names = sorted(files_a)

        data_list = []
        for name in names:
            data_info = dict(
                img_path=osp.join(dir_a, files_a[name]),
                img_path2=osp.join(dir_b, files_b[name]))
            if labelled:
                data_info['seg_map_path'] = osp.join(dir_label,
                                                     files_label[name])
            data_info['label_map'] = self.label_map
            data_info['reduce_zero_label'] = self.reduce_zero_label
            data_info['label_encoding'] = self.label_encoding
            data_info['ignore_value'] = self.ignore_value
            data_info['seg_fields'] = []
            data_list.append(data_info)
        print_log(
            f'{type(self).__name__}: {len(data_list)} '
            f'{"labelled" if labelled else "unlabelled"} pairs in {dir_a}'
            + (f' (split list {self.ann_file})' if self.ann_file else ''),
            logger='current')
        if labelled and self.ignore_value is not None:
            self._check_change_class(data_list)
        return data_list

    def _check_change_class(self, data_list: List[dict]) -> None:
        """Refuse an ``ignore_value`` that leaves no "changed" pixel.

        Up to ``_MAX_CHECKED_MASKS`` masks spread evenly over the split are
        read, stopping at the first with a changed pixel (usually the
        first). When none has one but some have ignored pixels, ignoring
        removed the change class: raise, saying what to set.
        """
        step = max(1, -(-len(data_list) // _MAX_CHECKED_MASKS))
        checked, ignoring = [], 0
        for info in data_list[::step]:
            path = info['seg_map_path']
            raw, _ = read_change_mask(path, self.backend_args)
            if count_changed(raw, self.label_encoding, self.ignore_value):
                return
            checked.append(path)
            ignoring += bool((raw == self.ignore_value).any())
        if not ignoring:
            return  # no change in these masks, but not for ignoring it
        hint = (" If 255 marks change in these masks (0/255 masks), use the "
                "default label_encoding='0-255' without ignore_value; "
                "ignore_value=255 with label_encoding='0-1' is for 0/1 masks "
                'with a 255 border or void.'
                if (self.label_encoding, self.ignore_value) == ('0-1', 255)
                else f' If {self.ignore_value} marks change in these masks, '
                'leave ignore_value unset.')
        raise ValueError(
            f'with label_encoding={self.label_encoding!r} and ignore_value='
            f'{self.ignore_value} no change mask checked ({len(checked)} of '
            f'{len(data_list)}: {_listing(checked)}) has a "changed" pixel, '
            f'and {ignoring} of them have pixels of value {self.ignore_value}'
            ', which are ignored: the model would be trained and evaluated '
            'without a change class.' + hint)

    def _check_pairing(self, files_a, files_b, files_label, dir_a, dir_b,
                       dir_label) -> None:
        """Every A has its B (and mask), every B and mask has its A."""
        problems = []
        for folder, suffix, files, what in (
                (dir_b, self.img_suffix2, files_b, 'date-B image'),
                (dir_label, self.seg_map_suffix, files_label, 'change mask')):
            if folder is None:
                continue
            lonely_a = sorted(set(files_a) - set(files))
            if lonely_a:
                found = [osp.join(dir_a, files_a[n]) for n in lonely_a]
                wanted = [osp.join(folder, n + suffix) for n in lonely_a]
                problems.append(f'date-A image(s) {_listing(found)} without '
                                f'{what} {_listing(wanted)}')
            lonely = sorted(set(files) - set(files_a))
            if lonely:
                found = [osp.join(folder, files[n]) for n in lonely]
                wanted = [osp.join(dir_a, n + self.img_suffix) for n in lonely]
                problems.append(f'{what}(s) {_listing(found)} without '
                                f'date-A image {_listing(wanted)}')
        if problems:
            raise FileNotFoundError(
                'incomplete change-detection samples: ' + '; '.join(problems)
                + '. Every sample needs its date-A image, date-B image and '
                '(when labelled) change mask with the same name; use a split '
                'list (ann_file) to select a subset.')
