# FC-EF (Daudt, Le Saux, Boulch, ICIP 2018; rcdaudt/
# fully_convolutional_change_detection, unet.py): early fusion, one U-Net on
# the 2C stack of both dates, in mmseg's plain EncoderDecoder.
# Encoder outputs: 16@1, 32@1/2, 64@1/4, 128@1/8 (skips), 128@1/16 (pooled).
norm_cfg = dict(type='BN', requires_grad=True)
# Deliberate difference: the original standardises each whole image by its
# own mean and std over all bands; mmcd normalises with fixed per-channel
# (ImageNet) statistics in the data preprocessor, so the exported ONNX graph
# and the fast path carry the normalisation.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53] * 2,  # RGB, both dates
    std=[58.395, 57.12, 57.375] * 2,
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=1)  # any size: the decoder pads the floored sizes back
# The original's NLLLoss(weight=w) on LogSoftmax: the class-weighted mean of
# the cross-entropy (WeightedMeanCrossEntropyLoss), w = [10 * 2p, 2(1 - p)]
# (no change, change; FP_MODIFIER = 10) with p the change fraction of the
# training labels: the dataset configs set class_weight.
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='FCUNetEncoder', in_channels=6, norm_cfg=norm_cfg),
    decode_head=dict(
        type='FCUNetHead',
        in_channels=(16, 32, 64, 128, 128),
        num_classes=2,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='WeightedMeanCrossEntropyLoss',
            class_weight=None,
            loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
