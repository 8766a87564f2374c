# Quick start: LSNet diffFPN on the synthetic CDD-layout toy dataset written by
#   python tools/dataset_converters/make_synthetic_cd.py data/toy_cd \
#       --num-train 160 --num-val 20 --num-test 20 --size 128
# Trains in minutes on a CPU. A short schedule, everything else is LSNet's.
_base_ = [
    '../_base_/models/lsnet_difffpn.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_lsnet_100e.py'
]
data_root = 'data/toy_cd'
train_dataloader = dict(batch_size=8, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
param_scheduler = [dict(type='StepLR', step_size=4, gamma=0.5, by_epoch=True)]
train_cfg = dict(max_epochs=10, val_interval=2)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=2))
