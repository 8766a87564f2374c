from .loading import (LABEL_ENCODINGS, ChangeInferencerLoader,
                      LoadChangeAnnotation, LoadImagePairFromFile)
from .transforms import (ExchangeTime, PairBrightnessContrastBlur,
                         PairGaussianBlur, PairPhotoMetricDistortion,
                         RandomRot90, split_pair)

__all__ = [
    'LABEL_ENCODINGS', 'LoadImagePairFromFile', 'LoadChangeAnnotation',
    'ChangeInferencerLoader',
    'PairBrightnessContrastBlur', 'PairGaussianBlur',
    'PairPhotoMetricDistortion', 'ExchangeTime', 'RandomRot90', 'split_pair'
]
