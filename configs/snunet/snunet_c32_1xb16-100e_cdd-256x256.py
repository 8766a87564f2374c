# SNUNet-CD (c=32, ECAM) on CDD with the official recipe (likyoo/
# Siam-NestedUNet train.py + metadata.json): batch 16, AdamW lr 1e-3
# (PyTorch's default weight decay 0.01), StepLR x0.5 every 8 epochs, 100
# epochs, flips + 90/180/270-degree rotations (p 0.75), 0..255 input without
# normalisation, CE + soft Dice, seed 777, validation every epoch.
# Deliberate differences: the best checkpoint is kept by F1 from one global
# confusion matrix (the original saves whenever the batch-averaged
# validation P, R or F1 improves); labels are binarised at 128 (the
# original keeps only pixels equal to 255, `mask / 255` truncated to long);
# mmengine's Kaiming init zeroes conv biases (the original keeps PyTorch's
# default uniform biases).
_base_ = [
    '../_base_/models/snunet_c32.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_lsnet_100e.py'
]
train_dataloader = dict(batch_size=16)
train_cfg = dict(val_interval=1)
