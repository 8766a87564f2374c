# ChangerEx with MiT-b0 (open-cd's configs/_base_/models/changer_mit-b0.py
# with changer_ex_mit-b0's interactions): mmseg's MixVisionTransformer
# (SegFormer MiT-b0: 32-64-160-256 channels, 2 blocks per stage, drop path
# 0.1) run on both dates with shared weights, a spatial (column) exchange
# after stage 2 and channel exchanges after stages 3 and 4; Changer's head
# as for R18 (1x1 convs to 128, FDAF, MixFFN, 1/4 resolution). CE loss on
# OHEM-sampled pixels (thresh 0.7, min_kept 100000). The backbone starts
# from mmseg's ImageNet MiT-b0 (as open-cd's config). ImageNet mean/std
# normalisation (RGB).
# Parameters: 3,319,392 (backbone) + 137,858 (head) = 3,457,250.
# Deliberate difference: BN instead of open-cd's SyncBN in the head.
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53] * 2,
    std=[58.395, 57.12, 57.375] * 2,
    bgr_to_rgb=False,
    size_divisor=32,
    pad_val=0,
    seg_pad_val=255,
    test_cfg=dict(size_divisor=32))
model = dict(
    type='SiameseEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='InteractionMixVisionTransformer',
        in_channels=3,
        embed_dims=32,
        num_stages=4,
        num_layers=[2, 2, 2, 2],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        interaction_cfg=(None, dict(type='SpatialExchange', p=1 / 2),
                         dict(type='ChannelExchange', p=1 / 2),
                         dict(type='ChannelExchange', p=1 / 2)),
        # mmseg's ImageNet MiT-b0; for a local copy:
        # --cfg-options model.backbone.init_cfg.checkpoint=PATH
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/'
            'pretrain/segformer/mit_b0_20220624-7e0fe6dd.pth')),
    neck=dict(
        type='TemporalFusionNeck', in_channels=[32, 64, 160, 256],
        policy='cat'),
    decode_head=dict(
        type='ChangerHead',
        in_channels=[32, 64, 160, 256],
        in_index=[0, 1, 2, 3],
        channels=128,
        dropout_ratio=0.1,
        num_classes=2,
        norm_cfg=norm_cfg,
        align_corners=False,
        sampler=dict(type='OHEMPixelSampler', thresh=0.7, min_kept=100000),
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
