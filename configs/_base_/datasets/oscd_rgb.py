# OSCD with the RGB bands only (B04, B03, B02 at 10 m: no resampling), the
# FC notebook's TYPE = 0. See oscd.py for the layout and the differences.
_base_ = './oscd.py'
bands = [4, 3, 2]
band_mean = [1325.6158, 1294.1616, 1374.3202]  # torchgeo's, see oscd.py
band_std = [151.1401, 105.6966, 83.4168]
pair_mean = band_mean * 2
pair_std = band_std * 2
train_pipeline = [
    dict(type='LoadBandFolderPair', bands=bands, dtype='uint16'),
    dict(type='LoadChangeAnnotation'),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomRot90', prob=0.75),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type='LoadBandFolderPair', bands=bands, dtype='uint16'),
    dict(type='LoadChangeAnnotation'),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(
    dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
