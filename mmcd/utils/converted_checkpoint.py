"""Write an mmcd checkpoint converted from an official one (the one piece of
output logic of ``tools/model_converters/*2mmcd.py``)."""
import io
import os.path as osp
from collections import OrderedDict
from typing import Callable

import torch

from .atomic_io import atomic_write_bytes

#: Classes and palette of every binary change detector's checkpoint.
CHANGE_DATASET_META = dict(
    classes=('unchanged', 'changed'), palette=[[0, 0, 0], [255, 255, 255]])


def check_new_checkpoint_path(dst: str) -> None:
    """Refuse an existing ``dst`` (a converter never overwrites) or a
    missing output folder, before any conversion work."""
    if osp.exists(dst):
        raise FileExistsError(
            f'{dst} exists; refusing to overwrite it (choose another name '
            'or remove it first)')
    folder = osp.dirname(osp.abspath(dst))
    if not osp.isdir(folder):
        raise FileNotFoundError(f'output folder not found: {folder}')


def save_converted_checkpoint(state_dict: dict, src: str, dst: str,
                              **meta) -> None:
    """Save ``state_dict`` as an mmcd checkpoint at ``dst``, atomically.

    Args:
        state_dict (dict): The converted weights.
        src (str): The official checkpoint it came from (``meta``'s
            ``converted_from``).
        dst (str): The new file; it must not exist.
        **meta: Further ``meta`` entries (e.g. the detected variant).
    """
    check_new_checkpoint_path(dst)
    buffer = io.BytesIO()
    torch.save(
        dict(state_dict=state_dict,
             meta=dict(dataset_meta=CHANGE_DATASET_META,
                       converted_from=osp.abspath(src), **meta)), buffer)
    atomic_write_bytes(dst, buffer.getvalue())


def _is_tensor_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(v, torch.Tensor) for v in obj.values())


def find_state_dict(obj, path: str, keys=('state_dict', 'model'),
                    what: str = '') -> dict:
    """The state dict in a loaded checkpoint ``obj``: the dict of tensors
    under the first of ``keys`` it has, or ``obj`` itself if it is one;
    otherwise a ``ValueError`` naming ``path`` and what was looked for."""
    if isinstance(obj, dict):
        for key in keys:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if _is_tensor_dict(obj):
            return obj
    looked = ' / '.join(f'"{k}"' for k in keys)
    raise ValueError(f'{path} holds no {what}state dict of tensors (looked '
                     f'under {looked}, and for a bare dict of tensors)')


def load_state_dict_file(path: str, keys=('state_dict', 'model'),
                         what: str = '') -> dict:
    """:func:`find_state_dict` of the checkpoint file ``path``, loaded
    weights-only (tensors and plain data; nothing in the file runs)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    obj = torch.load(path, map_location='cpu', weights_only=True)
    return find_state_dict(obj, path, keys, what)


def strip_module_prefix(state_dict: dict) -> OrderedDict:
    """``state_dict`` without the ``module.`` prefix a ``DataParallel``
    model's keys carry."""
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in state_dict.items())


def rename_state_dict(state_dict: dict, convert_key: Callable,
                      what: str, hint: str = '') -> OrderedDict:
    """Rename every key of an official state dict to mmcd's, or stop.

    Args:
        state_dict (dict): The official weights (``module.`` prefixes are
            dropped).
        convert_key (Callable): Official key -> mmcd key, or None when it
            has no counterpart.
        what (str): The checkpoint, for the message (e.g. ``'LSNet
            difffpn'``).
        hint (str): What an unmapped key may mean, for the message.

    Returns:
        OrderedDict: The mmcd state dict.

    Raises:
        KeyError: Listing every key without an mmcd counterpart.
    """
    converted, unmapped = OrderedDict(), []
    for key, value in strip_module_prefix(state_dict).items():
        new_key = convert_key(key)
        if new_key is None:
            unmapped.append(key)
        else:
            converted[new_key] = value
    if unmapped:
        raise KeyError(
            f'{len(unmapped)} key(s) of the {what} checkpoint have no mmcd '
            f'counterpart{f" ({hint})" if hint else ""}: ' +
            ', '.join(unmapped))
    return converted
