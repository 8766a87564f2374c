# BIT_R18 on CDD (Real/subset, 256x256 tiles) with BIT's recipe and training
# augmentation (the BIT paper has no CDD experiment: no published figure).
_base_ = [
    '../_base_/models/bit_r18.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_bit_200e.py'
]
crop_size = (256, 256)
meta_keys = ('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
             'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
# as bit_r18_1xb8-200e_levircd-256x256.py (OpenCV's bicubic rescale instead
# of PIL's: the one deliberate difference)
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
    batch_size=8, num_workers=4, dataset=dict(pipeline=train_pipeline))
randomness = dict(seed=777)
