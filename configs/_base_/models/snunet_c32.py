# SNUNet-CD with ECAM, c = 32 (likyoo/Siam-NestedUNet, models/Models.py,
# SNUNet_ECAM): shared nested-U-Net encoder run once per date (BatchNorm
# statistics per date, as the original), the nested dense decoder (its
# deepest node from the later date only), and ECAM + 1x1 conv
# (CAMHead with attention='ecam').
# Loss: the original `hybrid_loss` = FocalLoss(gamma=0, alpha=None), i.e.
# cross-entropy averaged over all pixels, + soft Dice with the original's
# reduction (per class and image column: `per_column=True`), 1:1.
# Inputs go in as 0..255 floats (no mean/std normalisation), both dates'
# channels stacked: 6 values per mean/std; sizes padded to a multiple of 16
# (four 2x2 poolings).
base_channels = 32
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[0.0] * 6,
    std=[1.0] * 6,
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=16,
    test_cfg=dict(size_divisor=16))
model = dict(
    type='SiameseEncoderDecoder',
    joint_train_pass=False,
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='NestedUNetEncoder', in_channels=3,
        base_channels=base_channels, num_stages=4),
    neck=dict(
        type='NestedUNetDecoder',
        in_channels=[base_channels * 2**i for i in range(4)]),
    decode_head=dict(
        type='CAMHead',
        in_channels=[base_channels] * 4,
        in_index=[0, 1, 2, 3],
        channels=4 * base_channels,
        attention='ecam',
        ecam_ratios=(16, 4),
        num_classes=2,
        loss_decode=[
            dict(type='CrossEntropyLoss', avg_non_ignore=True,
                 loss_weight=1.0),
            dict(type='SoftDiceLoss', per_column=True, loss_weight=1.0),
        ]),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
