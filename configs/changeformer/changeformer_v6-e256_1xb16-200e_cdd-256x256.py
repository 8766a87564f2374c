# ChangeFormer V6 (embed_dim 256) on CDD (Lebedev et al.; Real/subset,
# 256x256 pairs: 10000 / 2998 / 3000). ChangeFormer publishes no CDD recipe
# or figures; this is its LEVIR-CD recipe (AdamW 1e-4, 200 epochs, batch 16).
_base_ = [
    '../_base_/models/changeformer_v6.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_changeformer_200e.py'
]
# ChangeFormer's training augmentation (see the schedule: OpenCV's bicubic
# rescale and mmseg's photometric distortion are the deliberate
# differences).
train_pipeline = {{_base_.changeformer_train_pipeline}}
train_dataloader = dict(
    batch_size=16, num_workers=4, dataset=dict(pipeline=train_pipeline))
