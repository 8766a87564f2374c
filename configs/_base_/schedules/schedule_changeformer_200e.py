# ChangeFormer's official recipe (wgcban/ChangeFormer scripts/
# run_ChangeFormer_LEVIR.sh, models/trainer.py, models/networks.py
# get_scheduler): AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.01 on
# every parameter; the learning rate decays linearly per epoch,
# lr(e) = lr * (1 - e / 201) (its LambdaLR 1 - epoch / (max_epochs + 1));
# 200 epochs, batch 16, validation after every epoch, the best checkpoint
# kept.
optimizer = dict(
    type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01)
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
# Deliberate difference: ChangeFormer keeps the checkpoint with the best
# mF1 (mean of both classes' F1) on its validation split, which its scripts
# set to the *test* split (split_val=test); mmcd validates on the val split
# and ranks by the change class's F1.
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
