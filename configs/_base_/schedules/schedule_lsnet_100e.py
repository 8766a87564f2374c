# LSNet's official recipe: AdamW 1e-3 (weight decay 0.01), StepLR halving
# every 8 epochs, ~100 epochs, validation every 10 epochs.
optimizer = dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(type='StepLR', step_size=8, gamma=0.5, by_epoch=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=10,
        max_keep_ckpts=2,
        save_best='F1',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ChangeVisualizationHook', draw=False),
)
randomness = dict(seed=777)
