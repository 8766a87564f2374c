# SNUNet-CD with c=16 (the paper's SNUNet-CD/16; the original code fixes
# n1 = 32, change it to 16 for this model) on CDD, the c=32 recipe.
_base_ = './snunet_c32_1xb16-100e_cdd-256x256.py'
model = dict(
    backbone=dict(base_channels=16),
    neck=dict(in_channels=[16, 32, 64, 128]),
    decode_head=dict(in_channels=[16] * 4, channels=64))
