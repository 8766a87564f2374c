# TinyCD on CDD (Real/subset, 256x256): the official LEVIR-CD recipe (the
# authors publish no CDD recipe or figures; training.py's alternative AdamW
# lr 2.597e-3 / weight decay 8.62e-3 is tuned for WHU-CD): batch 8, AdamW
# lr 3.568e-3, cosine annealing over 100 epochs, BCE on a sigmoid output,
# ImageNet EfficientNet-B4 stem + stages 1-3, ImageNet mean/std per date;
# shared flips (p=0.5) and a +-5 degree rotation (p=0.5), per date
# brightness/contrast (+-0.2, p=0.5) and a 3/5 Gaussian blur (p=0.5).
# Deliberate differences from the original: see
# tinycd_effb4_1xb8-100e_levircd-256x256.py (the rotation's corner filling,
# BCE on the logit, DropPath's random draws).
_base_ = [
    '../_base_/models/tinycd_effb4.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_tinycd_100e.py'
]
meta_keys = ('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
             'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
train_pipeline = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
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
