# TinyCD's official recipe (training.py, tuned for LEVIR-CD): AdamW
# lr 0.00356799066427741, weight decay 0.009449677083344786 (all parameters),
# cosine annealing over 100 epochs stepped once per epoch (T_max=100,
# eta_min=0), 100 epochs; the original validates every epoch and keeps every
# epoch's weights: here validation every epoch, the best F1 kept.
optimizer = dict(
    type='AdamW',
    lr=0.00356799066427741,
    betas=(0.9, 0.999),
    weight_decay=0.009449677083344786)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=100, eta_min=0., by_epoch=True,
         begin=0, end=100),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=2,
        save_best='F1',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ChangeVisualizationHook', draw=False),
)
randomness = dict(seed=42)  # training.py seeds torch, random, numpy with 42
