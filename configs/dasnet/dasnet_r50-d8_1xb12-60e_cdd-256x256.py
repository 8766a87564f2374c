# DASNet on CDD with the original recipe: batch 12, Adam 1e-4, 60 epochs, no
# augmentation. Evaluation sweeps the distance threshold and reports MaxF
# (published by the DASNet-V2 authors for their reproduction: 0.9299, the best
# CDD *validation* MaxF printed during training, not a test-split figure).
_base_ = [
    '../_base_/models/dasnet_r50-d8.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_dasnet_60e.py'
]
train_pipeline = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=12, dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(threshold_sweep=True)
test_evaluator = val_evaluator
