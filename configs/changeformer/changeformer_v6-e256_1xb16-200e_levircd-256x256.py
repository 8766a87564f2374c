# ChangeFormer V6 (embed_dim 256) on LEVIR-CD as ChangeFormer uses it: the
# 256x256 non-overlapping crops of the tiles (7120 / 1024 / 2048 pairs; make
# them with tools/dataset_converters/levircd.py data/LEVIR-CD
# data/LEVIR-CD-256, or use ChangeFormer's LEVIR-CD256 download with
# ann_file='list/train.txt' etc.), trained on train, validated on val,
# tested on test.
_base_ = [
    '../_base_/models/changeformer_v6.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_changeformer_200e.py'
]
data_root = 'data/LEVIR-CD-256'
# ChangeFormer's training augmentation (see the schedule: OpenCV's bicubic
# rescale and mmseg's photometric distortion are the deliberate
# differences).
train_pipeline = {{_base_.changeformer_train_pipeline}}
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
# ChangeFormer initialises LEVIR-CD training from its pretrained_changeformer
# .pt (scripts/run_ChangeFormer_LEVIR.sh; loaded non-strictly): convert it
# with tools/model_converters/changeformer2mmcd.py and set load_from to the
# result to follow it. Without it, training starts from ChangeFormer's
# N(0, 0.02) initialisation.
load_from = None
