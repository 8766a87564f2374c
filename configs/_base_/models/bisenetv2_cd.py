# BiSeNetV2 change detector (mmcd's own design, no published original):
# mmseg's BiSeNetV2 detail and semantic branches embed both dates with shared
# weights; TemporalFusionNeck fuses each level across dates (absolute
# difference, chosen on the synthetic dataset, see README); a BGA head
# aggregates the fused detail (1/8) and context embedding (1/32) features;
# four booster FCN heads supervise the fused semantic stages during training
# only (EncoderDecoder never runs auxiliary heads at inference).
# Backbone outputs: 0 detail 128@1/8, 1 stem 16@1/4, 2 32@1/8, 3 64@1/16,
# 4 128@1/32, 5 context embedding 128@1/32.
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53] * 2,  # RGB, both dates
    std=[58.395, 57.12, 57.375] * 2,
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32,
    test_cfg=dict(size_divisor=32))
backbone_channels = (128, 16, 32, 64, 128, 128)
change_losses = [  # CE + Dice, as LSNet
    dict(type='CrossEntropyLoss', avg_non_ignore=True, loss_weight=1.0),
    dict(type='SoftDiceLoss', loss_weight=1.0),
]


def booster_head(in_channels, in_index, channels, weight):
    """mmseg BiSeNetV2's booster (FCN head, two 3x3 convs) on a fused
    semantic stage, with its own loss weight."""
    return dict(
        type='FCNHead',
        in_channels=in_channels,
        in_index=in_index,
        channels=channels,
        num_convs=2,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=2,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=[
            dict(type='CrossEntropyLoss', avg_non_ignore=True,
                 loss_weight=weight),
            dict(type='SoftDiceLoss', loss_weight=weight),
        ])


model = dict(
    type='SiameseEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='BiSeNetV2Branches', in_channels=3),
    neck=dict(
        type='TemporalFusionNeck',
        in_channels=backbone_channels,
        policy='abs_diff'),
    decode_head=dict(
        type='BGAHead',
        in_channels=[128, 128],
        in_index=[0, 5],
        bga_channels=128,
        channels=128,
        dropout_ratio=0.1,
        num_classes=2,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=change_losses),
    # booster widths and loss weights (1.0 each, as the BiSeNetV2 paper) of
    # mmseg's BiSeNetV2; each head takes its own weight
    auxiliary_head=[
        booster_head(16, 1, 16, 1.0),
        booster_head(32, 2, 64, 1.0),
        booster_head(64, 3, 256, 1.0),
        booster_head(128, 4, 1024, 1.0),
    ],
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
