from . import transforms  # noqa: F401 (registers the transforms)
from .cd_dataset import ChangeDetectionDataset
from .cdd import CDDDataset
from .dsifn_cd import DSIFNCDDataset
from .levir_cd import LEVIRCD, LEVIRCDDataset
from .oscd import OSCDDataset
from .synthetic import write_synthetic_cdd
from .transforms import (ExchangeTime, LoadChangeAnnotation,
                         LoadImagePairFromFile, PairPhotoMetricDistortion,
                         RandomRot90)

__all__ = [
    'ChangeDetectionDataset', 'CDDDataset', 'DSIFNCDDataset',
    'LEVIRCDDataset', 'LEVIRCD', 'OSCDDataset', 'write_synthetic_cdd',
    'LoadImagePairFromFile', 'LoadChangeAnnotation',
    'PairPhotoMetricDistortion', 'ExchangeTime', 'RandomRot90'
]
