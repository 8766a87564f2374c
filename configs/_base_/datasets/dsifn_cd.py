# DSIFN-CD (Zhang et al. 2020) in ChangeFormer's 256x256 layout
# ("DSIFN-CD-256": each released 512x512 pair cut into four tiles by
# ChangeFormer's data_preparation/dsifn_cd_256.m): A/, B/ (RGB PNG), label/
# (0/255 PNG) and list/{train,val,test}.txt (14400 / 1360 / 192 tiles).
dataset_type = 'DSIFNCDDataset'
data_root = 'data/DSIFN-CD-256'
crop_size = (256, 256)
meta_keys = ('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
             'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
train_pipeline = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]


train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='list/train.txt',
        data_prefix=dict(img_path='A', img_path2='B', seg_map_path='label'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='list/val.txt',
        data_prefix=dict(img_path='A', img_path2='B', seg_map_path='label'),
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='list/test.txt',
        data_prefix=dict(img_path='A', img_path2='B', seg_map_path='label'),
        pipeline=test_pipeline))
val_evaluator = dict(type='ChangeMetric')
test_evaluator = val_evaluator
