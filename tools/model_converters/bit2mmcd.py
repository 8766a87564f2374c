"""Convert a checkpoint of the official BIT code into an mmcd checkpoint.

    python tools/model_converters/bit2mmcd.py SRC DST

SRC is what BIT's trainer saves (github.com/justchenhao/BIT_CD,
``models/trainer.py``): a dict with the ``BASE_Transformer`` state dict
under ``model_G_state_dict`` (``best_ckpt.pt``, ``last_ckpt.pt``), or the
bare state dict (with or without ``module.``). It is read with
``torch.load(weights_only=True)``: tensors and plain values only, no code
from the file runs. DST is never overwritten.

Every key is mapped, except ``resnet.layer4.*`` and ``resnet.fc.*``: BIT
builds a whole torchvision ResNet-18 but its forward stops after layer3, so
those weights never touch an output and are dropped (and counted). A key
that is neither mapped nor one of those stops the tool, listed (e.g.
``pos_embedding_decoder`` of BIT's ``with_decoder_pos`` variants, which mmcd
does not build). The encoder's fused ``to_qkv`` projection is split into
mmcd's ``to_q`` / ``to_k`` / ``to_v``.

The result loads strictly into ``configs/bit/bit_r18_1xb8-200e_levircd-
256x256.py`` (``base_transformer_pos_s4_dd8``); for BIT's released
``base_transformer_pos_s4_dd8_dedim8`` checkpoint add
``--cfg-options model.neck.dec_head_channels=8``.
"""
import argparse
import re
from collections import OrderedDict

from mmcd.utils.converted_checkpoint import (check_new_checkpoint_path,
                                             load_state_dict_file,
                                             rename_state_dict,
                                             save_converted_checkpoint,
                                             strip_module_prefix)

#: Original key prefixes that BIT's forward never uses.
UNUSED_PREFIXES = ('resnet.layer4.', 'resnet.fc.')

#: Transformer sub-module names: original (after ``layers.<i>.``) -> mmcd.
LAYER_NAMES = (
    ('0.fn.norm.', 'norm1.'),
    ('0.fn.fn.to_q.', 'attn.to_q.'),
    ('0.fn.fn.to_k.', 'attn.to_k.'),
    ('0.fn.fn.to_v.', 'attn.to_v.'),
    ('0.fn.fn.to_out.0.', 'attn.to_out.'),
    ('1.fn.norm.', 'norm2.'),
    ('1.fn.fn.net.0.', 'ffn.layers.0.0.'),
    ('1.fn.fn.net.3.', 'ffn.layers.1.'),
)

#: Whole-name renames: original -> mmcd.
RENAMES = (
    (r'resnet\.((conv1|bn1|layer[123])\..+)', r'backbone.\1'),
    (r'conv_pred\.(weight|bias)', r'neck.conv_in.\1'),
    (r'conv_a\.weight', r'neck.token_attention.weight'),
    (r'pos_embedding', r'neck.pos_embedding'),
    (r'classifier\.0\.weight', r'decode_head.conv.weight'),
    (r'classifier\.1\.(.+)', r'decode_head.norm.\1'),
    (r'classifier\.3\.(weight|bias)', r'decode_head.conv_seg.\1'),
)


def convert_key(key):
    """The mmcd name of one original BIT key (None if it has none)."""
    for pattern, target in RENAMES:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, target, key)
    m = re.match(r'(transformer|transformer_decoder)\.layers\.(\d+)\.', key)
    if m:
        part = 'encoder' if m[1] == 'transformer' else 'decoder'
        rest = key[m.end():]
        for old, new in LAYER_NAMES:
            if rest.startswith(old):
                return f'neck.{part}.{m[2]}.{new}{rest[len(old):]}'
    return None


def convert_bit(state_dict):
    """Rename an official BIT state dict to mmcd's module names.

    Args:
        state_dict (dict): ``BASE_Transformer.state_dict()`` (a leading
            ``module.`` is dropped).

    Returns:
        tuple[OrderedDict, list[str]]: The mmcd state dict and the dropped
        original keys (``resnet.layer4`` / ``resnet.fc``).

    Raises:
        KeyError: When keys have no mmcd counterpart (all are listed).
    """
    original, dropped = OrderedDict(), []
    for key, value in strip_module_prefix(state_dict).items():
        m = re.fullmatch(r'(transformer\.layers\.\d+\.0\.fn\.fn\.to_)qkv\.'
                         r'weight', key)
        if key.startswith(UNUSED_PREFIXES):
            dropped.append(key)
        elif m:  # the encoder's fused projection, as the decoder's q, k, v
            for name, part in zip('qkv', value.chunk(3, dim=0)):
                original[f'{m[1]}{name}.weight'] = part.clone()
        else:
            original[key] = value
    converted = rename_state_dict(
        original, convert_key, 'BIT',
        hint='not base_transformer_pos_s4_dd8 / _dedim8?')
    return converted, dropped


def load_original_checkpoint(path):
    """The state dict in an official BIT checkpoint file: BIT's
    ``best_ckpt.pt`` / ``last_ckpt.pt`` (under ``model_G_state_dict``, as
    BIT_CD's trainer saves) or a bare state dict."""
    return load_state_dict_file(
        path, ('model_G_state_dict', 'state_dict'), what='BIT ')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an official BIT checkpoint to mmcd')
    parser.add_argument('src', help='original checkpoint (best_ckpt.pt)')
    parser.add_argument('dst', help='mmcd checkpoint to write (new file)')
    return parser.parse_args()


def main():
    args = parse_args()
    check_new_checkpoint_path(args.dst)
    state_dict, dropped = convert_bit(load_original_checkpoint(args.src))
    save_converted_checkpoint(state_dict, args.src, args.dst)
    head_width = state_dict['neck.decoder.0.attn.to_q.weight'].shape[0] // 8
    print(f'converted {len(state_dict)} tensors of BIT to {args.dst} '
          f'(dropped {len(dropped)} unused resnet.layer4 / resnet.fc '
          f'tensors); decoder head width {head_width}: config configs/bit/'
          'bit_r18_1xb8-200e_levircd-256x256.py' +
          ('' if head_width == 64 else
           f' with model.neck.dec_head_channels={head_width}'))


if __name__ == '__main__':
    main()
