# DASNet (dual attentive Siamese network): ResNet-50 at output stride 8
# (mmseg's ResNet: 7x7 stem; layer3 dilation 2 and layer4 dilation 4, the
# first block of each at half the dilation), DANet's dual attention giving
# three 512-d embeddings (sa, sc, sasc) per date, and the per-pixel L2
# distance between the dates' L2-normalised embeddings, trained with the
# double-margin contrastive loss (0.3 / 2.2) on all three at 1/8 resolution,
# 1:1:1. Prediction: sasc distance > distance_threshold.
# Parameters: 23,508,032 (ResNet-50) + 24,713,346 (dual attention).
# Input: per-date mean subtraction without std scaling (the original's CDD
# means, in RGB order).
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[90.43, 100.2, 87.72, 121.18, 127.93, 120.24],
    std=[1.0] * 6,
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=8,
    test_cfg=dict(size_divisor=8))
model = dict(
    type='SiameseEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=50,
        in_channels=3,
        out_indices=(3, ),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        contract_dilation=True,
        style='pytorch',
        norm_cfg=norm_cfg,
        # torchvision's ImageNet ResNet-50 (same key layout); for a local
        # copy: --cfg-options model.backbone.init_cfg.checkpoint=PATH
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet50-19c8e357.pth')),
    neck=dict(
        type='DualAttentionEmbedding',
        in_channels=2048,
        channels=512,
        pam_channels=64,
        embed_channels=512,
        dropout_ratio=0.1,
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='MetricHead',
        in_channels=(512, 512, 512),
        in_index=(0, 1, 2),
        distance='l2',
        distance_threshold=1.0,
        align_corners=True,
        loss_decode=dict(
            type='DoubleMarginContrastiveLoss',
            margin_unchanged=0.3,
            margin_changed=2.2)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
