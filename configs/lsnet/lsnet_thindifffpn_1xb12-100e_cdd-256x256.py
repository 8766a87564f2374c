# LSNet with the thin diffFPN (last fusion step dropped; head sees u_0, v_0).
# Published (CDD test): P 0.9453, R 0.9326, F1 0.9389, OA 0.9850.
_base_ = './lsnet_difffpn_1xb12-100e_cdd-256x256.py'
model = dict(
    neck=dict(thin=True),
    decode_head=dict(in_channels=[32, 32], in_index=[0, 1], channels=64))
