# BIT_R18 on CDD (Real/subset, 256x256 tiles) with BIT's recipe and training
# augmentation (the BIT paper has no CDD experiment: no published figure).
_base_ = [
    '../_base_/models/bit_r18.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_bit_200e.py'
]
# BIT's training augmentation (see the schedule; OpenCV's bicubic rescale
# instead of PIL's: the one deliberate difference)
train_pipeline = {{_base_.bit_train_pipeline}}
train_dataloader = dict(
    batch_size=8, num_workers=4, dataset=dict(pipeline=train_pipeline))
randomness = dict(seed=777)
