# FC-Siam-conc (Daudt, Le Saux, Boulch, ICIP 2018; rcdaudt/
# fully_convolutional_change_detection, siamunet_conc.py): one encoder shared
# by both dates; each skip is [date A, date B] concatenated; the decoder
# starts from date B's pooled last stage (as the original, whose second
# encoder pass leaves its x4p for the decoder).
_base_ = './fc-ef_unet.py'
model = dict(
    type='SiameseEncoderDecoder',
    # one encoder pass per date in training too: per-date BatchNorm
    # statistics and dropout masks, as the original's two encoder calls
    joint_train_pass=False,
    backbone=dict(in_channels=3),
    neck=dict(
        type='TemporalFusionNeck',
        in_channels=(16, 32, 64, 128, 128),
        policy=('cat', 'cat', 'cat', 'cat', 'date_b')),
    decode_head=dict(in_channels=(32, 64, 128, 256, 128)))
