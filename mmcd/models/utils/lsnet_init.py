"""LSNet's weight initialisation expressed as an mmengine ``init_cfg``."""

#: Kaiming normal (fan_out, relu) for every Conv2d, BatchNorm (and
#: GroupNorm) weight 1 and bias 0; Linear and PReLU keep PyTorch's defaults.
#: Unlike the original, mmengine's Kaiming init also sets conv biases to 0
#: (the original leaves PyTorch's default uniform biases).
LSNET_INIT_CFG = [
    dict(
        type='Kaiming',
        layer='Conv2d',
        mode='fan_out',
        nonlinearity='relu',
        distribution='normal'),
    dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1, bias=0),
]
