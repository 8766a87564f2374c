"""Convert a checkpoint of the original FC-EF / FC-Siam code into mmcd's.

    python tools/model_converters/fcsiam2mmcd.py SRC DST [--model NAME]

SRC is what the original code (github.com/rcdaudt/
fully_convolutional_change_detection: ``unet.py`` = FC-EF,
``siamunet_conc.py``, ``siamunet_diff.py``) saves:
``torch.save(net.state_dict(), 'net_final.pth.tar')`` (also accepted under a
``state_dict`` or ``model`` key, with or without ``module.``). It is read
with ``torch.load(weights_only=True)``: tensors only, no code runs. The
model is recognised from the keys' shapes (FC-Siam-conc from its wider
decoder; FC-EF and FC-Siam-diff from the input channels of ``conv11``:
2 x 3/4/10/13 bands for FC-EF, 3/4/10/13 for FC-Siam-diff, the original's
band sets) unless ``--model`` names it. Every key must map, or the tool
stops and lists the ones that do not. DST is never overwritten.

The converted checkpoint loads strictly into the matching config (RGB
models): ``configs/fcsiam/{fc-ef,fc-siam-conc,fc-siam-diff}_unet_*.py``.
"""
import argparse
import re

from mmcd.utils.converted_checkpoint import (check_new_checkpoint_path,
                                             load_state_dict_file,
                                             rename_state_dict,
                                             save_converted_checkpoint,
                                             strip_module_prefix)

#: Layers per encoder/decoder stage of the original U-Nets.
STAGE_CONVS = (2, 2, 3, 3)
#: Input bands per date of the original's dataset options (TYPE 0..3).
ORIGINAL_BANDS = (3, 4, 10, 13)
MODELS = ('fc-ef', 'fc-siam-conc', 'fc-siam-diff')


def detect_model(state_dict):
    """``'fc-ef'``, ``'fc-siam-conc'`` or ``'fc-siam-diff'`` from shapes."""
    for key in ('conv11.weight', 'conv43d.weight', 'conv43.weight'):
        if key not in state_dict:
            raise KeyError(
                f'not an FC-EF / FC-Siam state dict: no {key!r}; first '
                'keys: ' + ', '.join(list(state_dict)[:5]))
    deep = state_dict['conv43.weight'].shape[0]
    decoder_in = state_dict['conv43d.weight'].shape[0]
    if decoder_in == 3 * deep:  # upsampled + both dates' skips
        return 'fc-siam-conc'
    bands = state_dict['conv11.weight'].shape[1]
    if bands in ORIGINAL_BANDS:
        return 'fc-siam-diff'
    if bands % 2 == 0 and bands // 2 in ORIGINAL_BANDS:
        return 'fc-ef'
    raise ValueError(
        f'cannot tell FC-EF from FC-Siam-diff by conv11 input channels '
        f'{bands}; pass --model')


def convert_key(key):
    """The mmcd name of one original key (None if it has none)."""
    m = re.fullmatch(r'(conv|bn)([1-4])([1-3])\.(\w+)', key)
    if m and int(m[3]) <= STAGE_CONVS[int(m[2]) - 1]:
        layer = 'conv' if m[1] == 'conv' else 'norm'
        return (f'backbone.stages.{int(m[2]) - 1}.{int(m[3]) - 1}.'
                f'{layer}.{m[4]}')
    m = re.fullmatch(r'upconv([1-4])\.(weight|bias)', key)
    if m:
        return f'decode_head.up_convs.{int(m[1]) - 1}.{m[2]}'
    if key in ('conv11d.weight', 'conv11d.bias'):
        return 'decode_head.conv_seg.' + key.split('.')[1]
    m = re.fullmatch(r'(conv|bn)([1-4])([1-3])d\.(\w+)', key)
    if m:
        stage, k = int(m[2]) - 1, int(m[3])
        index = STAGE_CONVS[stage] - k  # decoder layers run k = n..1
        if 1 <= k <= STAGE_CONVS[stage] and (stage, k) != (0, 1):
            layer = 'conv' if m[1] == 'conv' else 'norm'
            return f'decode_head.stages.{stage}.{index}.{layer}.{m[4]}'
    return None


def convert_fcsiam(state_dict, model=None):
    """Map an original state dict to mmcd's names.

    Args:
        state_dict (dict): The original ``net.state_dict()``.
        model (str, optional): One of :data:`MODELS`. Default: None
            (recognised from the keys).

    Returns:
        tuple[OrderedDict, str]: The mmcd state dict and the model.
    """
    state_dict = strip_module_prefix(state_dict)
    model = model or detect_model(state_dict)
    if model not in MODELS:
        raise ValueError(f'model must be one of {MODELS}, got {model!r}')
    converted = rename_state_dict(
        state_dict, convert_key,
        f'original {model}',
        '')
    return converted, model


def load_original_checkpoint(path):
    """The state dict in an original checkpoint file (tensors only)."""
    return load_state_dict_file(path)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an original FC-EF / FC-Siam checkpoint to mmcd')
    parser.add_argument('src', help='original checkpoint (.pth.tar / .pth)')
    parser.add_argument('dst', help='mmcd checkpoint to write (new file)')
    parser.add_argument(
        '--model', choices=MODELS,
        help='the model (default: recognised from the keys)')
    return parser.parse_args()


def main():
    args = parse_args()
    check_new_checkpoint_path(args.dst)
    original = load_original_checkpoint(args.src)
    state_dict, model = convert_fcsiam(original, args.model)
    save_converted_checkpoint(state_dict, args.src, args.dst,
                              fcsiam_model=model)
    conv11 = next(v for k, v in original.items()
                  if k.endswith('conv11.weight'))
    bands = conv11.shape[1] // (2 if model == 'fc-ef' else 1)
    config = (f'{model}_unet_1xb32-50e_oscd-96x96.py' if bands == 13 and
              model != 'fc-siam-conc' else
              f'{model}_unet_1xb32-50e_levircd-256x256.py (or _cdd-, or '
              '_oscdrgb-96x96)' if bands == 3 else
              f'one of {model}_unet_*.py with in_channels set for {bands} '
              'bands')
    print(f'converted {len(state_dict)} tensors of {model} to {args.dst}; '
          f'config: configs/fcsiam/{config}')


if __name__ == '__main__':
    main()
