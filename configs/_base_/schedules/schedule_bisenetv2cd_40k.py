# Real-time BiSeNetV2 change detector: mmseg BiSeNetV2's recipe (SGD 0.05,
# momentum 0.9, weight decay 5e-4, 1000-iteration linear warm-up, poly decay)
# shortened to 40k iterations, iteration-based so that the small LEVIR-CD
# (445 tiles) and the larger CDD (10,000 pairs) get the same number of
# updates; validation and checkpoints every 4k iterations, best kept by F1.
optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=1000),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, by_epoch=False, begin=1000,
         end=40000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000,
                 val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=4000,
        max_keep_ckpts=2,
        save_best='F1',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ChangeVisualizationHook', draw=False),
)
randomness = dict(seed=777)
# (configs using this schedule also set log_processor = dict(by_epoch=False),
# which default_runtime.py defines)
