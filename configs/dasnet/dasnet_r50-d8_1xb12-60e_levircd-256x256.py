# DASNet on LEVIR-CD: random 256x256 crops (with flips and 90-degree
# rotations) of the 1024x1024 tiles; tested tile by tile in 256x256 windows.
# ImageNet means (the original's means are CDD's).
_base_ = [
    '../_base_/models/dasnet_r50-d8.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_dasnet_60e.py'
]
model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53] * 2),
    test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(256, 256)))
val_evaluator = dict(threshold_sweep=True)
test_evaluator = val_evaluator
