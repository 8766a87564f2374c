# LSNet with the thin diffFPN: no second difference row; the head sees u_0
# (32 ch) and the last block on (u_0, up(u_1)) (64 ch), as in the original.
# Published (CDD test): P 0.9453, R 0.9326, F1 0.9389, OA 0.9850.
_base_ = './lsnet_difffpn_1xb12-100e_cdd-256x256.py'
model = dict(
    neck=dict(thin=True),
    decode_head=dict(in_channels=[32, 64], in_index=[0, 1], channels=96))
