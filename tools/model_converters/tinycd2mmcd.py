"""Convert a checkpoint of the original TinyCD code into an mmcd checkpoint.

    python tools/model_converters/tinycd2mmcd.py SRC DST

SRC is what the original code (github.com/AndreaCodegoni/Tiny_model_4_CD,
``models/change_classifier.py``, ``ChangeClassifier``) saves:
``torch.save(model.state_dict(), ...)``, e.g. the published
``pretrained_models/levir_best.pth`` and ``whu_best.pth`` (also under a
``state_dict`` or ``model`` key, with or without ``module.``, or a whole
pickled model, read without the original code and without running code
from the file by :func:`lsnet2mmcd.load_original_checkpoint`). Every key
must map, or the tool stops and lists the ones that do not. DST is never
overwritten.

Key mapping (original -> mmcd):

- ``_backbone.*`` -> ``backbone.*`` (torchvision's EfficientNet layout);
- ``_first_mix`` / ``_mixing_mask.{0,1}`` -> ``neck.mask_blocks.{0,1,2}``,
  inside them ``_mixing._convmix.{0,1}`` -> ``mixing.{conv,act}`` and
  ``_linear._linears.*`` -> ``mlp.*``;
- ``_mixing_mask.2._convmix.{0,1}`` -> ``neck.last_mixing.{conv,act}``;
- ``_up.{i}._convolution.*`` -> ``decode_head.up_blocks.{i}.conv.*``;
- ``_classify._linears.{i}.*`` -> ``decode_head.classifier.{i}.*`` for all
  but the last layer, whose convolution is ``decode_head.conv_seg``.

The converted checkpoint loads strictly into
``configs/tinycd/tinycd_effb4_1xb8-100e_levircd-256x256.py``.
"""
import argparse
import os.path as osp
import re
import sys

from mmcd.utils.converted_checkpoint import (check_new_checkpoint_path,
                                             rename_state_dict,
                                             save_converted_checkpoint)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from lsnet2mmcd import load_original_checkpoint  # noqa: E402

CONFIG = 'configs/tinycd/tinycd_effb4_1xb8-100e_levircd-256x256.py'
#: Layers of the original's PixelwiseLinear classifier (the last is conv_seg).
CLASSIFIER_LAYERS = 3


def _mixing_suffix(rest):
    """mmcd name inside one mixing / mask attention block."""
    m = re.fullmatch(r'_mixing\._convmix\.([01])\.(weight|bias)', rest)
    if m:
        return f'mixing.{("conv", "act")[int(m[1])]}.{m[2]}'
    m = re.fullmatch(r'_linear\._linears\.(\d)\.([01])\.(weight|bias)', rest)
    if m:
        return f'mlp.{m[1]}.{m[2]}.{m[3]}'
    return None


def convert_key(key):
    """The mmcd name of one original TinyCD key (None if it has none)."""
    if key.startswith('_backbone.'):
        return 'backbone.' + key[len('_backbone.'):]
    m = re.fullmatch(r'(_first_mix|_mixing_mask\.([01]))\.(.+)', key)
    if m:
        index = 0 if m[2] is None else int(m[2]) + 1
        suffix = _mixing_suffix(m[3])
        return suffix and f'neck.mask_blocks.{index}.{suffix}'
    m = re.fullmatch(r'_mixing_mask\.2\._convmix\.([01])\.(weight|bias)', key)
    if m:
        return f'neck.last_mixing.{("conv", "act")[int(m[1])]}.{m[2]}'
    m = re.fullmatch(r'_up\.(\d)\._convolution\.([0-5])\.(weight|bias)', key)
    if m:
        return f'decode_head.up_blocks.{m[1]}.conv.{m[2]}.{m[3]}'
    m = re.fullmatch(r'_classify\._linears\.(\d)\.([01])\.(weight|bias)', key)
    if m:
        layer = int(m[1])
        if layer == CLASSIFIER_LAYERS - 1:
            return f'decode_head.conv_seg.{m[3]}' if m[2] == '0' else None
        if layer < CLASSIFIER_LAYERS - 1:
            return f'decode_head.classifier.{layer}.{m[2]}.{m[3]}'
    return None


def convert_tinycd(state_dict):
    """Rename an original TinyCD state dict to mmcd's module names.

    Args:
        state_dict (dict): The original ``model.state_dict()`` (a leading
            ``module.`` is dropped).

    Returns:
        OrderedDict: The mmcd state dict.

    Raises:
        KeyError: When a key has no mmcd counterpart (all are listed).
    """
    converted = rename_state_dict(
        state_dict, convert_key, 'TinyCD',
        hint='a different TinyCD version, generate_masked=True blocks, or '
        'another backbone?')
    if not any(k.startswith('backbone.') for k in converted):
        raise KeyError('not a TinyCD checkpoint: no _backbone.* keys')
    return converted


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an original TinyCD checkpoint to mmcd')
    parser.add_argument('src', help='original checkpoint (.pth)')
    parser.add_argument('dst', help='mmcd checkpoint to write (new file)')
    return parser.parse_args()


def main():
    args = parse_args()
    check_new_checkpoint_path(args.dst)
    state_dict = convert_tinycd(load_original_checkpoint(args.src))
    save_converted_checkpoint(state_dict, args.src, args.dst)
    print(f'converted {len(state_dict)} tensors of TinyCD to {args.dst}; '
          f'config: {CONFIG}')


if __name__ == '__main__':
    main()
