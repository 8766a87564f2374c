"""Change maps drawn over the bi-temporal images."""
from typing import Tuple

import numpy as np
import torch

#: Tint of predicted change when no ground truth is given.
CHANGE_COLOR: Tuple[int, int, int] = (255, 0, 0)
#: Changed pixels predicted as changed (true positives).
TP_COLOR: Tuple[int, int, int] = (0, 255, 0)
#: Unchanged pixels predicted as changed (false positives / false alarms).
FP_COLOR: Tuple[int, int, int] = (255, 0, 0)
#: Changed pixels predicted as unchanged (false negatives / misses).
FN_COLOR: Tuple[int, int, int] = (0, 0, 255)


def _as_mask(mask, name: str) -> np.ndarray:
    """A ``(H, W)`` or ``(1, H, W)`` tensor/array as a ``(H, W)`` array."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(
            f'{name} must be (H, W) or (1, H, W); got shape {mask.shape}')
    return mask


def _as_rgb(image, name: str) -> np.ndarray:
    """An ``(H, W, 3)`` or ``(H, W)`` uint8 image as ``(H, W, 3)``."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f'{name} must be an (H, W, 3) RGB or (H, W) grey image; got '
            f'shape {image.shape}')
    if image.dtype != np.uint8:
        raise ValueError(f'{name} must be uint8; got {image.dtype}')
    return image


def _tint(image: np.ndarray, where: np.ndarray, color, alpha: float) -> None:
    """Blend ``color`` into ``image`` (in place) at ``where``."""
    blended = (1 - alpha) * image[where].astype(np.float64) + \
        alpha * np.asarray(color, dtype=np.float64)
    image[where] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def draw_change_overlay(image,
                        pred,
                        gt=None,
                        alpha: float = 0.5,
                        ignore_index: int = 255) -> np.ndarray:
    """Draw a change map over an image (usually the later date, B).

    Each drawn pixel becomes ``round((1 - alpha) * image + alpha * color)``.
    Without ``gt``, predicted change is tinted :data:`CHANGE_COLOR` (red).
    With ``gt``, true positives get :data:`TP_COLOR` (green), false
    positives :data:`FP_COLOR` (red) and false negatives :data:`FN_COLOR`
    (blue); true negatives and ``ignore_index`` pixels are left untouched.

    Args:
        image (np.ndarray): ``(H, W, 3)`` RGB (or ``(H, W)`` grey) uint8
            image.
        pred (np.ndarray | Tensor): ``(H, W)`` or ``(1, H, W)`` prediction,
            0 unchanged / 1 changed (bool accepted).
        gt (np.ndarray | Tensor, optional): Ground truth of the same shape,
            0 unchanged / 1 changed / ``ignore_index``. Defaults to None.
        alpha (float): Opacity of the colours, in [0, 1]. Defaults to 0.5.
        ignore_index (int): Ground-truth label left undrawn. Defaults to 255.

    Returns:
        np.ndarray: The ``(H, W, 3)`` RGB uint8 overlay (a new array).

    Raises:
        ValueError: On mismatched shapes, ``alpha`` outside [0, 1], or mask
            values outside ``{0, 1}`` (``{0, 1, ignore_index}`` for ``gt``).
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f'alpha must be in [0, 1]; got {alpha}')
    out = _as_rgb(image, 'image').copy()
    pred = _as_mask(pred, 'pred')
    if pred.shape != out.shape[:2]:
        raise ValueError(f'pred shape {pred.shape} differs from image size '
                         f'{out.shape[:2]}')
    if np.setdiff1d(np.unique(pred), [0, 1]).size:
        raise ValueError('pred must hold only 0 (unchanged) and 1 (changed)')
    changed = pred == 1
    if gt is None:
        _tint(out, changed, CHANGE_COLOR, alpha)
        return out

    gt = _as_mask(gt, 'gt')
    if gt.shape != pred.shape:
        raise ValueError(
            f'gt shape {gt.shape} differs from pred shape {pred.shape}')
    if np.setdiff1d(np.unique(gt), [0, 1, ignore_index]).size:
        raise ValueError('gt must hold only 0 (unchanged), 1 (changed) and '
                         f'{ignore_index} (ignore)')
    valid = gt != ignore_index
    gt_changed = gt == 1
    _tint(out, valid & changed & gt_changed, TP_COLOR, alpha)
    _tint(out, valid & changed & ~gt_changed, FP_COLOR, alpha)
    _tint(out, valid & ~changed & gt_changed, FN_COLOR, alpha)
    return out


def compose_change_panel(img_a,
                         img_b,
                         pred,
                         gt=None,
                         alpha: float = 0.5,
                         ignore_index: int = 255) -> np.ndarray:
    """Put date A | date B | change overlay on B side by side.

    Args:
        img_a (np.ndarray): ``(H, W, 3)`` RGB uint8 image of date A.
        img_b (np.ndarray): ``(H, W, 3)`` RGB uint8 image of date B.
        pred (np.ndarray | Tensor): ``(H, W)`` or ``(1, H, W)`` prediction,
            0 unchanged / 1 changed.
        gt (np.ndarray | Tensor, optional): Ground truth; if given the
            overlay shows TP / FP / FN (see :func:`draw_change_overlay`).
            Defaults to None.
        alpha (float): Opacity of the overlay colours. Defaults to 0.5.
        ignore_index (int): Ground-truth label left undrawn. Defaults to 255.

    Returns:
        np.ndarray: ``(H, 3 W, 3)`` RGB uint8 panel.
    """
    img_a = _as_rgb(img_a, 'img_a')
    img_b = _as_rgb(img_b, 'img_b')
    if img_a.shape != img_b.shape:
        raise ValueError(f'the two dates differ in size: {img_a.shape} and '
                         f'{img_b.shape}')
    overlay = draw_change_overlay(
        img_b, pred, gt, alpha=alpha, ignore_index=ignore_index)
    return np.concatenate([img_a, img_b, overlay], axis=1)
