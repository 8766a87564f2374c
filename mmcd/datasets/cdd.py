"""CDD (Lebedev et al. 2018, season-varying change detection)."""
from mmcd.registry import DATASETS
from .cd_dataset import ChangeDetectionDataset


@DATASETS.register_module()
class CDDDataset(ChangeDetectionDataset):
    """CDD, the season-varying change-detection dataset of Lebedev et al.

    Layout of ``Real/subset`` (use it as ``data_root``):
    ``{train,val,test}/{A,B,OUT}/xxxxx.jpg`` - JPEG images and JPEG change
    masks stored as 0/255 (``label_encoding='0-255'``; the JPEG noise is
    handled by the threshold at 128). Some redistributed copies store the
    masks as 0/1 JPEG: set ``label_encoding='0-1'`` for those (the loader
    raises rather than reading them as empty).

    Args:
        img_suffix (str): Suffix of the images. Defaults to '.jpg'.
        seg_map_suffix (str): Suffix of the change masks. Defaults to '.jpg'.
        data_prefix (dict): Folders of date A, date B and the masks.
            Defaults to the training split,
            ``dict(img_path='train/A', img_path2='train/B',
            seg_map_path='train/OUT')``.
        label_encoding (str): Defaults to '0-255'.
        **kwargs: See :class:`ChangeDetectionDataset`.
    """

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.jpg',
                 data_prefix: dict = dict(
                     img_path='train/A',
                     img_path2='train/B',
                     seg_map_path='train/OUT'),
                 label_encoding: str = '0-255',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            label_encoding=label_encoding,
            **kwargs)
