"""A 1x1 convolution of a channel concatenation, without building it."""
from typing import Optional, Sequence

import torch.nn.functional as F
from torch import Tensor


def conv1x1_of_concat(parts: Sequence[Tensor],
                      weight: Tensor,
                      bias: Optional[Tensor],
                      owner: str,
                      resize: bool = False,
                      align_corners: bool = True) -> Tensor:
    """``conv2d(concat(parts), weight, bias)`` along channels for a 1x1
    ``weight``, without building the concatenation: each part is convolved
    with its slice of the weight's input channels and the results are
    summed (the same up to rounding). It saves the copy into the
    concatenation.

    With ``resize``, parts smaller than ``parts[0]`` stand for their
    bilinear resizing to its size: they are convolved at their own
    resolution and only the result is resized (a 1x1 convolution commutes
    with bilinear resizing, whose weights sum to 1). Without it, every part
    must have the size of the first.

    Args:
        parts (Sequence[Tensor]): ``(N, C_i, H_i, W_i)`` parts, in their
            order in the concatenation.
        weight (Tensor): ``(C_out, sum(C_i), 1, 1)`` convolution weight.
        bias (Tensor, optional): ``(C_out,)`` bias, or None.
        owner (str): What takes the concatenation, for the error messages.
        resize (bool): Resize smaller parts (see above). Default: False.
        align_corners (bool): Of the bilinear resizing. Default: True.
    """
    channels = [part.shape[1] for part in parts]
    if sum(channels) != weight.shape[1]:
        raise ValueError(f'the parts have {channels} channels; {owner} '
                         f'takes {weight.shape[1]}')
    size = parts[0].shape[2:]
    out, start = None, 0
    for part in parts:
        if part.shape[2:] != size and not resize:
            raise ValueError(f'{owner} takes parts of one size, got '
                             f'{[tuple(p.shape[2:]) for p in parts]}')
        stop = start + part.shape[1]
        conv = F.conv2d(part, weight[:, start:stop],
                        bias if out is None else None)
        if conv.shape[2:] != size:
            conv = F.interpolate(
                conv, size=size, mode='bilinear', align_corners=align_corners)
        out = conv if out is None else out + conv
        start = stop
    return out
