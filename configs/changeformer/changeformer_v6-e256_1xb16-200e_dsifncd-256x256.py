# ChangeFormer V6 (embed_dim 256) on DSIFN-CD as ChangeFormer uses it:
# DSIFN-CD-256 (see configs/_base_/datasets/dsifn_cd.py), trained on train,
# validated on val, tested on test (192 tiles of the Xi'an pairs).
_base_ = [
    '../_base_/models/changeformer_v6.py', '../_base_/datasets/dsifn_cd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_changeformer_200e.py'
]
crop_size = (256, 256)
meta_keys = ('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
             'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
# Training augmentation as the LEVIR-CD config: ChangeFormer's
# CDDataAugmentation for training (datasets/CD_dataset.py,
# data_utils.py): horizontal and vertical flips (p = 0.5 each), rescale by
# U(1, 1.2) (bicubic images, nearest masks) and a random 256x256 crop, a PIL
# Gaussian blur of radius U(0, 1) on both dates, then torchvision's
# ColorJitter(0.3, 0.3, 0.3, 0.3) drawn per date.
# Deliberate differences: the rescale is OpenCV's bicubic (PIL's cannot take
# a 6-channel pair); the colour jitter is mmseg's PhotoMetricDistortion per
# date (contrast and saturation x U(0.7, 1.3), hue +-54 of OpenCV's 180 =
# +-0.3 of the circle as ColorJitter, brightness +-32 added instead of
# x U(0.7, 1.3); each distortion with probability 0.5 where ColorJitter
# applies all four).
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
    dict(
        type='PairPhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.7, 1.3),
        saturation_range=(0.7, 1.3),
        hue_delta=54),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=16, num_workers=4, dataset=dict(pipeline=train_pipeline))
# scripts/run_ChangeFormer_DSIFN.sh: AdamW lr 6e-5 (else the LEVIR-CD
# recipe), training initialised from ChangeFormer's best LEVIR-CD checkpoint
# (convert it with tools/model_converters/changeformer2mmcd.py and set
# load_from to follow it).
optimizer = dict(lr=6e-5)
optim_wrapper = dict(optimizer=optimizer)
load_from = None
