# FC-Siam-diff (Daudt, Le Saux, Boulch, ICIP 2018; rcdaudt/
# fully_convolutional_change_detection, siamunet_diff.py): one encoder shared
# by both dates; each skip is |date A - date B|; the decoder starts from
# date B's pooled last stage (as the original).
_base_ = './fc-ef_unet.py'
model = dict(
    type='SiameseEncoderDecoder',
    joint_train_pass=False,  # one encoder pass per date, as the original
    backbone=dict(in_channels=3),
    neck=dict(
        type='TemporalFusionNeck',
        in_channels=(16, 32, 64, 128, 128),
        policy=('abs_diff', 'abs_diff', 'abs_diff', 'abs_diff', 'date_b')))
