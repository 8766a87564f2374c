"""Loading transforms for bi-temporal change detection.

The two dates travel through the pipeline as ONE ``H x W x 2C`` array in
``results['img']`` (date A's ``C`` channels first), so that mmcv/mmseg
geometric transforms, ``SegDataPreProcessor``, ``PackSegInputs`` and slide
inference work unchanged. The change mask is ``results['gt_seg_map']``
(uint8: 0 = unchanged, 1 = changed, 255 = ignore).
"""
import io
from typing import Optional, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from mmcd.registry import TRANSFORMS

LABEL_ENCODINGS = ('0-255', '0-1')
"""Raw change-mask encodings: ``'0-255'`` means change = value >= 128,
``'0-1'`` means change = value >= 1."""

_CHANGE_THRESHOLD = {'0-255': 128, '0-1': 1}


def check_label_encoding(label_encoding: str) -> str:
    """Validate a ``label_encoding`` value and return it."""
    if label_encoding not in LABEL_ENCODINGS:
        raise ValueError(
            f'label_encoding must be one of {LABEL_ENCODINGS} ("0-255": '
            'change = value >= 128, "0-1": change = value >= 1); got '
            f'{label_encoding!r}')
    return label_encoding


def check_ignore_value(ignore_value: Optional[int],
                       label_encoding: str) -> Optional[int]:
    """Validate ``ignore_value`` against ``label_encoding``; return it."""
    if ignore_value is None:
        return None
    if isinstance(ignore_value, bool) or not isinstance(
            ignore_value, (int, np.integer)) or not 0 <= ignore_value <= 255:
        raise ValueError('ignore_value must be None or an int in [0, 255] '
                         f'(a raw mask value); got {ignore_value!r}')
    ignore_value = int(ignore_value)
    if ignore_value == 0:
        raise ValueError('ignore_value=0 would ignore every unchanged pixel; '
                         '0 always means "unchanged"')
    if (label_encoding, ignore_value) in (('0-255', 255), ('0-1', 1)):
        raise ValueError(
            f'ignore_value={ignore_value} is the "changed" value of '
            f'label_encoding={label_encoding!r}; a mask cannot use it for '
            'both')
    return ignore_value


def count_changed(raw: np.ndarray, label_encoding: str,
                  ignore_value: Optional[int] = None) -> int:
    """Number of "changed" pixels of a raw mask, ignored pixels excluded."""
    changed = raw >= _CHANGE_THRESHOLD[label_encoding]
    if ignore_value is not None:
        changed &= raw != ignore_value
    return int(changed.sum())


def _read_bytes(filename: str, backend_args: Optional[dict], what: str):
    try:
        return fileio.get(filename, backend_args=backend_args)
    except FileNotFoundError as e:
        raise FileNotFoundError(f'{what} not found: {filename}') from e
    except Exception as e:  # noqa: BLE001 (backend-specific errors)
        raise OSError(f'cannot read {what} {filename}: {e}') from e


def _decode(content: bytes, filename: str, flag: str, channel_order: str,
            backend: str, what: str) -> np.ndarray:
    try:
        img = mmcv.imfrombytes(
            content, flag=flag, channel_order=channel_order, backend=backend)
    except Exception as e:  # noqa: BLE001 (decoder-specific errors)
        raise OSError(f'cannot decode {what} {filename} (corrupt or not an '
                      f'image?): {type(e).__name__}: {e}') from e
    if img is None or not isinstance(img, np.ndarray) or img.size == 0:
        raise OSError(f'cannot decode {what} {filename} (corrupt, empty or '
                      'not an image)')
    return img


@TRANSFORMS.register_module()
class LoadImagePairFromFile(BaseTransform):
    """Load the two dates of a change-detection pair as one ``H x W x 2C``
    image.

    Date A (``img_path``) and date B (``img_path2``) are decoded with the same
    settings and concatenated along the channel axis, date A first, so
    ``results['img'][..., :C]`` is date A and ``results['img'][..., C:]`` is
    date B (each in ``channel_order``).

    Required Keys:

    - img_path
    - img_path2

    Modified Keys:

    - img (np.uint8 or np.float32, ``H x W x 2C``)
    - img_shape
    - ori_shape

    Args:
        to_float32 (bool): Whether to convert the loaded pair to float32.
            Defaults to False (uint8).
        color_type (str): The decoding flag of :func:`mmcv.imfrombytes`:
            'color' (3 channels), 'grayscale' (1 channel) or 'unchanged'
            (the file's own channels; A and B must then agree).
            Defaults to 'color'.
        channel_order (str): 'rgb' or 'bgr', per date. Defaults to 'rgb'.
            With ``color_type='unchanged'`` and the cv2 or pillow backend,
            3- and 4-channel images are converted to this order as well.
        imdecode_backend (str): The :func:`mmcv.imfrombytes` backend:
            'cv2', 'pillow', 'turbojpeg' or 'tifffile'. Defaults to 'cv2'.
        backend_args (dict, optional): Arguments to instantiate the file
            backend, see :func:`mmengine.fileio.get`. Defaults to None.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 channel_order: str = 'rgb',
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        if channel_order not in ('rgb', 'bgr'):
            raise ValueError("channel_order must be 'rgb' or 'bgr'; got "
                             f'{channel_order!r}')
        self.to_float32 = to_float32
        self.color_type = color_type
        self.channel_order = channel_order
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args.copy() if backend_args else None

    def load_date(self, filename: str, what: str = 'image') -> np.ndarray:
        """Decode one date as this transform does.

        Args:
            filename (str): The image file.
            what (str): What it is, for error messages. Defaults to 'image'.

        Returns:
            np.ndarray: ``H x W x C`` (``C`` >= 1), not converted to float.
        """
        content = _read_bytes(filename, self.backend_args, what)
        img = _decode(content, filename, self.color_type, self.channel_order,
                      self.imdecode_backend, what)
        if img.ndim == 2:
            img = img[..., None]
        elif (self.color_type == 'unchanged'
              and self.imdecode_backend in ('cv2', 'pillow')
              and self.channel_order == 'rgb' and img.shape[2] in (3, 4)):
            # mmcv returns BGR(A) for 'unchanged' whatever channel_order says
            img = np.ascontiguousarray(img[..., [2, 1, 0, 3][:img.shape[2]]])
        return img

    def transform(self, results: dict) -> dict:
        """Load date A and date B and concatenate them.

        Args:
            results (dict): Result dict with ``img_path`` and ``img_path2``.

        Returns:
            dict: The result dict with the ``H x W x 2C`` ``img``.
        """
        path_a, path_b = results['img_path'], results['img_path2']
        img_a = self.load_date(path_a, 'date-A image')
        img_b = self.load_date(path_b, 'date-B image')
        if img_a.shape != img_b.shape:
            raise ValueError(
                'the two dates of a pair must have the same height, width '
                f'and channels: date A {path_a} is {_shape_str(img_a)}, '
                f'date B {path_b} is {_shape_str(img_b)}')
        if img_a.dtype != img_b.dtype:
            raise ValueError(
                f'the two dates of a pair must have the same dtype: date A '
                f'{path_a} is {img_a.dtype}, date B {path_b} is '
                f'{img_b.dtype}')
        return self._put_pair(results, img_a, img_b)

    def _put_pair(self, results: dict, img_a: np.ndarray,
                  img_b: np.ndarray) -> dict:
        img = np.concatenate([img_a, img_b], axis=2)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', "
                f"channel_order='{self.channel_order}', "
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')


@TRANSFORMS.register_module()
class ChangeInferencerLoader(LoadImagePairFromFile):
    """Load a pair given as two files or as two arrays, for
    :class:`~mmcd.apis.ChangeInferencer` (as mmseg's ``InferencerLoader``).

    File pairs (``img_path``, ``img_path2``) are loaded as by
    :class:`LoadImagePairFromFile`; array pairs (``img_a``, ``img_b``:
    ``H x W x C`` or ``H x W``, in the channel order the model was trained
    with, RGB for mmcd's configs) are checked and concatenated the same way.
    The inferencer builds it from the config's ``LoadImagePairFromFile``.

    Required Keys:

    - img_path and img_path2, or img_a and img_b

    Modified Keys:

    - img (np.uint8 or np.float32, ``H x W x 2C``)
    - img_shape
    - ori_shape

    Args:
        **kwargs: The arguments of :class:`LoadImagePairFromFile`.
    """

    def transform(self, results: dict) -> dict:
        """Put the ``H x W x 2C`` pair into ``results['img']``.

        Args:
            results (dict): Result dict with ``img_path`` and ``img_path2``,
                or with the arrays ``img_a`` and ``img_b`` (removed).

        Returns:
            dict: The result dict with the ``H x W x 2C`` ``img``.
        """
        if 'img_path' in results:
            return super().transform(results)
        imgs = []
        for key, what in (('img_a', 'date-A'), ('img_b', 'date-B')):
            img = np.asarray(results.pop(key))
            if img.ndim == 2:
                img = img[..., None]
            if img.ndim != 3:
                raise ValueError(f'the {what} array must be H x W or '
                                 f'H x W x C; got shape {img.shape}')
            imgs.append(img)
        if imgs[0].shape != imgs[1].shape or imgs[0].dtype != imgs[1].dtype:
            raise ValueError(
                'the two dates of a pair must have the same shape and dtype; '
                f'date A is {imgs[0].shape} {imgs[0].dtype}, date B is '
                f'{imgs[1].shape} {imgs[1].dtype}')
        return self._put_pair(results, *imgs)


def _shape_str(img: np.ndarray) -> str:
    h, w, c = img.shape
    return f'{h}x{w} with {c} channel{"s" if c != 1 else ""}'


def read_change_mask(path: str,
                     backend_args: Optional[dict] = None,
                     imdecode_backend: str = 'pillow'
                     ) -> Tuple[np.ndarray, bool]:
    """Read a change mask's raw values, as :class:`LoadChangeAnnotation`
    does.

    A palette image (PIL mode ``P``, e.g. a palette PNG) is read by its
    indices, as mmseg reads palette labels: its colours are only how a
    viewer shows the classes. Any other file is decoded as grayscale.

    Args:
        path (str): The mask file.
        backend_args (dict, optional): File backend arguments.
        imdecode_backend (str): :func:`mmcv.imfrombytes` backend for
            non-palette files. Defaults to 'pillow'.

    Returns:
        tuple[np.ndarray, bool]: The ``H x W`` uint8 raw values, and whether
        the file is a palette image.
    """
    content = _read_bytes(path, backend_args, 'change mask')
    raw = None
    try:
        with Image.open(io.BytesIO(content)) as img:
            if img.mode in ('P', 'PA'):
                raw = np.asarray(img.getchannel(0))
    except Exception:  # noqa: BLE001 (not for PIL: the decoder says why)
        raw = None
    palette = raw is not None
    if raw is None:
        raw = _decode(content, path, 'grayscale', 'rgb', imdecode_backend,
                      'change mask')
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[..., 0]
    if raw.ndim != 2:
        raise ValueError(f'change mask {path} decoded to shape '
                         f'{raw.shape}; expected a single-channel mask')
    if raw.dtype != np.uint8:
        if raw.min() < 0 or raw.max() > 255:
            raise ValueError(
                f'change mask {path} has values outside [0, 255] '
                f'(dtype {raw.dtype}); expected an 8-bit mask')
        raw = raw.astype(np.uint8)
    return raw, palette


@TRANSFORMS.register_module()
class LoadChangeAnnotation(BaseTransform):
    """Load a change mask and binarise it to 0 (unchanged) / 1 (changed).

    The mask file is decoded as grayscale; a palette image (PIL mode
    ``P``) is read by its indices instead of its colours, as mmseg reads
    palette labels (:func:`read_change_mask`). How its raw values encode
    change is the dataset's ``label_encoding`` (carried in each data info,
    like mmseg's ``reduce_zero_label``):

    - ``'0-255'``: change = value >= 128 (0/255 PNG/BMP, 0/255 JPEG with
      compression noise, e.g. LEVIR-CD, CDD's ``OUT``);
    - ``'0-1'``: change = value >= 1 (0/1 masks, also 0/1 JPEG whose
      compression leaves a few 2s).

    Each mask is checked against the encoding, so that a 0/1 mask read as
    '0-255' never silently becomes all background: with '0-255' a non-empty
    mask whose values are all < 128 raises, with '0-1' a mask holding values
    >= 128 raises. Empty (all-zero) masks are fine.

    Pixels whose raw value equals ``ignore_value`` become 255 (ignored by
    the loss and the metrics); by default no value is ignored, in particular
    255 means "changed" under '0-255'.

    Required Keys:

    - seg_map_path
    - label_encoding (optional; '0-255' when absent and not given here)
    - ignore_value (optional)
    - ori_shape (optional; checked against the mask size when present)

    Added Keys:

    - gt_seg_map (np.uint8, ``H x W``: 0, 1 or 255)
    - seg_fields

    Args:
        label_encoding (str, optional): '0-255' or '0-1'. Overrides the data
            info's ``label_encoding``. Defaults to None (use the data info's,
            else '0-255').
        ignore_value (int, optional): Raw mask value marking pixels to
            ignore (mapped to 255). Overrides the data info's
            ``ignore_value`` when not None. Defaults to None.
        imdecode_backend (str): The :func:`mmcv.imfrombytes` backend.
            Defaults to 'pillow' (as mmseg's ``LoadAnnotations``).
        backend_args (dict, optional): Arguments to instantiate the file
            backend, see :func:`mmengine.fileio.get`. Defaults to None.
    """

    def __init__(self,
                 label_encoding: Optional[str] = None,
                 ignore_value: Optional[int] = None,
                 imdecode_backend: str = 'pillow',
                 backend_args: Optional[dict] = None) -> None:
        if label_encoding is not None:
            check_label_encoding(label_encoding)
        self.label_encoding = label_encoding
        self.ignore_value = ignore_value
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args.copy() if backend_args else None

    def transform(self, results: dict) -> dict:
        """Load and binarise the change mask.

        Args:
            results (dict): Result dict with ``seg_map_path``.

        Returns:
            dict: The result dict with ``gt_seg_map``.
        """
        path = results['seg_map_path']
        encoding = self.label_encoding or results.get('label_encoding') \
            or '0-255'
        check_label_encoding(encoding)
        ignore_value = self.ignore_value if self.ignore_value is not None \
            else results.get('ignore_value')
        ignore_value = check_ignore_value(ignore_value, encoding)

        raw, palette = read_change_mask(path, self.backend_args,
                                        self.imdecode_backend)
        kind = 'palette mask (read by its indices)' if palette else 'mask'

        ori_shape = results.get('ori_shape')
        if ori_shape is not None and tuple(raw.shape) != tuple(
                ori_shape[:2]):
            raise ValueError(
                f'change mask {path} is {raw.shape[0]}x{raw.shape[1]} but '
                f'the image pair ({results.get("img_path")}, '
                f'{results.get("img_path2")}) is '
                f'{ori_shape[0]}x{ori_shape[1]}')

        valid = raw != ignore_value if ignore_value is not None else None
        values = raw[valid] if valid is not None else raw
        vmax = int(values.max()) if values.size else 0
        if encoding == '0-255' and 0 < vmax < 128:
            raise ValueError(
                f'change {kind} {path} is not empty but all its values are '
                f'< 128 (max {vmax}), so with label_encoding=\'0-255\' '
                '(change = value >= 128) it would become all "unchanged". '
                "It looks like a 0/1 mask: set label_encoding='0-1' on the "
                'dataset (or on LoadChangeAnnotation).')
        if encoding == '0-1' and vmax >= 128:
            raise ValueError(
                f'change {kind} {path} has values >= 128 (max {vmax}) but '
                "label_encoding='0-1' expects 0/1 values. It looks like a "
                "0/255 mask: set label_encoding='0-255' on the dataset (or "
                'on LoadChangeAnnotation)'
                + ('' if ignore_value is not None else
                   ', or set ignore_value if a value marks ignored pixels')
                + '.')

        gt = (raw >= _CHANGE_THRESHOLD[encoding]).astype(np.uint8)
        if valid is not None:
            gt[~valid] = 255
        results['gt_seg_map'] = gt
        results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in results['seg_fields']:
            results['seg_fields'].append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'label_encoding={self.label_encoding!r}, '
                f'ignore_value={self.ignore_value!r}, '
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')
