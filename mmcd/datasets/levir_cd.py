"""LEVIR-CD (Chen and Shi 2020, building change detection)."""
from mmcd.registry import DATASETS
from .cd_dataset import ChangeDetectionDataset


@DATASETS.register_module()
class LEVIRCDDataset(ChangeDetectionDataset):
    """LEVIR-CD in its released folder layout.

    Registered in mmcd's scope, where it takes precedence over mmseg's own
    ``LEVIRCDDataset`` (a ``BaseCDDataset`` variant for 0/1 labels); the
    earlier name ``LEVIRCD`` stays registered as an alias.

    Layout: ``{train,val,test}/{A,B,label}/xxx.png`` - RGB PNG images and
    0/255 PNG change masks (``label_encoding='0-255'``). The usual 256x256
    crops (e.g. ``train_1_0000_0256.png``) use the same layout.

    Args:
        img_suffix (str): Suffix of the images. Defaults to '.png'.
        seg_map_suffix (str): Suffix of the change masks. Defaults to '.png'.
        data_prefix (dict): Folders of date A, date B and the masks.
            Defaults to the training split,
            ``dict(img_path='train/A', img_path2='train/B',
            seg_map_path='train/label')``.
        label_encoding (str): Defaults to '0-255'.
        **kwargs: See :class:`ChangeDetectionDataset`.
    """

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 data_prefix: dict = dict(
                     img_path='train/A',
                     img_path2='train/B',
                     seg_map_path='train/label'),
                 label_encoding: str = '0-255',
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            label_encoding=label_encoding,
            **kwargs)


#: The earlier name of :class:`LEVIRCDDataset`, kept for existing configs.
LEVIRCD = DATASETS.register_module(name='LEVIRCD', module=LEVIRCDDataset)
