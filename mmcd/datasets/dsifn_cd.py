"""DSIFN-CD (Zhang et al. 2020), as ChangeFormer and BIT use it."""
from mmcd.registry import DATASETS
from .cd_dataset import ChangeDetectionDataset


@DATASETS.register_module()
class DSIFNCDDataset(ChangeDetectionDataset):
    """DSIFN-CD in ChangeFormer's 256x256 layout ("DSIFN-CD-256").

    The released DSIFN-CD (six Chinese cities from Google Earth) has
    512x512 pairs: 3600 training, 340 validation and 48 test pairs (Xi'an),
    under ``{train,val,test}/{t1,t2,mask}`` (JPEG images, PNG masks).
    ChangeFormer cuts each into four 256x256 tiles
    (``data_preparation/dsifn_cd_256.m``: ``xxx_1.png`` ... ``xxx_4.png``,
    row-major) and gathers all splits in one folder set, the splits given
    by name lists::

        data_root
        ├── A        # date A, RGB PNG
        ├── B        # date B, RGB PNG
        ├── label    # change masks, 0/255 grayscale PNG
        └── list     # train.txt, val.txt, test.txt: one 'xxx_k.png' a line

    Use ``ann_file='list/train.txt'`` (``val.txt``, ``test.txt``) to select
    a split; the names may carry the ``.png`` suffix, as ChangeFormer's
    lists do. For the released 512x512 layout, set ``data_prefix`` to
    ``dict(img_path='train/t1', img_path2='train/t2',
    seg_map_path='train/mask')``, ``img_suffix='.jpg'`` and no ``ann_file``.

    Args:
        img_suffix (str): Suffix of the images. Defaults to '.png'.
        seg_map_suffix (str): Suffix of the change masks. Defaults to '.png'.
        data_prefix (dict): Folders of date A, date B and the masks.
            Defaults to ``dict(img_path='A', img_path2='B',
            seg_map_path='label')``.
        label_encoding (str): Defaults to '0-255' (ChangeFormer divides the
            masks by 255).
        **kwargs: See :class:`ChangeDetectionDataset` (``ann_file``,
            ``data_root``, ``pipeline``...).
    """

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 data_prefix: dict = dict(
                     img_path='A', img_path2='B', seg_map_path='label'),
                 label_encoding: str = '0-255',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            label_encoding=label_encoding,
            **kwargs)
