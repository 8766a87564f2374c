"""DASNet's dual-attention embedding of both dates."""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.models.decode_heads.da_head import CAM, PAM
from torch import Tensor

from mmcd.registry import MODELS


@MODELS.register_module()
class DualAttentionEmbedding(BaseModule):
    """Position- and channel-attention embeddings of two dates (DASNet).

    The layout of DANet's head as DASNet uses it, built from mmseg's
    :class:`PAM` and :class:`CAM`, applied with shared weights to both dates
    (one pass over the ``2B`` batch). On the last backbone feature:

    - position branch: 3x3 conv-BN-ReLU ``in_channels -> channels``, PAM
      (query/key 1x1 to ``pam_channels``, value 1x1, gain initialised to
      0), 3x3 conv-BN-ReLU ``channels -> channels``: ``p``;
    - channel branch: the same with CAM: ``c``;
    - three embeddings, each a 1x1 conv (with bias) after 2D dropout:
      ``sa`` of ``p``, ``sc`` of ``c`` and ``sasc`` of ``p + c``.

    With the defaults this has 24,713,346 parameters (PAM 328,321, CAM 1).
    Every convolution keeps PyTorch's default initialisation, as in the
    original: mmcv's ``ConvModule`` would give its four 3x3 convolutions
    Kaiming-normal weights (about 5x the original's spread for the
    2048 -> 512 ones), which under Adam changes their relative steps.
    :meth:`init_weights` restores them unless an ``init_cfg`` is given.
    The embeddings are not normalised here: the head
    (:class:`~mmcd.models.MetricHead`) L2-normalises them, after its
    optional decoder (DASNet-V2). ``forward(feats_a, feats_b)`` returns
    ``[sa, sc, sasc]``, each ``(B, 2 * embed_channels, h, w)`` with date A's
    channels first.

    Args:
        in_channels (int): Channels of the backbone feature. Default: 2048.
        channels (int): Channels of both branches. Default: 512.
        pam_channels (int): Query/key channels of PAM. Default: 64.
        embed_channels (int): Channels of each embedding. Default: 512.
        dropout_ratio (float): 2D dropout before the embedding convs.
            Default: 0.1.
        with_attention (bool): False replaces PAM and CAM by identities
            (DASNet-V2's "without attention modules" ablation). Default:
            True.
        in_index (int): Backbone level used. Default: -1 (the last).
        conv_cfg (dict, optional): Conv layers. Default: None.
        norm_cfg (dict): Norm layers. Default: ``dict(type='BN')``.
        act_cfg (dict): Activations. Default: ``dict(type='ReLU')``.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 channels: int = 512,
                 pam_channels: int = 64,
                 embed_channels: int = 512,
                 dropout_ratio: float = 0.1,
                 with_attention: bool = True,
                 in_index: int = -1,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN', requires_grad=True),
                 act_cfg=dict(type='ReLU'),
                 init_cfg=None):
        super().__init__(init_cfg)
        self.in_index = in_index

        def conv3x3(cin):
            return ConvModule(cin, channels, 3, padding=1, conv_cfg=conv_cfg,
                              norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.pam_in_conv = conv3x3(in_channels)
        self.pam = PAM(channels, pam_channels) if with_attention \
            else nn.Identity()
        self.pam_out_conv = conv3x3(channels)
        self.cam_in_conv = conv3x3(in_channels)
        self.cam = CAM() if with_attention else nn.Identity()
        self.cam_out_conv = conv3x3(channels)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 \
            else nn.Identity()
        self.sa_embed = nn.Conv2d(channels, embed_channels, 1)
        self.sc_embed = nn.Conv2d(channels, embed_channels, 1)
        self.sasc_embed = nn.Conv2d(channels, embed_channels, 1)
        self._reset_branch_convs()

    def _reset_branch_convs(self) -> None:
        """PyTorch's default initialisation for the four 3x3 convs."""
        for module in (self.pam_in_conv, self.pam_out_conv,
                       self.cam_in_conv, self.cam_out_conv):
            module.conv.reset_parameters()

    def init_weights(self) -> None:
        """mmengine's initialisation, then the original's for the 3x3
        convs (``ConvModule`` re-applies Kaiming) unless ``init_cfg`` is
        set."""
        super().init_weights()
        if self.init_cfg is None:
            self._reset_branch_convs()

    def forward(self, feats_a: Sequence[Tensor],
                feats_b: Sequence[Tensor]) -> List[Tensor]:
        """Embed both dates; see the class docstring."""
        x = torch.cat([feats_a[self.in_index], feats_b[self.in_index]])
        pos = self.pam_out_conv(self.pam(self.pam_in_conv(x)))
        chan = self.cam_out_conv(self.cam(self.cam_in_conv(x)))
        embeddings = (self.sa_embed(self.dropout(pos)),
                      self.sc_embed(self.dropout(chan)),
                      self.sasc_embed(self.dropout(pos + chan)))
        return [torch.cat(e.chunk(2), dim=1) for e in embeddings]
