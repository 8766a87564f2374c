"""``nn.MultiheadAttention`` written for ONNX export with dynamic sizes."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class MultiheadAttentionForExport(nn.Module):
    """``nn.MultiheadAttention`` (no masks) written with plain matmuls.

    torch's TorchScript ONNX exporter writes the key length of
    ``nn.MultiheadAttention`` into the graph as a constant when keys and
    queries differ (e.g. SegFormer's spatial-reduction attention in mmseg's
    ``MixVisionTransformer``), so the graph fails at any other input size.
    This module computes the same attention from the same weights with
    reshapes that keep every size dynamic. ``forward`` returns
    ``(output, None)``; masks and attention weights are not supported.

    Args:
        attention (nn.MultiheadAttention): The attention whose weights
            (packed input projection, output projection) are copied.
    """

    def __init__(self, attention: nn.MultiheadAttention):
        super().__init__()
        if not attention._qkv_same_embed_dim or attention.bias_k is not None:
            raise ValueError(
                'MultiheadAttentionForExport needs packed q/k/v projections '
                'without bias_k/bias_v')
        self.num_heads = attention.num_heads
        self.head_dim = attention.head_dim
        self.batch_first = attention.batch_first
        self.register_buffer('in_proj_weight',
                             attention.in_proj_weight.detach().clone())
        bias = attention.in_proj_bias
        self.register_buffer(
            'in_proj_bias', None if bias is None else bias.detach().clone())
        self.out_proj = attention.out_proj

    def forward(self, query: Tensor, key: Tensor, value: Tensor, **kwargs):
        """Attention of ``query`` over ``key``/``value`` (masks ignored is
        an error: pass none)."""
        if any(v is not None for k, v in kwargs.items()
               if k in ('key_padding_mask', 'attn_mask')):
            raise ValueError('MultiheadAttentionForExport supports no masks')
        if self.batch_first:  # (N, L, E) -> (L, N, E)
            query, key, value = (t.transpose(0, 1) for t in (query, key,
                                                             value))
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = (None, None, None) if self.in_proj_bias is None \
            else self.in_proj_bias.chunk(3)
        d = self.head_dim
        # (L, N, E) -> (N * heads, L, d)
        q = F.linear(query, w_q, b_q).reshape(query.size(0), -1,
                                              d).transpose(0, 1)
        k = F.linear(key, w_k, b_k).reshape(key.size(0), -1,
                                            d).transpose(0, 1)
        v = F.linear(value, w_v, b_v).reshape(value.size(0), -1,
                                              d).transpose(0, 1)
        attn = torch.softmax(q @ k.transpose(1, 2) * d**-0.5, dim=-1)
        out = (attn @ v).transpose(0, 1).reshape(
            query.size(0), -1, self.num_heads * d)
        out = self.out_proj(out)
        return (out.transpose(0, 1) if self.batch_first else out), None
