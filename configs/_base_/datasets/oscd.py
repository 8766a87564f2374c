# OSCD (Daudt et al., IGARSS 2018): 24 Sentinel-2 cities, 14 for training and
# 10 for testing (train.txt / test.txt), 13 uint16 bands per date stored as
# one TIFF per band at 10, 20 and 60 m, a 0/255 change map (cm/cm.png) on the
# 10 m grid. Layout: see OSCDDataset; data_root holds the three unpacked
# archives (Images, Train Labels, Test Labels).
# LoadBandFolderPair resamples the 20 m and 60 m bands of imgs_1 / imgs_2 onto
# the B04 (10 m) grid, bilinear (rasterio / GDAL, pixel centres, edges
# extended); the FC notebook zooms them with scipy.ndimage.zoom (cubic spline,
# corner-aligned) and crops/edge-pads to the 10 m size: a deliberate
# difference.
dataset_type = 'OSCDDataset'
data_root = 'data/OSCD'
images = 'Onera Satellite Change Detection dataset - Images'
train_labels = 'Onera Satellite Change Detection dataset - Train Labels'
test_labels = 'Onera Satellite Change Detection dataset - Test Labels'
# Band i is mmcd.datasets.transforms.SENTINEL2_BANDS[i - 1] (B01 ... B08, B8A,
# B09 ... B12). The FC notebook's 13-band order (TYPE = 3: B04 B03 B02 B08 B05
# B06 B07 B8A B11 B12 B01 B09 B10), so that its checkpoints convert as they
# are (tools/model_converters/fcsiam2mmcd.py).
bands = [4, 3, 2, 8, 5, 6, 7, 9, 12, 13, 1, 10, 11]
# Per-band mean/std in `bands` order, both dates: torchgeo's OSCD statistics
# (torchgeo/datamodules/oscd.py, MEAN/STD per band), not re-measured here (no
# OSCD copy on our machines). Measure yours on the training cities with
# `python tools/analysis_tools/band_stats.py CONFIG` and paste its lines.
# Deliberate difference: the FC notebook standardises each date of each city
# by that image's own mean and std over all its bands (NORMALISE_IMGS); mmcd
# normalises with fixed per-band statistics in the data preprocessor (stored
# in the checkpoint's config, so inference and ONNX export carry them).
band_mean = [1325.6158, 1294.1616, 1374.3202, 2076.4868, 1478.7408, 1933.0822,
             2166.0608, 2306.0652, 2080.3347, 1524.6930, 1583.0741, 690.9814,
             16.2360]
band_std = [151.1401, 105.6966, 83.4168, 114.6483, 147.4615, 115.9289,
            123.1974, 141.4530, 213.4821, 179.4793, 52.1937, 73.2758, 4.8368]
pair_mean = band_mean * 2
pair_std = band_std * 2
crop_size = (96, 96)  # the FC notebook's PATCH_SIDE
meta_keys = ('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
             'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
# The FC notebook's augmentation: a random horizontal flip and a random number
# (0-3) of quarter turns. Deliberate difference: random 96x96 crops of the
# cities instead of its fixed grid of 96x96 patches at stride 47.
train_pipeline = [
    dict(type='LoadBandFolderPair', bands=bands, dtype='uint16'),
    dict(type='LoadChangeAnnotation'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomRot90', prob=0.75),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadBandFolderPair', bands=bands, dtype='uint16'),
    dict(type='LoadChangeAnnotation'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_cities = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file=images + '/train.txt',
    data_prefix=dict(img_path=images, seg_map_path=train_labels))
test_cities = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file=images + '/test.txt',
    data_prefix=dict(img_path=images, seg_map_path=test_labels),
    pipeline=test_pipeline)

# 14 cities: one epoch draws 100 random crops from each (1400 crops, 44
# batches of 32); the notebook's epoch is one pass over its patch grid
# (about (H / 47) x (W / 47) patches per city).
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RepeatDataset',
        times=100,
        dataset=dict(**train_cities, pipeline=train_pipeline)))
# Validation on the whole training cities, as the notebook selects its best
# checkpoint by the training F1 (OSCD has no validation split); the test
# cities are only tested.
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**train_cities, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=test_cities)
val_evaluator = dict(type='ChangeMetric')
test_evaluator = val_evaluator
