"""ChangeFormer's hierarchical transformer encoder: mmseg's
MixVisionTransformer with free per-stage widths."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule, ModuleList
from mmseg.models.backbones.mit import (MixVisionTransformer,
                                        TransformerEncoderLayer)
from mmseg.models.utils import PatchEmbed

from mmcd.registry import MODELS


@MODELS.register_module()
class ChangeFormerEncoder(MixVisionTransformer):
    """The encoder of ChangeFormer (Bandara and Patel, IGARSS 2022).

    mmseg's :class:`MixVisionTransformer` (overlapping patch embeddings,
    efficient self-attention with spatial reduction, Mix-FFN with a 3x3
    depthwise conv, a LayerNorm after each stage, a linear drop-path rule
    over all layers) built from mmseg's own ``PatchEmbed`` and
    ``TransformerEncoderLayer``; its ``forward`` is MixVisionTransformer's.
    It differs from MixVisionTransformer only where ChangeFormer V6 does:

    - each stage's width is given (``embed_dims=(64, 128, 320, 512)`` with
      ``num_heads=(1, 2, 4, 8)``; MixVisionTransformer ties the width to
      ``embed_dims * num_heads[i]``, i.e. head width 64 everywhere);
    - the LayerNorms of the patch embeddings and of the attention's spatial
      reduction have their own ``eps`` (``patch_norm_cfg``,
      ``sr_norm_cfg``: PyTorch's 1e-5 in ChangeFormer, where the layer and
      stage norms use 1e-6);
    - without ``init_cfg`` every Conv2d and Linear weight (and the
      attention's input projection) is drawn from N(0, 0.02) with zero
      biases, LayerNorms 1 and 0: ChangeFormer's training code
      (``init_net(init_type='normal', init_gain=0.02)``) overrides the
      modules' own initialisation this way.

    Args:
        in_channels (int): Channels of one date's image. Default: 3.
        embed_dims (Sequence[int]): Width of each stage.
            Default: (64, 128, 320, 512).
        num_layers (Sequence[int]): Transformer layers of each stage.
            Default: (3, 3, 4, 3).
        num_heads (Sequence[int]): Attention heads of each stage.
            Default: (1, 2, 4, 8).
        patch_sizes (Sequence[int]): Kernel of each overlapping patch
            embedding (padding ``k // 2``). Default: (7, 7, 7, 7).
        strides (Sequence[int]): Stride of each patch embedding.
            Default: (4, 2, 2, 2).
        sr_ratios (Sequence[int]): Spatial reduction of the keys and values
            in each stage. Default: (8, 4, 2, 1).
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Default: (0, 1, 2, 3).
        mlp_ratio (int): Mix-FFN hidden width / stage width. Default: 4.
        qkv_bias (bool): Bias of the query, key and value projections.
            Default: True.
        drop_rate (float): Dropout after the attention projection and in
            the Mix-FFN. Default: 0.1.
        attn_drop_rate (float): Dropout on the attention weights.
            Default: 0.1.
        drop_path_rate (float): Stochastic depth of the last layer (linear
            from 0). Default: 0.1.
        act_cfg (dict): Mix-FFN activation. Default: ``dict(type='GELU')``.
        norm_cfg (dict): LayerNorms of the layers and after each stage.
            Default: ``dict(type='LN', eps=1e-6)``.
        patch_norm_cfg (dict): LayerNorms of the patch embeddings.
            Default: ``dict(type='LN', eps=1e-5)``.
        sr_norm_cfg (dict): LayerNorms after the spatial reductions.
            Default: ``dict(type='LN', eps=1e-5)``.
        with_cp (bool): Gradient checkpointing of the layers.
            Default: False.
        init_cfg (dict | list[dict], optional): E.g. ``dict(type=
            'Pretrained', checkpoint=...)``. Default: None (see above).
    """

    def __init__(self,
                 in_channels: int = 3,
                 embed_dims: Sequence[int] = (64, 128, 320, 512),
                 num_layers: Sequence[int] = (3, 3, 4, 3),
                 num_heads: Sequence[int] = (1, 2, 4, 8),
                 patch_sizes: Sequence[int] = (7, 7, 7, 7),
                 strides: Sequence[int] = (4, 2, 2, 2),
                 sr_ratios: Sequence[int] = (8, 4, 2, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 mlp_ratio: int = 4,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.1,
                 attn_drop_rate: float = 0.1,
                 drop_path_rate: float = 0.1,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 patch_norm_cfg: dict = dict(type='LN', eps=1e-5),
                 sr_norm_cfg: dict = dict(type='LN', eps=1e-5),
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        BaseModule.__init__(self, init_cfg=init_cfg)
        stages = (embed_dims, num_layers, num_heads, patch_sizes, strides,
                  sr_ratios)
        if len({len(s) for s in stages}) != 1:
            raise ValueError(
                'embed_dims, num_layers, num_heads, patch_sizes, strides and '
                'sr_ratios need one entry per stage; got '
                f'{[list(s) for s in stages]}')
        for dims, heads in zip(embed_dims, num_heads):
            if dims % heads:
                raise ValueError(f'stage width {dims} is not divisible by '
                                 f'its {heads} attention heads')
        self.embed_dims = list(embed_dims)
        self.num_stages = len(embed_dims)
        self.num_layers = list(num_layers)
        self.num_heads = list(num_heads)
        self.patch_sizes = list(patch_sizes)
        self.strides = list(strides)
        self.sr_ratios = list(sr_ratios)
        self.with_cp = with_cp
        self.out_indices = tuple(out_indices)
        if max(self.out_indices) >= self.num_stages:
            raise ValueError(f'out_indices {out_indices} name a stage beyond '
                             f'the {self.num_stages} stages')
        dpr = torch.linspace(0, drop_path_rate, sum(num_layers)).tolist()
        cur = 0
        self.layers = ModuleList()
        for i, dims in enumerate(embed_dims):
            patch_embed = PatchEmbed(
                in_channels=in_channels,
                embed_dims=dims,
                kernel_size=patch_sizes[i],
                stride=strides[i],
                padding=patch_sizes[i] // 2,
                norm_cfg=patch_norm_cfg)
            layer = ModuleList()
            for j in range(num_layers[i]):
                block = TransformerEncoderLayer(
                    embed_dims=dims,
                    num_heads=num_heads[i],
                    feedforward_channels=mlp_ratio * dims,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    drop_path_rate=dpr[cur + j],
                    qkv_bias=qkv_bias,
                    act_cfg=act_cfg,
                    norm_cfg=norm_cfg,
                    with_cp=with_cp,
                    sr_ratio=sr_ratios[i])
                if sr_ratios[i] > 1:
                    block.attn.norm = build_norm_layer(sr_norm_cfg, dims)[1]
                layer.append(block)
            norm = build_norm_layer(norm_cfg, dims)[1]
            self.layers.append(ModuleList([patch_embed, layer, norm]))
            in_channels = dims
            cur += num_layers[i]

    def init_weights(self) -> None:
        """ChangeFormer's N(0, 0.02) initialisation without ``init_cfg``,
        else ``init_cfg``'s (e.g. a pretrained checkpoint)."""
        if self.init_cfg is not None:
            BaseModule.init_weights(self)
            return
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.MultiheadAttention):
                nn.init.normal_(m.in_proj_weight, 0.0, 0.02)
                if m.in_proj_bias is not None:
                    nn.init.zeros_(m.in_proj_bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
