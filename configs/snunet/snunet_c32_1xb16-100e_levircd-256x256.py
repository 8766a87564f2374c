# SNUNet-CD (c=32, ECAM) on LEVIR-CD: the CDD recipe (see
# snunet_c32_1xb16-100e_cdd-256x256.py) on random 256x256 crops of the
# 1024x1024 tiles; whole-tile test. The original code was published for
# CDD only; validation every 10 epochs here (64 tiles of 1024x1024).
_base_ = [
    '../_base_/models/snunet_c32.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_lsnet_100e.py'
]
train_dataloader = dict(batch_size=16)
