"""Load mmengine checkpoints on torch >= 2.6 without disabling ``weights_only``.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default, which
refuses the few non-tensor objects mmengine writes into its checkpoints
(message-hub ``HistoryBuffer`` s, numpy scalars and arrays). Instead of switching
``weights_only`` off (which lets any checkpoint file run code on load), mmcd
allow-lists exactly those types, so a checkpoint carrying any other global,
such as a malicious ``__reduce__`` payload, is still refused.
"""
import pickle

import numpy as np
import torch


def _numpy_globals():
    """numpy types that mmengine checkpoints pickle (numpy 1.x and 2.x)."""
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
        np.uint16, np.uint32, np.uint64, np.float16, np.float32, np.float64)]
    return [_reconstruct, scalar, np.ndarray, np.dtype] + dtype_classes


def history_buffer_getattr(obj, name):
    """The only ``getattr`` an mmengine checkpoint may perform on load.

    ``HistoryBuffer`` pickles its statistics methods (``min``, ``max``,
    ``mean``, ``current``, ...) as ``getattr(HistoryBuffer, 'min')``.
    Allowing the builtin ``getattr`` itself would let a crafted file walk
    from any allowed class to ``eval``; this stand-in resolves only public
    methods of ``HistoryBuffer``.
    """
    from mmengine.logging import HistoryBuffer
    if (obj is HistoryBuffer and isinstance(name, str)
            and not name.startswith('_')
            and callable(getattr(HistoryBuffer, name, None))):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) in a checkpoint: only '
        'HistoryBuffer statistics methods are allowed')


def mmengine_safe_globals():
    """Everything an mmengine 0.10 checkpoint needs beyond tensors."""
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr')
            ] + _numpy_globals()


def allow_mmengine_checkpoints() -> None:
    """Allow-list mmengine's checkpoint contents for ``weights_only`` loads."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch >= 2.4
        add(mmengine_safe_globals())
