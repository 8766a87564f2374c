# BIT_R18 (BIT_CD's `base_transformer_pos_s4_dd8`): ResNet-18 up to layer3
# (layer3 with stride 1: BIT asks torchvision for a dilated layer3, which its
# BasicBlock turns into a plain stride-1 layer; output stride 8), the
# bitemporal image transformer (4 tokens per date, 1 encoder and 8 decoder
# layers) as the neck, BIT's two-conv classifier as the head. Each date runs
# through the backbone on its own in training (BatchNorm statistics per date,
# as BIT's forward_single calls).
norm_cfg = dict(type='BN', requires_grad=True)
# inputs scaled to [-1, 1], as BIT's loader: (x / 255 - 0.5) / 0.5
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[127.5] * 6,
    std=[127.5] * 6,
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=8,
    test_cfg=dict(size_divisor=8))
# BIT's code builds the backbone with ImageNet weights and then re-draws every
# conv / BatchNorm weight (its init_weights: N(0, 0.02) / N(1, 0.02)), so its
# published models start from random weights: so does this config (see
# configs/bit/README.md; the *_in1k-pre_* config starts from ImageNet).
bit_init_cfg = [
    dict(type='Normal', std=0.02, layer=['Conv2d', 'Linear']),
    dict(type='Normal', mean=1.0, std=0.02, layer='_BatchNorm'),
]
model = dict(
    type='SiameseEncoderDecoder',
    data_preprocessor=data_preprocessor,
    joint_train_pass=False,
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=3,
        strides=(1, 2, 1),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        style='pytorch',
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=bit_init_cfg),
    neck=dict(
        type='BITNeck',
        in_channels=256,
        channels=32,
        num_tokens=4,
        enc_depth=1,
        dec_depth=8,
        num_heads=8,
        enc_head_channels=64,
        dec_head_channels=64,
        ffn_channels=64),
    decode_head=dict(
        type='BITHead',
        in_channels=32,
        channels=32,
        num_classes=2,
        norm_cfg=norm_cfg,
        align_corners=False,
        # F.cross_entropy's mean over the labelled pixels (ignore 255)
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, avg_non_ignore=True,
            loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
