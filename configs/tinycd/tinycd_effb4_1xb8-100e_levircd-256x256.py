# TinyCD on LEVIR-CD with the official recipe (training.py, tuned for
# LEVIR-CD): batch 8, AdamW lr 3.568e-3 (weight decay 9.45e-3), cosine
# annealing over 100 epochs, BCE on a sigmoid output, ImageNet EfficientNet-B4
# stem + stages 1-3, ImageNet mean/std per date; shared flips (p=0.5) and a
# +-5 degree rotation (p=0.5), per date brightness/contrast (+-0.2, p=0.5)
# and a 3/5 Gaussian blur (p=0.5).
# Published (LEVIR-CD test, 256x256 tiles): F1 91.05 (see README.md).
# Deliberate differences from the original:
# - mmcd's LEVIR-CD is the 1024x1024 tiles: trained on random 256x256 crops,
#   tested on whole tiles; the authors train and test on the 256x256
#   non-overlapping crops (BIT's LEVIR-CD-256), which this config reads too
#   with data_root pointing to them and RandomCrop removed;
# - the rotation fills the uncovered corners with 0 (image) and 255 (mask,
#   ignored by the loss) instead of albumentations' reflection;
# - the flip is a horizontal, vertical or both-axes flip with 1/6 each
#   (albumentations' Flip: p=0.5, then one of the three), as the original;
# - BCE on the logit (CrossEntropyLoss(use_sigmoid=True)) instead of BCELoss
#   on the sigmoid: the same loss, without the latter's log clamp at -100;
# - mmcv's DropPath for torchvision's StochasticDepth (the same per-sample
#   drop, its own random draws).
_base_ = [
    '../_base_/models/tinycd_effb4.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_tinycd_100e.py'
]
crop_size = (256, 256)
meta_keys = ('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
             'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
train_pipeline = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=[1 / 6] * 3,
         direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='RandomRotate', prob=0.5, degree=5, pad_val=0,
         seg_pad_val=255),
    dict(type='PairBrightnessContrastBlur', brightness_limit=0.2,
         contrast_limit=0.2, prob=0.5, blur_kernel_sizes=(3, 5),
         blur_prob=0.5),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
