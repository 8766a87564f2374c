# LSNet diffFPN with deep supervision, the option LSNet's loss code offers
# (weights 1, 1/4, 1/8) but its published models did not train with: the
# CE + Dice loss is also applied to class logits of the neck's u_0 and v_0
# (1x1 convolutions, as mmseg auxiliary heads, dropped at inference).
_base_ = './lsnet_difffpn_1xb12-100e_cdd-256x256.py'


def _aux_head(in_index, weight):
    return dict(
        type='FCNHead',
        in_channels=32,
        in_index=in_index,
        channels=32,
        num_convs=0,
        concat_input=False,
        dropout_ratio=0.0,
        num_classes=2,
        align_corners=False,
        loss_decode=[
            dict(type='CrossEntropyLoss', avg_non_ignore=True,
                 loss_weight=weight),
            dict(type='SoftDiceLoss', per_column=True, loss_weight=weight),
        ])


model = dict(auxiliary_head=[_aux_head(0, 0.25), _aux_head(1, 0.125)])
