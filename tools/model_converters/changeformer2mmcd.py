"""Convert an official ChangeFormer V6 checkpoint into an mmcd checkpoint.

    python tools/model_converters/changeformer2mmcd.py SRC DST

SRC is what the official code (github.com/wgcban/ChangeFormer,
``models/trainer.py``) saves as ``best_ckpt.pt`` / ``last_ckpt.pt``: a dict
with the ``ChangeFormerV6`` state dict under ``model_G_state_dict`` (the
published LEVIR-CD and DSIFN-CD checkpoints), or a bare state dict (keys
``Tenc_x2.*`` and ``TDec_x2.*``, with or without ``module.``). It is read
with ``torch.load(weights_only=True)`` (tensors, plain values and numpy
scalars only; no code from the file runs). Every key is mapped, or the tool
stops and lists the ones it cannot map. DST is never overwritten.

The attention's ``q`` and ``kv`` projections become one ``in_proj`` of
``nn.MultiheadAttention``; the Mix-FFN's linear layers become 1x1 convs.
The converted checkpoint loads strictly into
``configs/changeformer/changeformer_v6-e256_1xb16-200e_*-256x256.py``.
"""
import argparse
import re
from collections import OrderedDict

import torch
from mmcd.utils.converted_checkpoint import (check_new_checkpoint_path,
                                             load_state_dict_file,
                                             rename_state_dict,
                                             save_converted_checkpoint,
                                             strip_module_prefix)

CONFIG = ('configs/changeformer/'
          'changeformer_v6-e256_1xb16-200e_levircd-256x256.py')

#: Official decoder modules -> mmcd ``decode_head`` modules.
DECODER_NAMES = (
    (r'linear_c([1-4])\.proj\.', lambda m: f'embeds.{int(m[1]) - 1}.'),
    (r'diff_c([1-4])\.', lambda m: f'diff_convs.{int(m[1]) - 1}.'),
    (r'make_pred_c([1-4])\.', lambda m: f'side_convs.{int(m[1]) - 1}.'),
    (r'linear_fuse\.', lambda m: 'fuse.'),
    (r'convd2x\.conv2d\.', lambda m: 'up2x.'),
    (r'convd1x\.conv2d\.', lambda m: 'up1x.'),
    (r'dense_2x\.0\.(conv[12])\.conv2d\.', lambda m: f'res2x.{m[1]}.'),
    (r'dense_1x\.0\.(conv[12])\.conv2d\.', lambda m: f'res1x.{m[1]}.'),
    (r'change_probability\.conv2d\.', lambda m: 'conv_seg.'),
)

#: Official encoder block modules -> mmcd ``TransformerEncoderLayer`` ones.
BLOCK_NAMES = (
    ('norm1.', 'norm1.'),
    ('norm2.', 'norm2.'),
    ('attn.proj.', 'attn.attn.out_proj.'),
    ('attn.in_proj_', 'attn.attn.in_proj_'),  # q and kv, merged
    ('attn.sr.', 'attn.sr.'),
    ('attn.norm.', 'attn.norm.'),
    ('mlp.fc1.', 'ffn.layers.0.'),
    ('mlp.dwconv.dwconv.', 'ffn.layers.1.'),
    ('mlp.fc2.', 'ffn.layers.4.'),
)


def convert_key(key):
    """mmcd name of one official key, or None. ``attn.q`` / ``attn.kv``
    are merged into ``attn.in_proj_*`` by :func:`convert_changeformer`
    first."""
    m = re.fullmatch(r'Tenc_x2\.patch_embed([1-9])\.(proj|norm)\.(.+)', key)
    if m:
        part = 'projection' if m[2] == 'proj' else 'norm'
        return f'backbone.layers.{int(m[1]) - 1}.0.{part}.{m[3]}'
    m = re.fullmatch(r'Tenc_x2\.norm([1-9])\.(weight|bias)', key)
    if m:
        return f'backbone.layers.{int(m[1]) - 1}.2.{m[2]}'
    m = re.match(r'Tenc_x2\.block([1-9])\.(\d+)\.', key)
    if m:
        rest = key[m.end():]
        for old, new in BLOCK_NAMES:
            if rest.startswith(old):
                return (f'backbone.layers.{int(m[1]) - 1}.1.{m[2]}.{new}'
                        f'{rest[len(old):]}')
        return None
    if key.startswith('TDec_x2.'):
        rest = key[len('TDec_x2.'):]
        for pattern, target in DECODER_NAMES:
            m = re.match(pattern, rest)
            if m:
                return f'decode_head.{target(m)}{rest[m.end():]}'
    return None


def convert_changeformer(state_dict):
    """Rename an official ChangeFormerV6 state dict to mmcd's modules.

    Args:
        state_dict (dict): ``ChangeFormerV6.state_dict()`` (a leading
            ``module.`` is dropped).

    Returns:
        OrderedDict: The mmcd state dict.

    Raises:
        KeyError: When keys have no mmcd counterpart (all are listed), or a
            block has ``attn.q`` without ``attn.kv`` (or the reverse).
    """
    merged, qkv = OrderedDict(), {}
    for key, value in strip_module_prefix(state_dict).items():
        m = re.fullmatch(
            r'(Tenc_x2\.block\d\.\d+\.attn\.)(q|kv)\.(weight|bias)', key)
        if m:
            qkv.setdefault((m[1], m[3]), {})[m[2]] = (key, value)
        else:
            merged[key] = value
    for (prefix, kind), parts in qkv.items():
        if set(parts) == {'q', 'kv'}:  # one in_proj, q rows first
            merged[f'{prefix}in_proj_{kind}'] = torch.cat(
                [parts['q'][1], parts['kv'][1]])
        else:  # left unmapped: reported below
            merged.update(parts.values())
    converted = rename_state_dict(
        merged, convert_key, 'ChangeFormer',
        hint='not ChangeFormerV6, or attn.q without attn.kv?')
    for key, value in converted.items():
        if re.search(r'\.ffn\.layers\.[04]\.weight$', key):
            converted[key] = value[:, :, None, None]  # Linear -> 1x1 conv
    return converted


def load_original_checkpoint(path):
    """The state dict in an official ChangeFormer checkpoint file:
    ``best_ckpt.pt`` / ``last_ckpt.pt`` (under ``model_G_state_dict``, as
    ChangeFormer's trainer saves; its numpy ``best_val_acc`` loads because
    importing mmcd allow-lists numpy scalars) or a bare state dict (also
    under ``state_dict``)."""
    return load_state_dict_file(
        path, ('model_G_state_dict', 'state_dict'), what='ChangeFormer ')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an official ChangeFormer V6 checkpoint to mmcd')
    parser.add_argument('src', help='original checkpoint (best_ckpt.pt)')
    parser.add_argument('dst', help='mmcd checkpoint to write (new file)')
    return parser.parse_args()


def main():
    args = parse_args()
    check_new_checkpoint_path(args.dst)
    state_dict = convert_changeformer(load_original_checkpoint(args.src))
    save_converted_checkpoint(state_dict, args.src, args.dst)
    width = state_dict.get('decode_head.embeds.0.weight')
    width = None if width is None else width.shape[0]
    print(f'converted {len(state_dict)} tensors of ChangeFormer to '
          f'{args.dst}; config: {CONFIG}' +
          ('' if width in (None, 256) else
           f' with model.decode_head.channels={width}'))


if __name__ == '__main__':
    main()
