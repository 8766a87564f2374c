"""BIT's bitemporal image transformer as a change-feature neck."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS
from ..utils.token_transformer_layer import TokenTransformerLayer


@MODELS.register_module()
class BITNeck(BaseModule):
    """Bitemporal image transformer (BIT, Chen et al., TGRS 2021).

    On the last backbone level of each date ``X``:

    1. ``X = conv3x3(up2(X))`` (nearest 2x upsampling when
       ``upsample_input``; ``in_channels -> channels``);
    2. semantic tokens ``T = softmax_HW(conv1x1(X)) @ X``: ``num_tokens``
       spatially attention-pooled ``channels``-wide vectors per date;
    3. the transformer encoder runs over both dates' tokens together
       (``2 * num_tokens`` tokens plus a learned position embedding);
    4. the transformer decoder refines each date's pixels (``H * W``
       queries) by cross-attention to that date's encoded tokens;
    5. the change feature is ``|X_A - X_B|``.

    The layers are :class:`TokenTransformerLayer` (pre-norm, BIT's attention
    scaling). Default initialisation as BIT's code: conv and linear weights
    N(0, 0.02), biases 0, position embedding N(0, 1).

    Args:
        in_channels (int): Channels of the last backbone level.
            Default: 256 (ResNet-18 up to layer3).
        channels (int): Pixel feature and token width. Default: 32.
        num_tokens (int): Semantic tokens per date. Default: 4.
        enc_depth (int): Encoder layers. Default: 1.
        dec_depth (int): Decoder layers. Default: 8.
        num_heads (int): Attention heads (encoder and decoder). Default: 8.
        enc_head_channels (int): Width of each encoder head. Default: 64.
        dec_head_channels (int): Width of each decoder head. Default: 64
            (8 in BIT's ``*_dedim8`` variant).
        ffn_channels (int): Hidden width of the FFNs. Default: 64.
        upsample_input (bool): Upsample the backbone feature 2x (nearest)
            before the first conv. Default: True.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 256,
                 channels: int = 32,
                 num_tokens: int = 4,
                 enc_depth: int = 1,
                 dec_depth: int = 8,
                 num_heads: int = 8,
                 enc_head_channels: int = 64,
                 dec_head_channels: int = 64,
                 ffn_channels: int = 64,
                 upsample_input: bool = True,
                 init_cfg=dict(
                     type='Normal', std=0.02, layer=['Conv2d', 'Linear'])):
        super().__init__(init_cfg=init_cfg)
        self.upsample_input = upsample_input
        self.conv_in = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.token_attention = nn.Conv2d(
            channels, num_tokens, 1, bias=False)
        self.pos_embedding = nn.Parameter(
            torch.randn(1, 2 * num_tokens, channels))
        self.encoder = nn.ModuleList(
            TokenTransformerLayer(channels, num_heads, enc_head_channels,
                                  ffn_channels) for _ in range(enc_depth))
        self.decoder = nn.ModuleList(
            TokenTransformerLayer(channels, num_heads, dec_head_channels,
                                  ffn_channels) for _ in range(dec_depth))

    def forward(self, feats_a: Sequence[Tensor],
                feats_b: Sequence[Tensor]) -> List[Tensor]:
        # both dates in one batch: every step but the encoder is per sample
        x = torch.cat([feats_a[-1], feats_b[-1]], dim=0)
        if self.upsample_input:
            x = F.interpolate(x, scale_factor=2, mode='nearest')
        x = self.conv_in(x)
        n, c, h, w = x.shape
        pixels = x.flatten(2)  # (2B, C, HW)
        pooling = self.token_attention(x).flatten(2).softmax(dim=-1)
        tokens_a, tokens_b = (pooling @ pixels.transpose(1, 2)).chunk(2)
        tokens = torch.cat([tokens_a, tokens_b], dim=1) + self.pos_embedding
        for layer in self.encoder:
            tokens = layer(tokens)
        memory = torch.cat(tokens.chunk(2, dim=1), dim=0)
        queries = pixels.transpose(1, 2)  # (2B, HW, C)
        for layer in self.decoder:
            queries = layer(queries, memory)
        x_a, x_b = queries.transpose(1, 2).reshape(n, c, h, w).chunk(2)
        return [torch.abs(x_a - x_b)]
