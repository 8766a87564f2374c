# BIT's official recipe (BIT_CD scripts/run_cd.sh, models/trainer.py,
# models/networks.py get_scheduler): SGD lr 0.01, momentum 0.9, weight decay
# 5e-4 on every parameter; the learning rate decays linearly per epoch,
# lr(e) = 0.01 * (1 - e / 201) (its LambdaLR 1 - epoch / (max_epochs + 1));
# 200 epochs, validation after every epoch, the best checkpoint kept.
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=1.0 / 201,
        begin=0,
        end=200,
        by_epoch=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Deliberate difference: BIT keeps the checkpoint with the best validation
# mF1 (mean of both classes' F1); mmcd's ChangeMetric ranks by the change
# class's F1.
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=1,
        save_best='F1',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ChangeVisualizationHook', draw=False),
)
