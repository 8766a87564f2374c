# LSNet (LightSiamese backbone + diffFPN neck + CAM head with coordinate
# attention), trained with LSNet's hybrid loss: cross-entropy + soft Dice, 1:1.
# The Dice reproduces the original's reduction (per class and image column,
# `per_column=True`); set it to False for the textbook whole-image Dice.
# Inputs go in as 0..255 floats (no mean/std normalisation), both dates'
# channels stacked: 6 values per mean/std.
# Deliberate difference (order of computation, not function): the neck
# blocks (diffFPN and denseFPN) run their entry 1x1 convolution on each part
# of their input concatenation at the part's own resolution and upsample the
# result (ContextGuidedBlock.forward_concat); the original upsamples, then
# concatenates, then convolves. Same values up to rounding, fewer MACs
# (configs/lsnet/README.md). Likewise the CAM head attends to and classifies
# each neck output with its slice of the weights (CAMHead.cls_seg_parts)
# instead of their concatenation.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[0.0] * 6,
    std=[1.0] * 6,
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=8,
    test_cfg=dict(size_divisor=8))
model = dict(
    type='SiameseEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='LightSiamese', in_channels=3),
    neck=dict(type='DiffFPN', in_channels=(35, 131, 256, 512),
              mid_channels=32),
    decode_head=dict(
        type='CAMHead',
        in_channels=[32, 32, 64],
        in_index=[0, 1, 2],
        channels=128,
        attention='coord',
        num_classes=2,
        loss_decode=[
            dict(type='CrossEntropyLoss', avg_non_ignore=True,
                 loss_weight=1.0),
            dict(type='SoftDiceLoss', per_column=True, loss_weight=1.0),
        ]),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# channels-last memory format in training (tools/train.py, ChannelsLastHook):
# the same results up to float rounding; oneDNN's channels-last depthwise
# convolutions make a CPU training step faster (README, Training speed)
channels_last = True
