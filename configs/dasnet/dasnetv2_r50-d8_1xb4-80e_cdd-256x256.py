# DASNet-V2 on CDD (L2 distance, class-weighted double-margin loss at full
# resolution): batch 4, Adam 1e-4, 80 epochs, no augmentation.
# Published MaxF on CDD: 0.9566, the best
# *validation* MaxF printed during training (not a test-split figure: the V2
# test script cannot run as shipped).
_base_ = [
    '../_base_/models/dasnetv2_r50-d8.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_dasnetv2_80e.py'
]
train_pipeline = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(threshold_sweep=True)
test_evaluator = val_evaluator
