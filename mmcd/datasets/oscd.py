"""OSCD (Daudt et al., IGARSS 2018): Sentinel-2 urban change detection."""
import os.path as osp
import re
from typing import List, Optional, Sequence

import mmengine.fileio as fileio
from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset

from mmcd.registry import DATASETS
from .transforms.loading import check_ignore_value, check_label_encoding

IMAGES = 'Onera Satellite Change Detection dataset - Images'
TRAIN_LABELS = 'Onera Satellite Change Detection dataset - Train Labels'
TEST_LABELS = 'Onera Satellite Change Detection dataset - Test Labels'


@DATASETS.register_module()
class OSCDDataset(BaseSegDataset):
    """The Onera Satellite Change Detection dataset, one sample per city.

    24 cities, each a pair of Sentinel-2 L1C crops (13 bands, uint16, one
    TIFF per band at 10, 20 or 60 m) and a change map on the 10 m grid;
    14 training and 10 test cities, listed by ``train.txt`` and
    ``test.txt`` (one line of comma-separated city names). The released
    archives unpack to::

        data_root
        ├── Onera Satellite Change Detection dataset - Images
        │   ├── train.txt, test.txt
        │   └── <city>
        │       ├── imgs_1/       # date 1: ..._B01.tif ... _B12.tif,
        │       │                 #   _B8A.tif, each at its resolution
        │       ├── imgs_2/       # date 2
        │       ├── imgs_1_rect/  # date 1: B01.tif ... B12.tif, B8A.tif
        │       ├── imgs_2_rect/  #   all on the 10 m grid
        │       └── dates.txt
        ├── Onera Satellite Change Detection dataset - Train Labels
        │   └── <city>/cm/cm.png, <city>/cm/<city>-cm.tif
        └── Onera Satellite Change Detection dataset - Test Labels
            └── <city>/cm/cm.png, <city>/cm/<city>-cm.tif

    ``cm.png`` is 0 (no change) / 255 (change): ``label_encoding='0-255'``;
    ``<city>-cm.tif`` holds 1 (no change) / 2 (change): use
    ``label_file='cm/{city}-cm.tif'`` with ``label_encoding='1-2'``. The FC
    notebook's single-folder layout (``<city>/imgs_1``, ``<city>/cm/cm.png``
    and ``train.txt`` side by side) is the same with both ``data_prefix``
    folders set to ''.

    Each data info has ``img_path`` / ``img_path2`` (the two dates' band
    folders, for :class:`~mmcd.datasets.transforms.LoadBandFolderPair`),
    ``seg_map_path``, ``city``, ``label_encoding`` and ``ignore_value``.
    Cities keep the split list's order; a missing folder, band folder or
    change map raises, naming it.

    Args:
        ann_file (str): The split list, relative to ``data_root``.
            Defaults to the released ``<Images>/train.txt``.
        data_prefix (dict): ``img_path``: the folder holding the city
            folders; ``seg_map_path``: the folder holding the cities' label
            folders (None for unlabelled use). Defaults to the released
            Images and Train Labels folders.
        date_dirs (Sequence[str]): The two dates' band folders inside a
            city: ``('imgs_1', 'imgs_2')`` (bands at their own resolution,
            as the FC notebook reads them) or ``('imgs_1_rect',
            'imgs_2_rect')``. Defaults to ``('imgs_1', 'imgs_2')``.
        label_file (str): The change map inside a city's label folder;
            ``{city}`` is replaced by the city's name. Defaults to
            'cm/cm.png'.
        label_encoding (str): Defaults to '0-255' (``cm.png``).
        ignore_value (int, optional): Raw mask value to ignore. Defaults to
            None.
        metainfo (dict, optional): Defaults to classes ('unchanged',
            'changed').
        **kwargs: The remaining :class:`mmseg.datasets.BaseSegDataset`
            arguments (``data_root``, ``pipeline``, ``test_mode``...).
    """
    METAINFO = dict(
        classes=('unchanged', 'changed'),
        palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(self,
                 ann_file: str = osp.join(IMAGES, 'train.txt'),
                 data_prefix: dict = dict(
                     img_path=IMAGES, seg_map_path=TRAIN_LABELS),
                 date_dirs: Sequence[str] = ('imgs_1', 'imgs_2'),
                 label_file: str = 'cm/cm.png',
                 label_encoding: str = '0-255',
                 ignore_value: Optional[int] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if len(date_dirs) != 2:
            raise ValueError('date_dirs must name the two dates\' band '
                             f'folders; got {date_dirs}')
        if not ann_file:
            raise ValueError('OSCDDataset needs its split list (ann_file, '
                             'e.g. train.txt or test.txt)')
        self.date_dirs = tuple(date_dirs)
        self.label_file = label_file
        self.label_encoding = check_label_encoding(label_encoding)
        self.ignore_value = check_ignore_value(ignore_value, label_encoding)
        data_prefix = dict(data_prefix)
        if data_prefix.get('seg_map_path') is None:
            data_prefix.pop('seg_map_path', None)
        super().__init__(
            ann_file=ann_file,
            data_prefix=data_prefix,
            metainfo=metainfo,
            **kwargs)

    def _read_cities(self) -> List[str]:
        if not fileio.isfile(self.ann_file, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'OSCD split list (ann_file) {self.ann_file} does not exist')
        text = fileio.get_text(self.ann_file, backend_args=self.backend_args)
        cities = [c for c in re.split(r'[,\s]+', text) if c]
        if not cities:
            raise ValueError(f'OSCD split list {self.ann_file} names no city')
        twice = sorted({c for c in cities if cities.count(c) > 1})
        if twice:
            raise ValueError(f'OSCD split list {self.ann_file} names '
                             f'{", ".join(twice)} more than once')
        return cities

    def load_data_list(self) -> List[dict]:
        """One data info per city of the split list.

        Returns:
            list[dict]: The data infos, in the split list's order.
        """
        img_root = self.data_prefix['img_path']
        label_root = self.data_prefix.get('seg_map_path')
        data_list, missing = [], []
        for city in self._read_cities():
            info = dict(city=city)
            for key, date_dir in zip(('img_path', 'img_path2'),
                                     self.date_dirs):
                info[key] = osp.join(img_root, city, date_dir)
                if not osp.isdir(info[key]):
                    missing.append(info[key])
            if label_root is not None:
                info['seg_map_path'] = osp.join(
                    label_root, city, self.label_file.format(city=city))
                if not osp.isfile(info['seg_map_path']):
                    missing.append(info['seg_map_path'])
            info.update(
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                label_encoding=self.label_encoding,
                ignore_value=self.ignore_value,
                seg_fields=[])
            data_list.append(info)
        if missing:
            shown = ', '.join(missing[:5]) + (
                f' (and {len(missing) - 5} more)' if len(missing) > 5 else '')
            raise FileNotFoundError(
                f'OSCD cities of {self.ann_file} lack {shown}. Expected '
                f'<{img_root}>/<city>/{self.date_dirs[0]}|{self.date_dirs[1]}'
                + (f' and <{label_root}>/<city>/{self.label_file}'
                   if label_root is not None else '')
                + '; check data_root, data_prefix, date_dirs and label_file')
        print_log(
            f'{type(self).__name__}: {len(data_list)} cities from '
            f'{self.ann_file}', logger='current')
        return data_list
