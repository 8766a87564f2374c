# DASNet-V2: DASNet plus a decoder shared by the three embeddings and both
# dates (3 x [4x4 stride-2 transposed conv, BN, LeakyReLU],
# 512 -> 256 -> 128 -> 32 channels, 2,688,224 parameters) before the L2
# normalisation, so the loss is computed at full resolution; the L2
# double-margin loss is weighted by CDD's changed fraction 0.147 (set
# class_weight=None for none, or 'batch' for the batch's own frequency).
_base_ = './dasnet_r50-d8.py'
model = dict(
    decode_head=dict(
        decoder_channels=(256, 128, 32),
        align_corners=False,
        loss_decode=dict(class_weight=(1 / (1 - 0.147), 1 / 0.147))))
