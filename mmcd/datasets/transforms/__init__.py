from .band_folder import (SENTINEL2_BANDS, LoadBandFolderPair,
                          read_band_folder)
from .geometric import Pad, RandomRotate
from .loading import (LABEL_ENCODINGS, ChangeInferencerLoader,
                      LoadChangeAnnotation, LoadImagePairFromFile)
from .transforms import (ExchangeTime, PairBrightnessContrastBlur,
                         PairGaussianBlur, PairPhotoMetricDistortion,
                         PairPhotometricJitter, RandomRot90, split_pair)

__all__ = [
    'LABEL_ENCODINGS', 'LoadImagePairFromFile', 'LoadChangeAnnotation',
    'ChangeInferencerLoader', 'LoadBandFolderPair', 'read_band_folder',
    'SENTINEL2_BANDS',
    'PairBrightnessContrastBlur', 'PairGaussianBlur',
    'PairPhotoMetricDistortion', 'PairPhotometricJitter', 'ExchangeTime',
    'RandomRot90', 'split_pair', 'Pad', 'RandomRotate'
]
