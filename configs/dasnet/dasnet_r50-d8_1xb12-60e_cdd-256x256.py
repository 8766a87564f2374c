# DASNet on CDD with the original recipe: batch 12, Adam 1e-4, 60 epochs, no
# augmentation. Evaluation sweeps the distance threshold and reports MaxF
# (published, CDD test, reproduced by the DASNet-V2 authors: 0.9299).
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
