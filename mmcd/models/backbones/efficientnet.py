import math
from typing import Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import Sequential
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_with_prefix)
from mmseg.models.utils import make_divisible
from torch import Tensor

from mmcd.models.utils.mbconv import MBConv, conv_norm_act
from mmcd.registry import MODELS

#: B0's MBConv stages: (expand ratio, kernel, stride, in, out, blocks).
B0_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
             (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3),
             (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))

#: torchvision's (width multiplier, depth multiplier, BatchNorm arguments).
ARCH_SETTINGS = {
    'b0': (1.0, 1.0, {}),
    'b1': (1.0, 1.1, {}),
    'b2': (1.1, 1.2, {}),
    'b3': (1.2, 1.4, {}),
    'b4': (1.4, 1.8, {}),
    'b5': (1.6, 2.2, dict(eps=1e-3, momentum=0.01)),
    'b6': (1.8, 2.6, dict(eps=1e-3, momentum=0.01)),
    'b7': (2.0, 3.1, dict(eps=1e-3, momentum=0.01)),
}


@MODELS.register_module()
class EfficientNet(Sequential):
    """torchvision's EfficientNet-B0..B7 ``features``, optionally truncated.

    Child ``i`` is torchvision's ``features[i]``: 0 the stride-2 stem, 1..7
    the MBConv stages, 8 the final 1x1 convolution; ``num_stages`` keeps the
    first ones (TinyCD keeps 4: stem and stages 1-3 of B4, 56 channels at
    1/8). The state-dict layout is torchvision's, so its ImageNet weights
    load with ``init_cfg=dict(type='Pretrained', checkpoint=FILE_OR_URL,
    prefix='features.')``: the keys under ``prefix`` of the stages that are
    built must all be there (those of the stages left out are skipped), or
    loading stops and names the missing and unexpected keys. Stochastic depth
    grows linearly over the blocks of the *whole* network, as in torchvision
    (``drop_path_rate * block_index / num_blocks``).

    Args:
        arch (str): ``'b0'`` to ``'b7'``. Default: ``'b4'``.
        num_stages (int): Children of ``features`` to build (1-9).
            Default: 9.
        out_indices (Sequence[int]): Children whose outputs are returned.
            Default: all built ones.
        with_input (bool): Return the input itself before the stage outputs
            (for necks that also mix the raw images, e.g. TinyCD's).
            Default: False.
        in_channels (int): Input channels. Default: 3.
        drop_path_rate (float): torchvision's ``stochastic_depth_prob``.
            Default: 0.2.
        norm_cfg (dict, optional): Norm layers. Default: None, torchvision's
            BatchNorm for ``arch`` (eps 1e-5, momentum 0.1; B5-B7 eps 1e-3,
            momentum 0.01).
        act_cfg (dict): Activations. Default: SiLU.
        init_cfg (dict | list[dict]): torchvision's initialisation (Kaiming
            normal, fan_out, zero biases) by default, or ``Pretrained`` as
            above.
    """

    def __init__(self,
                 arch: str = 'b4',
                 num_stages: int = 9,
                 out_indices: Optional[Sequence[int]] = None,
                 with_input: bool = False,
                 in_channels: int = 3,
                 drop_path_rate: float = 0.2,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: dict = dict(type='SiLU'),
                 init_cfg=dict(
                     type='Kaiming', layer='Conv2d', mode='fan_out',
                     bias=0)):
        if arch not in ARCH_SETTINGS:
            raise ValueError(f'arch must be one of {list(ARCH_SETTINGS)}, '
                             f'got {arch!r}')
        if not 1 <= num_stages <= 9:
            raise ValueError(f'num_stages must be in 1..9, got {num_stages}')
        width, depth, bn_args = ARCH_SETTINGS[arch]
        if norm_cfg is None:
            norm_cfg = dict(type='BN', **bn_args)
        out_indices = tuple(
            range(num_stages) if out_indices is None else out_indices)
        if not all(0 <= i < num_stages for i in out_indices):
            raise ValueError(f'out_indices {out_indices} must lie in '
                             f'0..{num_stages - 1} (num_stages={num_stages})')

        def channels(c):
            return make_divisible(c * width, 8)

        blocks = [int(math.ceil(n * depth)) for *_, n in B0_STAGES]
        stages = [
            conv_norm_act(in_channels, channels(32), 3, 2, norm_cfg=norm_cfg,
                          act_cfg=act_cfg)
        ]
        block_id = 0
        for (expand, kernel, stride, c_in, c_out, _), n in zip(
                B0_STAGES, blocks):
            stage = []
            for i in range(n):
                stage.append(
                    MBConv(
                        channels(c_in) if i == 0 else channels(c_out),
                        channels(c_out),
                        kernel,
                        stride if i == 0 else 1,
                        expand,
                        drop_path_rate * block_id / sum(blocks),
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg))
                block_id += 1
            stages.append(nn.Sequential(*stage))
        stages.append(
            conv_norm_act(channels(320), 4 * channels(320), 1,
                          norm_cfg=norm_cfg, act_cfg=act_cfg))
        super().__init__(*stages[:num_stages], init_cfg=init_cfg)
        self.out_indices = out_indices
        self.with_input = with_input

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = [x] if self.with_input else []
        for i, stage in enumerate(self):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def init_weights(self):
        """Initialise as torchvision does, or load pretrained weights
        strictly for the stages that are built (see the class docstring)."""
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            return super().init_weights()
        checkpoint, prefix = cfg['checkpoint'], cfg.get('prefix')
        if prefix:
            state = _load_checkpoint_with_prefix(prefix, checkpoint, 'cpu')
        else:
            state = _load_checkpoint(checkpoint, map_location='cpu')
            state = state.get('state_dict', state)
        skipped = {
            k for k in state
            if k.split('.')[0].isdigit() and int(k.split('.')[0]) >= len(self)
        }
        state = {k: v for k, v in state.items() if k not in skipped}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise KeyError(
                f'{checkpoint} (prefix {prefix!r}) does not fit EfficientNet '
                f'stages 0..{len(self) - 1}: {len(missing)} missing key(s) '
                f'{missing[:5]}, {len(unexpected)} unexpected key(s) '
                f'{unexpected[:5]} (torchvision checkpoints need '
                "prefix='features.')")
        print_log(
            f'EfficientNet: loaded {len(state)} tensors from {checkpoint} '
            f'(prefix {prefix!r}; {len(skipped)} of stages not built '
            'skipped)', logger='current')
        self._is_init = True
