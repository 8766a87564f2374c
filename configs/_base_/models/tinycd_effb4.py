# TinyCD (Codegoni et al. 2023): the stem and stages 1-3 of an ImageNet
# EfficientNet-B4 shared by both dates (one backbone pass per date in
# training too, so BatchNorm sees each date's own batch statistics, as the
# original), MAMB mixing of the raw images and of stages 1-3 into three
# one-channel masks and 56 mixed channels at 1/8, mask-guided upsampling and
# a pixel-wise MLP to one logit per pixel. TinyCD's sigmoid + BCE is
# CrossEntropyLoss(use_sigmoid=True) on the single logit, thresholded at 0.5
# as the original. ImageNet normalisation, per date (6 mean/std values).
# The backbone weights: torchvision's ImageNet EfficientNet-B4, the file that
# torchvision 0.12 (TinyCD's) loads for `pretrained=True`; keys `features.*`.
efficientnet_b4_imagenet = ('https://download.pytorch.org/models/'
                            'efficientnet_b4_rwightman-7eb33cd5.pth')
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53] * 2,
    std=[58.395, 57.12, 57.375] * 2,
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=8,
    test_cfg=dict(size_divisor=8))
model = dict(
    type='SiameseEncoderDecoder',
    data_preprocessor=data_preprocessor,
    joint_train_pass=False,
    backbone=dict(
        type='EfficientNet',
        arch='b4',
        num_stages=4,
        out_indices=(1, 2, 3),
        with_input=True,
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=efficientnet_b4_imagenet,
            prefix='features.')),
    neck=dict(
        type='MixingMaskAttentionNeck',
        in_channels=(3, 24, 32, 56),
        mlp_channels=((10, 5), (12, 6), (16, 8))),
    decode_head=dict(
        type='UpMaskHead',
        in_channels=[1, 1, 1, 56],
        channels=8,
        up_channels=(64, 64, 32),
        mlp_channels=(16, ),
        num_classes=2,
        out_channels=1,
        threshold=0.5,
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            avg_non_ignore=True,
            loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
