"""Write an mmcd checkpoint converted from an official one (the one piece of
output logic of ``tools/model_converters/*2mmcd.py``)."""
import io
import os.path as osp

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
