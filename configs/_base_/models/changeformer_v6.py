# ChangeFormer V6 (Bandara and Patel, IGARSS 2022; wgcban/ChangeFormer,
# models/ChangeFormer.py ChangeFormerV6 with embed_dim=256): a hierarchical
# transformer encoder shared by the dates (one pass per date, as the
# original), both dates' features stacked per level, and the MLP difference
# decoder with deep supervision (multi_scale_train: weights 0.5, 0.5, 0.5,
# 0.8 on the 1/32 ... 1/4 side predictions, 1.0 on the final one; the label
# resized to each by nearest neighbour), plain cross-entropy (ignore 255).
# Inputs are normalised as the original: (x / 255 - 0.5) / 0.5 per channel.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[127.5] * 6,
    std=[127.5] * 6,
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32,
    test_cfg=dict(size_divisor=32))
model = dict(
    type='SiameseEncoderDecoder',
    data_preprocessor=data_preprocessor,
    joint_train_pass=False,
    backbone=dict(
        type='ChangeFormerEncoder',
        in_channels=3,
        embed_dims=(64, 128, 320, 512),
        num_layers=(3, 3, 4, 3),
        num_heads=(1, 2, 4, 8),
        patch_sizes=(7, 7, 7, 7),
        strides=(4, 2, 2, 2),
        sr_ratios=(8, 4, 2, 1),
        mlp_ratio=4,
        drop_rate=0.1,
        attn_drop_rate=0.1,
        drop_path_rate=0.1),
    neck=dict(
        type='TemporalFusionNeck', in_channels=(64, 128, 320, 512),
        policy='cat'),
    decode_head=dict(
        type='ChangeFormerHead',
        in_channels=(64, 128, 320, 512),
        in_index=(0, 1, 2, 3),
        channels=256,
        num_classes=2,
        side_loss_weights=(0.5, 0.5, 0.5, 0.8),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', avg_non_ignore=True, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
