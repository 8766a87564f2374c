# open-cd's Changer schedule (configs/common/standard_256x256_40k_levircd.py
# and changer_ex_*_40k_levircd.py): AdamW, a 1000-iteration linear warm-up
# from 1e-6 x lr, then a linear (poly, power 1) decay to 0 at 40k
# iterations; validation and checkpoints every 4k iterations. The configs
# set the learning rate and weight decay. Deliberate difference: the best
# checkpoint is kept by the change class's F1 (open-cd: mIoU of both
# classes).
optimizer = dict(type='AdamW', lr=0.005, betas=(0.9, 0.999),
                 weight_decay=0.05)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1000),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1000,
         end=40000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000,
                 val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=4000,
        max_keep_ckpts=2,
        save_best='F1',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ChangeVisualizationHook', draw=False),
)
# (configs using this schedule also set log_processor = dict(by_epoch=False),
# which default_runtime.py defines)
# open-cd's Changer training augmentation (the configs set
# `train_pipeline = {{_base_.changer_train_pipeline}}`; the CDD configs swap
# in a 256x256 crop): with p 0.5 a rotation by U(-20, 20) degrees (zero /
# ignore padding), else with p 0.5 a random multiple of 90 degrees followed
# by a horizontal or vertical flip (MultiImgRandomRotFlip); a random 512x512
# crop (at most 75% of one class); the dates swapped with p 0.5
# (MultiImgExchangeTime); photometric distortion drawn independently per
# date (brightness 10, contrast and saturation 0.8-1.2, hue 10).
changer_train_pipeline = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomRotate', prob=1.0, degree=20, pad_val=0,
                  seg_pad_val=255)],
            [dict(type='RandomRot90', prob=0.75),
             dict(type='RandomFlip', prob=[0.5, 0.5],
                  direction=['horizontal', 'vertical'])],
            [],
        ],
        prob=[0.5, 0.25, 0.25]),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='ExchangeTime', prob=0.5),
    dict(type='PairPhotoMetricDistortion', brightness_delta=10,
         contrast_range=(0.8, 1.2), saturation_range=(0.8, 1.2),
         hue_delta=10),
    dict(
        type='PackSegInputs',
        meta_keys=('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
                   'img_shape', 'pad_shape', 'scale_factor', 'flip',
                   'flip_direction')),
]
