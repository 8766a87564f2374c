# BIT_R18 (BIT_CD `base_transformer_pos_s4_dd8`) on LEVIR-CD as BIT uses it:
# the 256x256 non-overlapping crops of the tiles (7120 / 1024 / 2048 pairs;
# make them with tools/dataset_converters/levircd.py data/LEVIR-CD
# data/LEVIR-CD-256), trained on train, validated on val, tested on test.
_base_ = [
    '../_base_/models/bit_r18.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_bit_200e.py'
]
data_root = 'data/LEVIR-CD-256'
crop_size = (256, 256)
meta_keys = ('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
             'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
# BIT's CDDataAugmentation for training: horizontal and vertical flips
# (p = 0.5 each), rescale by U(1, 1.2) (bicubic images, nearest masks) and a
# random 256x256 crop, then a PIL Gaussian blur of radius U(0, 1) on both
# dates. Deliberate difference: the rescale is OpenCV's bicubic (PIL's
# cannot take a 6-channel pair); BIT resamples with PIL's.
train_pipeline = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(
        type='RandomResize',
        scale=crop_size,
        ratio_range=(1.0, 1.2),
        keep_ratio=True,
        interpolation='bicubic'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PairGaussianBlur', radius_range=(0., 1.)),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
randomness = dict(seed=777)
