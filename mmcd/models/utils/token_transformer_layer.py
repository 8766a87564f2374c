from typing import Optional

import torch.nn as nn
from mmcv.cnn.bricks.transformer import FFN
from torch import Tensor


class TokenAttention(nn.Module):
    """Multi-head attention as BIT's transformer computes it.

    Queries come from ``x``, keys and values from ``memory`` (self-attention
    when both are the same). Unlike mmcv's ``MultiheadAttention`` the inner
    width is ``num_heads * head_channels`` (not ``embed_dims``), q/k/v have
    no bias and the logits are scaled by ``embed_dims ** -0.5`` (not
    ``head_channels ** -0.5``), as in BIT's code.

    Args:
        embed_dims (int): Token width.
        num_heads (int): Number of heads.
        head_channels (int): Width of each head.
    """

    def __init__(self, embed_dims: int, num_heads: int, head_channels: int):
        super().__init__()
        inner = num_heads * head_channels
        self.num_heads = num_heads
        self.scale = embed_dims**-0.5
        self.to_q = nn.Linear(embed_dims, inner, bias=False)
        self.to_k = nn.Linear(embed_dims, inner, bias=False)
        self.to_v = nn.Linear(embed_dims, inner, bias=False)
        self.to_out = nn.Linear(inner, embed_dims)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.reshape(b, n, self.num_heads, -1).transpose(1, 2)

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        q = self._heads(self.to_q(x))
        k = self._heads(self.to_k(memory))
        v = self._heads(self.to_v(memory))
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).flatten(2)
        return self.to_out(out)


class TokenTransformerLayer(nn.Module):
    """One pre-norm layer of BIT's token transformer.

    ``x + attn(norm1(x), norm1(memory))`` then ``x + ffn(norm2(x))``: with
    ``memory=None`` it is the encoder's self-attention layer over the tokens;
    with the tokens as ``memory`` it is the decoder's cross-attention layer
    (pixel features query the tokens; the one ``norm1`` normalises both, as
    in BIT's code). The FFN is mmcv's (Linear, GELU, Linear).

    Args:
        embed_dims (int): Token width.
        num_heads (int): Number of attention heads.
        head_channels (int): Width of each head.
        ffn_channels (int): Hidden width of the FFN.
    """

    def __init__(self, embed_dims: int, num_heads: int, head_channels: int,
                 ffn_channels: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = TokenAttention(embed_dims, num_heads, head_channels)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=ffn_channels,
            act_cfg=dict(type='GELU'),
            ffn_drop=0.)

    def forward(self, x: Tensor, memory: Optional[Tensor] = None) -> Tensor:
        q = self.norm1(x)
        kv = q if memory is None else self.norm1(memory)
        x = x + self.attn(q, kv)
        return self.ffn(self.norm2(x), identity=x)


__all__ = ['TokenAttention', 'TokenTransformerLayer']
