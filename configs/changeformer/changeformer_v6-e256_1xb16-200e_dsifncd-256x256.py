# ChangeFormer V6 (embed_dim 256) on DSIFN-CD as ChangeFormer uses it:
# DSIFN-CD-256 (see configs/_base_/datasets/dsifn_cd.py), trained on train,
# validated on val, tested on test (192 tiles of the Xi'an pairs).
_base_ = [
    '../_base_/models/changeformer_v6.py', '../_base_/datasets/dsifn_cd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_changeformer_200e.py'
]
# ChangeFormer's training augmentation (see the schedule: OpenCV's bicubic
# rescale and mmseg's photometric distortion are the deliberate
# differences).
train_pipeline = {{_base_.changeformer_train_pipeline}}
train_dataloader = dict(
    batch_size=16, num_workers=4, dataset=dict(pipeline=train_pipeline))
# scripts/run_ChangeFormer_DSIFN.sh: AdamW lr 6e-5 (else the LEVIR-CD
# recipe), training initialised from ChangeFormer's best LEVIR-CD checkpoint
# (convert it with tools/model_converters/changeformer2mmcd.py and set
# load_from to follow it).
optimizer = dict(lr=6e-5)
optim_wrapper = dict(optimizer=optimizer)
load_from = None
