# DASNet-V2 (L2) on LEVIR-CD: random 256x256 crops (with flips and 90-degree
# rotations) of the 1024x1024 tiles; tested in 256x256 windows. The class
# weights follow each batch's changed fraction (LEVIR-CD has ~5% change,
# not CDD's 14.7%). ImageNet means.
_base_ = [
    '../_base_/models/dasnetv2_r50-d8.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_dasnetv2_80e.py'
]
model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53] * 2),
    decode_head=dict(loss_decode=dict(class_weight='batch')),
    test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(256, 256)))
train_dataloader = dict(batch_size=4)
val_evaluator = dict(threshold_sweep=True)
test_evaluator = val_evaluator
