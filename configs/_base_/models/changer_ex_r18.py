# ChangerEx with ResNet-18 (open-cd's configs/_base_/models/changer_r18.py
# with changer_ex_r18's interactions): mmseg's ResNetV1c-18 (deep stem) run
# on both dates with shared weights, a spatial (column) exchange after stage
# 2 and channel exchanges after stages 3 and 4 (every second column /
# channel swapped between the dates); the four levels of both dates are
# concatenated and Changer's head fuses them per date (1x1 convs to 128,
# fused to 64), aligns the dates with flow dual-alignment (FDAF), projects
# with a MixFFN and classifies at 1/4 resolution. CE loss on OHEM-sampled
# pixels (thresh 0.7, min_kept 100000). Trained from scratch, as open-cd's
# config (pretrained=None). ImageNet mean/std normalisation (RGB).
# Parameters: 11,195,744 (backbone) + 195,202 (head) = 11,390,946.
# Deliberate difference: BN instead of open-cd's SyncBN (one process here;
# SyncBN in a single process is BN).
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
        type='InteractionResNetV1c',
        depth=18,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        interaction_cfg=(None, dict(type='SpatialExchange', p=1 / 2),
                         dict(type='ChannelExchange', p=1 / 2),
                         dict(type='ChannelExchange', p=1 / 2))),
    neck=dict(
        type='TemporalFusionNeck', in_channels=[64, 128, 256, 512],
        policy='cat'),
    decode_head=dict(
        type='ChangerHead',
        in_channels=[64, 128, 256, 512],
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
