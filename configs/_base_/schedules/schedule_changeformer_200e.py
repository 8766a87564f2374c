# ChangeFormer's official recipe (wgcban/ChangeFormer scripts/
# run_ChangeFormer_LEVIR.sh, models/trainer.py, models/networks.py
# get_scheduler): AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.01 on
# every parameter; the learning rate decays linearly per epoch,
# lr(e) = lr * (1 - e / 201) (its LambdaLR 1 - epoch / (max_epochs + 1));
# 200 epochs, batch 16, validation after every epoch, the best checkpoint
# kept.
optimizer = dict(
    type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=1.0 / 201,
        begin=0,
        end=200,
        by_epoch=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Deliberate difference: ChangeFormer keeps the checkpoint with the best
# mF1 (mean of both classes' F1) on its validation split, which its scripts
# set to the *test* split (split_val=test); mmcd validates on the val split
# and ranks by the change class's F1.
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=1,
        save_best='F1',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ChangeVisualizationHook', draw=False),
)
# ChangeFormer's CDDataAugmentation for training (datasets/CD_dataset.py,
# data_utils.py; the same on every dataset, the configs set
# `train_pipeline = {{_base_.changeformer_train_pipeline}}`): horizontal and
# vertical flips (p = 0.5 each), rescale by U(1, 1.2) (bicubic images,
# nearest masks) and a random 256x256 crop, a PIL Gaussian blur of radius
# U(0, 1) on both dates, then torchvision's ColorJitter(0.3, 0.3, 0.3, 0.3)
# drawn per date.
# Deliberate differences: the rescale is OpenCV's bicubic (PIL's cannot take
# a 6-channel pair); the colour jitter is mmseg's PhotoMetricDistortion per
# date (contrast and saturation x U(0.7, 1.3), hue +-54 of OpenCV's 180 =
# +-0.3 of the circle as ColorJitter, brightness +-32 added instead of
# x U(0.7, 1.3); each distortion with probability 0.5 where ColorJitter
# applies all four).
changeformer_train_pipeline = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(
        type='RandomResize',
        scale=(256, 256),
        ratio_range=(1.0, 1.2),
        keep_ratio=True,
        interpolation='bicubic'),
    dict(type='RandomCrop', crop_size=(256, 256)),
    dict(type='PairGaussianBlur', radius_range=(0., 1.)),
    dict(
        type='PairPhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.7, 1.3),
        saturation_range=(0.7, 1.3),
        hue_delta=54),
    dict(
        type='PackSegInputs',
        meta_keys=('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
                   'img_shape', 'pad_shape', 'scale_factor', 'flip',
                   'flip_direction')),
]
