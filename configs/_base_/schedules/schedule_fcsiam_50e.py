# The FC-EF / FC-Siam notebook's recipe (rcdaudt/
# fully_convolutional_change_detection): Adam at PyTorch's default lr 1e-3
# with an L2 weight decay of 1e-4 (coupled, torch.optim.Adam), the lr
# multiplied by 0.95 after every epoch, 50 epochs; the original evaluates
# every epoch (here: validation every epoch, keeping the best F1).
optimizer = dict(type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [dict(type='ExponentialLR', gamma=0.95, by_epoch=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=5,
        max_keep_ckpts=2,
        save_best='F1',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ChangeVisualizationHook', draw=False),
)
