# LSNet backbone with the SNUNet-style denseFPN neck (LSNet's comparison).
# Published (CDD test): P 0.9458, R 0.9349, F1 0.9403, OA 0.9853.
_base_ = './lsnet_difffpn_1xb12-100e_cdd-256x256.py'
model = dict(
    neck=dict(_delete_=True, type='DenseFPN', in_channels=(35, 131, 256, 512)),
    decode_head=dict(in_channels=[32, 32, 32], channels=96))
