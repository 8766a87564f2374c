"""Convert an open-cd ChangerEx checkpoint into an mmcd checkpoint.

    python tools/model_converters/opencd_changer2mmcd.py SRC DST

SRC is a checkpoint of open-cd's Changer (github.com/likyoo/open-cd,
``configs/changer/changer_ex_{r18,mit-b0}_512x512_*.py``): an mmengine
checkpoint (``state_dict`` with ``meta``, ``message_hub``...), loaded with
torch's weights-only unpickler (mmengine's data allow-listed, nothing else
is run), or a plain state dict (also under ``model``, with or without
``module.``). The backbone (ResNetV1c-18 or MiT-b0) is recognised from the
keys. Every key must map, or the tool stops and lists the ones that do not
(ChangerAD's aggregation-distribution layers, ResNeSt or MiT-b1 backbones
have no mmcd config). DST is never overwritten.

Renamed (open-cd -> mmcd), everything else keeps its name:

- ``decode_head.neck_layer.flow_make.{0,3}.`` ->
  ``decode_head.flow_fusion.flow_conv.{0,3}.`` (FDAF's flow network)
- ``decode_head.discriminator.layers.{0,1,4}.`` ->
  ``decode_head.projection.layers.{0,1,4}.`` (the MixFFN projection)

The converted checkpoint loads strictly into
``configs/changer/changer-ex_{r18,mit-b0}_*.py``.
"""
import argparse
import re


from mmcd.utils.converted_checkpoint import (check_new_checkpoint_path,
                                             find_state_dict,
                                             rename_state_dict,
                                             save_converted_checkpoint,
                                             strip_module_prefix)

#: Configs the converted checkpoints belong to (any dataset's).
VARIANT_CONFIGS = {
    'r18': 'configs/changer/changer-ex_r18_1xb8-40k_levircd-512x512.py',
    'mit-b0': 'configs/changer/changer-ex_mit-b0_1xb8-40k_levircd-512x512.py',
}

#: open-cd key prefix -> mmcd key prefix (regular expressions).
RENAMES = (
    (r'decode_head\.neck_layer\.flow_make\.([03])\.',
     r'decode_head.flow_fusion.flow_conv.\1.'),
    (r'decode_head\.discriminator\.layers\.([014])\.',
     r'decode_head.projection.layers.\1.'),
)

#: Keys kept as they are, per backbone.
KEPT = {
    'r18': r'backbone\.(stem|layer[1-4])\.'
    r'|decode_head\.(conv_seg|convs\.[0-3]|fusion_conv)\.',
    'mit-b0': r'backbone\.layers\.[0-3]\.'
    r'|decode_head\.(conv_seg|convs\.[0-3]|fusion_conv)\.',
}


def detect_variant(state_dict):
    """``'r18'`` or ``'mit-b0'`` from the keys and widths."""
    stem = state_dict.get('backbone.stem.0.weight')
    embed = state_dict.get('backbone.layers.0.0.projection.weight')
    if stem is not None:
        if 'backbone.layer1.0.conv3.weight' in state_dict or any(
                '.conv2.fc1.' in k or 'avd_layer' in k for k in state_dict):
            raise KeyError('an open-cd Changer checkpoint with a bottleneck '
                           '(ResNeSt / ResNet-50+) backbone; mmcd has '
                           'ChangerEx configs for ResNet-18 and MiT-b0 only')
        if 'backbone.layer4.1.conv1.weight' not in state_dict or \
                'backbone.layer4.2.conv1.weight' in state_dict:
            raise KeyError('not a ResNet-18 backbone (layer4 does not have '
                           'two blocks)')
        return 'r18'
    if embed is not None:
        if embed.shape[0] != 32 or 'backbone.layers.0.1.2.norm1.weight' in \
                state_dict:
            raise KeyError(
                f'not a MiT-b0 backbone (first embedding {embed.shape[0]} '
                'channels, MiT-b0 has 32 and two blocks per stage)')
        return 'mit-b0'
    raise KeyError(
        'not an open-cd Changer checkpoint: no backbone.stem.0 (ResNetV1c) '
        'or backbone.layers.0.0.projection (MiT) keys; first keys: ' +
        ', '.join(list(state_dict)[:5]))


def convert_key(key, variant):
    """The mmcd name of one open-cd Changer key (None if it has none)."""
    for pattern, target in RENAMES:
        if re.match(pattern, key):
            return re.sub(pattern, target, key, count=1)
    if re.match(KEPT[variant], key):
        return key
    return None


def convert_changer(state_dict, variant=None):
    """Rename an open-cd ChangerEx state dict to mmcd's module names.

    Args:
        state_dict (dict): open-cd's ``model.state_dict()`` (a leading
            ``module.`` is dropped).
        variant (str, optional): ``'r18'`` or ``'mit-b0'``. Default: None,
            recognised from the keys.

    Returns:
        tuple[OrderedDict, str]: The mmcd state dict and the variant.

    Raises:
        KeyError: When a key has no mmcd counterpart (all are listed).
    """
    state_dict = strip_module_prefix(state_dict)
    if variant is None:
        variant = detect_variant(state_dict)
    elif variant not in VARIANT_CONFIGS:
        raise ValueError(f'variant must be one of {list(VARIANT_CONFIGS)}, '
                         f'got {variant!r}')
    converted = rename_state_dict(
        state_dict, lambda key: convert_key(key, variant),
        f'open-cd Changer {variant}',
        'ChangerAD, an auxiliary head or another open-cd model?')
    return converted, variant


def load_opencd_checkpoint(path):
    """The state dict in an open-cd checkpoint file (weights-only load)."""
    import mmcd  # noqa: F401  (allow-lists mmengine's checkpoint data)
    from mmcd.utils.checkpoint_safety import load_from_local
    return find_state_dict(load_from_local(path, map_location='cpu'), path,
                           what='open-cd ')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an open-cd ChangerEx checkpoint to mmcd')
    parser.add_argument('src', help='open-cd checkpoint (.pth)')
    parser.add_argument('dst', help='mmcd checkpoint to write (new file)')
    parser.add_argument(
        '--variant',
        choices=list(VARIANT_CONFIGS),
        help='the backbone (default: recognised from the keys)')
    return parser.parse_args()


def main():
    args = parse_args()
    check_new_checkpoint_path(args.dst)
    state_dict, variant = convert_changer(
        load_opencd_checkpoint(args.src), args.variant)
    save_converted_checkpoint(state_dict, args.src, args.dst,
                              changer_variant=variant)
    print(f'converted {len(state_dict)} tensors of open-cd ChangerEx '
          f'{variant} to {args.dst}; config: {VARIANT_CONFIGS[variant]} '
          '(or its CDD sibling)')


if __name__ == '__main__':
    main()
