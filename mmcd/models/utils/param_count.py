"""Parameter counting in the convention of published model sizes."""
from typing import Tuple, Type

import torch.nn as nn


def count_parameters(module: nn.Module,
                     exclude: Tuple[Type[nn.Module], ...] = (nn.PReLU, ),
                     trainable_only: bool = False) -> int:
    """Count the parameters of ``module``, leaving out excluded layer types.

    The default reproduces the convention of LSNet's published sizes, which
    were measured with an old ``thop`` that had no counting rule for
    ``nn.PReLU`` and therefore did not count PReLU slopes. Pass
    ``exclude=()`` for the plain total.

    Args:
        module (nn.Module): The module to count.
        exclude (tuple[type]): Module types whose own parameters are not
            counted. Default: ``(nn.PReLU,)``.
        trainable_only (bool): Count only parameters with
            ``requires_grad``. Default: False.

    Returns:
        int: The number of parameters (shared ones counted once).
    """
    seen = set()
    total = 0
    for m in module.modules():
        excluded = isinstance(m, tuple(exclude)) if exclude else False
        for p in m.parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if excluded or (trainable_only and not p.requires_grad):
                continue
            total += p.numel()
    return total
