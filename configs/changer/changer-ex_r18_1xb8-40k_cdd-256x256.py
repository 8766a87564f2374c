# ChangerEx-R18 on CDD: open-cd's changer_ex_r18_512x512_40k_levircd
# recipe (batch 8, 40k iterations, AdamW lr 0.005, weight decay 0.05).
# Augmentation as open-cd's: with p 0.5 a rotation by U(-20, 20) degrees
# (zero / ignore padding), else with p 0.5 a random multiple of 90 degrees
# followed by a horizontal or vertical flip (MultiImgRandomRotFlip); a random
# 256x256 crop (at most 75% of one class); the dates swapped with p 0.5
# (MultiImgExchangeTime); photometric distortion drawn independently per
# date (brightness 10, contrast and saturation 0.8-1.2, hue 10).
# Deliberate difference: open-cd publishes no CDD recipe; this is the
# LEVIR-CD recipe with 256x256 crops (CDD's whole pairs), tested on whole
# pairs.
_base_ = [
    '../_base_/models/changer_ex_r18.py',
    '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_changer_40k.py'
]
crop_size = (256, 256)
meta_keys = ('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
             'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
train_pipeline = [
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
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='ExchangeTime', prob=0.5),
    dict(type='PairPhotoMetricDistortion', brightness_delta=10,
         contrast_range=(0.8, 1.2), saturation_range=(0.8, 1.2),
         hue_delta=10),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
log_processor = dict(by_epoch=False)  # iteration-based schedule
