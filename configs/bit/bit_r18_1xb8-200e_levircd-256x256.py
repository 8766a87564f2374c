# BIT_R18 (BIT_CD `base_transformer_pos_s4_dd8`) on LEVIR-CD as BIT uses it:
# the 256x256 non-overlapping crops of the tiles (7120 / 1024 / 2048 pairs;
# make them with tools/dataset_converters/levircd.py data/LEVIR-CD
# data/LEVIR-CD-256), trained on train, validated on val, tested on test.
_base_ = [
    '../_base_/models/bit_r18.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_bit_200e.py'
]
data_root = 'data/LEVIR-CD-256'
# BIT's CDDataAugmentation for training (see the schedule). Deliberate
# difference: the rescale is OpenCV's bicubic (PIL's cannot take a
# 6-channel pair); BIT resamples with PIL's.
train_pipeline = {{_base_.bit_train_pipeline}}
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
randomness = dict(seed=777)
