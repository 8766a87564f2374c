_base_ = './lsnet_difffpn_1xb12-100e_levircd-256x256.py'
model = dict(
    neck=dict(_delete_=True, type='DenseFPN', in_channels=(35, 131, 256, 512)),
    decode_head=dict(in_channels=[32, 32, 32], channels=96))
