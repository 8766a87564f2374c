"""Convert a checkpoint of the original LSNet code into an mmcd checkpoint.

    python tools/model_converters/lsnet2mmcd.py SRC DST

SRC is what the original code (github.com/qaz670756/LSNet, ``models/
Models.py``) saves: ``torch.save(model, 'checkpoint_epoch_100.pt')`` (the
whole pickled ``LSNet_diffFPN`` / ``LSNet_thin_diffFPN`` / ``LSNet_denseFPN``
module, read here *without* the original code and without running any code
from the file: only tensors, parameters, ordered dicts and the names of
torch.nn and LSNet modules are accepted), or its ``state_dict()`` (also
under a ``state_dict`` or ``model`` key, with or without ``module.``). The
variant is recognised from the keys. DST is never overwritten.

The converted checkpoint loads strictly into the matching config:
``configs/lsnet/lsnet_{difffpn,thindifffpn,densefpn}_1xb12-100e_cdd-256x256.py``.
"""
import argparse
import os.path as osp
import pickle
import re
from collections import OrderedDict

import torch
from mmcd.utils.converted_checkpoint import (check_new_checkpoint_path,
                                             find_state_dict,
                                             rename_state_dict,
                                             save_converted_checkpoint,
                                             strip_module_prefix)

#: Sub-module names inside one Context Guided Block: original -> mmcd.
BLOCK_NAMES = (
    ('conv1x1.0.', 'conv_in.'),
    ('conv1x1.1.', 'norm_in.'),
    ('conv1x1.2.', 'act_in.'),
    ('f_loc.', 'conv_local.'),
    ('f_sur.', 'conv_surround.'),
    ('bn.', 'norm_joint.'),
    ('activate.', 'act_joint.'),
    ('f_glo.fc.', 'global_context.fc.'),
)

#: Configs the converted checkpoints belong to.
VARIANT_CONFIGS = {
    'difffpn': 'configs/lsnet/lsnet_difffpn_1xb12-100e_cdd-256x256.py',
    'thindifffpn':
    'configs/lsnet/lsnet_thindifffpn_1xb12-100e_cdd-256x256.py',
    'densefpn': 'configs/lsnet/lsnet_densefpn_1xb12-100e_cdd-256x256.py',
}


def detect_variant(keys):
    """``'difffpn'``, ``'thindifffpn'`` or ``'densefpn'`` from the keys."""
    keys = list(keys)
    if any(k.startswith('FPN.conv0_1.') for k in keys):
        return 'densefpn'
    if any(k.startswith('FPN.diff_convs.5.') for k in keys):
        return 'difffpn'
    if any(k.startswith('FPN.diff_convs.2.') for k in keys):
        return 'thindifffpn'
    raise KeyError(
        'not an LSNet checkpoint: no FPN.conv0_1 (denseFPN) or '
        'FPN.diff_convs (diffFPN) keys; first keys: ' + ', '.join(keys[:5]))


def _diff_block(index, variant):
    """mmcd name of the original ``FPN.diff_convs[index]``."""
    if variant == 'thindifffpn':
        names = ('first_diff_blocks.0', 'first_diff_blocks.1',
                 'last_diff_block')
    else:
        names = ('first_diff_blocks.0', 'first_diff_blocks.1',
                 'first_diff_blocks.2', 'second_diff_blocks.0',
                 'second_diff_blocks.1', 'last_diff_block')
    return f'neck.{names[index]}' if index < len(names) else None


def _block_suffix(rest):
    for old, new in BLOCK_NAMES:
        if rest.startswith(old):
            return new + rest[len(old):]
    return None


def convert_key(key, variant):
    """The mmcd name of one original LSNet key (None if it has none)."""
    m = re.fullmatch(r'backbone\.norm_prelu_(\d)\.0\.(.+)', key)
    if m:
        return f'backbone.stage_norms.{m[1]}.{m[2]}'
    m = re.fullmatch(r'backbone\.norm_prelu_(\d)\.1\.weight', key)
    if m:
        return f'backbone.stage_acts.{m[1]}.weight'
    m = re.fullmatch(r'head\.ca\.(conv1|bn1|conv2|conv3)\.(.+)', key)
    if m:
        name = dict(conv1='conv_squeeze', bn1='norm', conv2='conv_h',
                    conv3='conv_w')[m[1]]
        return f'decode_head.attention.{name}.{m[2]}'
    m = re.fullmatch(r'head\.conv_final\.(weight|bias)', key)
    if m:
        return f'decode_head.conv_seg.{m[1]}'

    # Context Guided Blocks (the neck wraps each in a Sequential: ".0")
    patterns = [
        (r'backbone\.stem\.(\d+)\.', lambda m: f'backbone.stages.0.{m[1]}'),
        (r'backbone\.level([123])\.(\d+)\.',
         lambda m: f'backbone.stages.{m[1]}.{m[2]}'),
        (r'FPN\.lateral_convs\.([0-3])\.0\.',
         lambda m: f'neck.lateral_blocks.{m[1]}'),
        (r'FPN\.top_down_convs\.([0-2])\.0\.',
         lambda m: f'neck.top_down_blocks.{2 - int(m[1])}'),
        (r'FPN\.diff_convs\.(\d)\.0\.',
         lambda m: _diff_block(int(m[1]), variant)),
        (r'FPN\.conv([0-2])_([1-3])\.0\.', lambda m: f'neck.block{m[1]}_'
         f'{m[2]}'),
    ]
    for pattern, target in patterns:
        m = re.match(pattern, key)
        if m:
            prefix = target(m)
            suffix = _block_suffix(key[m.end():])
            if prefix is None or suffix is None:
                return None
            return f'{prefix}.{suffix}'
    return None


def convert_lsnet(state_dict, variant=None):
    """Rename an original LSNet state dict to mmcd's module names.

    Args:
        state_dict (dict): The original ``model.state_dict()`` (a leading
            ``module.`` is dropped).
        variant (str, optional): ``'difffpn'``, ``'thindifffpn'`` or
            ``'densefpn'``. Default: None, recognised from the keys.

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
        f'LSNet {variant}',
        'a different LSNet version, or bilinear=False upsampling?')
    return converted, variant


class _PickledModule:
    """Stand-in for a pickled nn.Module: keeps its attributes only."""

    def __setstate__(self, state):
        self.__dict__.update(state)


class _ModuleOnlyUnpickler(pickle.Unpickler):
    """Reads a pickled LSNet model without importing or running its code."""

    TENSOR_GLOBALS = {
        ('torch._utils', '_rebuild_tensor_v2'),
        ('torch._utils', '_rebuild_parameter'),
        ('torch._utils', '_rebuild_parameter_with_state'),
        ('collections', 'OrderedDict'),
        ('builtins', 'set'),
        ('builtins', 'frozenset'),
        ('torch', 'Size'),
        ('torch', 'float32'),
        ('torch', 'float16'),
        ('torch', 'int64'),
    }

    def find_class(self, module, name):
        module = 'builtins' if module == '__builtin__' else module
        if (module, name) in self.TENSOR_GLOBALS:
            return super().find_class(module, name)
        if module.startswith('torch.nn.modules.') or module.startswith(
                'models.'):
            return type(name, (_PickledModule, ), {})
        raise pickle.UnpicklingError(
            f'refusing to load {module}.{name}: an LSNet checkpoint holds '
            'only torch.nn / LSNet modules and tensors')


class _ModuleOnlyPickle:
    """A ``pickle_module`` for ``torch.load`` with the unpickler above."""
    Unpickler = _ModuleOnlyUnpickler
    load = pickle.load
    __name__ = 'lsnet_module_only_pickle'


def _module_state_dict(module, prefix=''):
    state = OrderedDict()
    for name, p in (vars(module).get('_parameters') or {}).items():
        if p is not None:
            state[prefix + name] = p.detach()
    non_persistent = vars(module).get('_non_persistent_buffers_set', set())
    for name, b in (vars(module).get('_buffers') or {}).items():
        if b is not None and name not in non_persistent:
            state[prefix + name] = b
    for name, child in (vars(module).get('_modules') or {}).items():
        if child is not None:
            state.update(_module_state_dict(child, f'{prefix}{name}.'))
    return state


def load_original_checkpoint(path):
    """The state dict in an original LSNet checkpoint file.

    Args:
        path (str): A pickled LSNet model (``torch.save(model, f)``) or a
            state dict (plain, or under ``state_dict`` / ``model``).

    Returns:
        OrderedDict: The original state dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        # a whole pickled model: read its tensors with the restricted
        # unpickler (weights_only refuses the module classes)
        obj = torch.load(
            path,
            map_location='cpu',
            weights_only=False,
            pickle_module=_ModuleOnlyPickle)
    if isinstance(obj, _PickledModule):
        return _module_state_dict(obj)
    return find_state_dict(obj, path, what='pickled LSNet model and no ')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an original LSNet checkpoint to mmcd')
    parser.add_argument('src', help='original checkpoint (.pt / .pth)')
    parser.add_argument('dst', help='mmcd checkpoint to write (new file)')
    parser.add_argument(
        '--variant',
        choices=list(VARIANT_CONFIGS),
        help='the LSNet variant (default: recognised from the keys)')
    return parser.parse_args()


def main():
    args = parse_args()
    check_new_checkpoint_path(args.dst)
    state_dict, variant = convert_lsnet(
        load_original_checkpoint(args.src), args.variant)
    save_converted_checkpoint(state_dict, args.src, args.dst,
                              lsnet_variant=variant)
    print(f'converted {len(state_dict)} tensors of LSNet {variant} to '
          f'{args.dst}; config: {VARIANT_CONFIGS[variant]}')


if __name__ == '__main__':
    main()
