"""Convert a checkpoint of the original SNUNet-CD code into an mmcd one.

    python tools/model_converters/snunet2mmcd.py SRC DST

SRC is what the original code (github.com/likyoo/Siam-NestedUNet,
``models/Models.py``, ``SNUNet_ECAM``) saves: ``torch.save(model, ...)``
(the whole pickled module, e.g. the published ``snunet-32.pt``, read
*without* the original code and without running code from the file, by
:func:`lsnet2mmcd.load_original_checkpoint`), or its ``state_dict()``
(also under a ``state_dict`` or ``model`` key, with or without
``module.``). The width ``c`` is read from the weights. Every key must map,
or the tool stops and lists the ones that do not. DST is never
overwritten.

The converted checkpoint loads strictly into
``configs/snunet/snunet_c{c}_1xb16-100e_cdd-256x256.py``.
"""
import argparse
import os.path as osp
import re
import sys

from mmcd.utils.converted_checkpoint import (check_new_checkpoint_path,
                                             rename_state_dict,
                                             save_converted_checkpoint,
                                             strip_module_prefix)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from lsnet2mmcd import load_original_checkpoint  # noqa: E402

#: Layers inside one ``conv_block_nested``: original -> mmcd.
BLOCK_LAYERS = dict(conv1='conv1', bn1='norm1', conv2='conv2', bn2='norm2')
#: ECAM's channel attentions and their MLP layers: original -> mmcd.
ATTENTIONS = dict(ca='attention', ca1='intra_attention')
MLP_LAYERS = dict(fc1='mlp.0', fc2='mlp.2')


def encoder_depth(keys):
    """Index ``L`` of the deepest encoder node ``conv{L}_0``."""
    depths = [int(m[1]) for k in keys
              for m in [re.match(r'conv(\d)_0\.', k)] if m]
    if not depths:
        raise KeyError('not a SNUNet-CD checkpoint: no conv{i}_0 keys; '
                       'first keys: ' + ', '.join(list(keys)[:5]))
    return max(depths)


def convert_key(key, depth):
    """The mmcd name of one original SNUNet-CD key (None if it has none)."""
    m = re.fullmatch(r'conv(\d)_(\d)\.(conv1|bn1|conv2|bn2)\.(.+)', key)
    if m:
        i, j = int(m[1]), int(m[2])
        layer = f'{BLOCK_LAYERS[m[3]]}.{m[4]}'
        if j == 0 and i < depth:
            return f'backbone.stages.{i}.{layer}'
        return f'neck.block{i}_{j}.{layer}'
    m = re.fullmatch(r'Up(\d)_(\d)\.up\.(weight|bias)', key)
    if m:
        return f'neck.up{m[1]}_{m[2]}.{m[3]}'
    m = re.fullmatch(r'(ca1?)\.(fc[12])\.weight', key)
    if m:
        return (f'decode_head.attention.{ATTENTIONS[m[1]]}.'
                f'{MLP_LAYERS[m[2]]}.weight')
    m = re.fullmatch(r'conv_final\.(weight|bias)', key)
    if m:
        return f'decode_head.conv_seg.{m[1]}'
    return None


def convert_snunet(state_dict):
    """Rename an original SNUNet_ECAM state dict to mmcd's module names.

    Args:
        state_dict (dict): The original ``model.state_dict()`` (a leading
            ``module.`` is dropped).

    Returns:
        tuple[OrderedDict, int]: The mmcd state dict and the base width
        ``c``.

    Raises:
        KeyError: When a key has no mmcd counterpart (all are listed).
    """
    state_dict = strip_module_prefix(state_dict)
    depth = encoder_depth(state_dict)
    converted = rename_state_dict(
        state_dict, lambda key: convert_key(key, depth),
        'SNUNet-CD',
        'only SNUNet_ECAM is supported, not Siam_NestedUNet_Conc or '
        'SiamUnet_diff')
    base_channels = state_dict['conv0_0.conv1.weight'].shape[0]
    return converted, int(base_channels)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an original SNUNet-CD checkpoint to mmcd')
    parser.add_argument('src', help='original checkpoint (.pt / .pth)')
    parser.add_argument('dst', help='mmcd checkpoint to write (new file)')
    return parser.parse_args()


def main():
    args = parse_args()
    check_new_checkpoint_path(args.dst)
    state_dict, base_channels = convert_snunet(
        load_original_checkpoint(args.src))
    save_converted_checkpoint(state_dict, args.src, args.dst,
                              snunet_base_channels=base_channels)
    print(f'converted {len(state_dict)} tensors of SNUNet-CD (c='
          f'{base_channels}) to {args.dst}; config: configs/snunet/'
          f'snunet_c{base_channels}_1xb16-100e_cdd-256x256.py')


if __name__ == '__main__':
    main()
