# SNUNet-CD with c=16 on LEVIR-CD, the c=32 recipe (see
# snunet_c32_1xb16-100e_levircd-256x256.py).
_base_ = './snunet_c32_1xb16-100e_levircd-256x256.py'
model = dict(
    backbone=dict(base_channels=16),
    neck=dict(in_channels=[16, 32, 64, 128]),
    decode_head=dict(in_channels=[16] * 4, channels=64))
