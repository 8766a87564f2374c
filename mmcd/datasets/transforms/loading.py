"""Loading transforms for bi-temporal change detection.

The two dates travel through the pipeline as ONE ``H x W x 2C`` array in
``results['img']`` (date A's ``C`` channels first), so that mmcv/mmseg
geometric transforms, ``SegDataPreProcessor``, ``PackSegInputs`` and slide
inference work unchanged. The change mask is ``results['gt_seg_map']``
(uint8: 0 = unchanged, 1 = changed, 255 = ignore).
"""
import io
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from mmcd.registry import TRANSFORMS
from .image_io import (SUPPORTED_DTYPES, check_band_list, read_bytes,
                       read_image, read_mask)

LABEL_ENCODINGS = ('0-255', '0-1', '1-2')
"""Raw change-mask encodings: ``'0-255'`` means change = value >= 128,
``'0-1'`` means change = value >= 1, ``'1-2'`` means 1 = unchanged and
2 = changed (OSCD's ``<city>-cm.tif``)."""

_CHANGE_THRESHOLD = {'0-255': 128, '0-1': 1, '1-2': 2}
# the raw value meaning "unchanged" (never a valid ignore_value)
_UNCHANGED = {'0-255': 0, '0-1': 0, '1-2': 1}


def check_label_encoding(label_encoding: str) -> str:
    """Validate a ``label_encoding`` value and return it."""
    if label_encoding not in LABEL_ENCODINGS:
        raise ValueError(
            f'label_encoding must be one of {LABEL_ENCODINGS} ("0-255": '
            'change = value >= 128, "0-1": change = value >= 1, "1-2": '
            '1 = unchanged, 2 = changed); got '
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
    unchanged = _UNCHANGED.get(label_encoding, 0)
    if ignore_value == unchanged:
        raise ValueError(
            f'ignore_value={unchanged} would ignore every unchanged pixel; '
            f'{unchanged} means "unchanged" under label_encoding='
            f'{label_encoding!r}')
    if (label_encoding, ignore_value) in (('0-255', 255), ('0-1', 1),
                                          ('1-2', 2)):
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


_OLD_DECODE_BACKENDS = ('cv2', 'pillow', 'turbojpeg', 'tifffile')
_COLOR_TYPES = ('color', 'grayscale', 'unchanged')


def _luma(img: np.ndarray) -> np.ndarray:
    """``H x W x 1`` luma (0.299 R + 0.587 G + 0.114 B) in ``img``'s dtype."""
    grey = img.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        grey = np.clip(np.rint(grey), info.min, info.max)
    return grey.astype(img.dtype)[..., None]


def put_pair(results: dict, img_a: np.ndarray, img_b: np.ndarray,
             to_float32: bool = False) -> dict:
    """Set ``results['img']`` to the ``H x W x 2C`` pair (date A first;
    float32 if ``to_float32``) and its ``img_shape`` / ``ori_shape``."""
    img = np.concatenate([img_a, img_b], axis=2)
    if to_float32:
        img = img.astype(np.float32)
    results['img'] = img
    results['img_shape'] = img.shape[:2]
    results['ori_shape'] = img.shape[:2]
    return results


@TRANSFORMS.register_module()
class LoadImagePairFromFile(BaseTransform):
    """Load the two dates of a change-detection pair as one ``H x W x 2C``
    image, bands and dtype as stored.

    Date A (``img_path``) and date B (``img_path2``) are read with the same
    settings by :func:`~mmcd.datasets.transforms.image_io.read_image`
    (GDAL for GeoTIFF/TIFF/PNG/BMP/WebP, libjpeg-turbo for JPEG; no 8-bit
    rescaling, alpha premultiplication or EXIF rotation) and concatenated
    along the channel axis, date A first: ``results['img'][..., :C]`` is
    date A, ``results['img'][..., C:]`` date B.

    What a date is:

    - ``bands=[...]``: those bands (1-based, GDAL order), e.g.
      ``[4, 3, 2]`` for Sentinel-2's RGB or ``list(range(1, 14))`` for its
      13 bands; the model's ``in_channels`` is ``len(bands)`` (Siamese) or
      twice that (early fusion), the data_preprocessor has ``2 * len(bands)``
      mean/std values.
    - ``color_type='color'`` (the default without ``bands``): an RGB file,
      exactly 3 bands. A grey file is an error unless ``grey_to_rgb=True``
      (its band repeated into R, G, B); a file with 2 or 4+ bands (alpha,
      NIR, multispectral) is an error saying which ``bands`` to set.
    - ``color_type='unchanged'``: every band as stored.
    - ``color_type='grayscale'``: 1 band; an RGB file is converted to luma.

    A file whose band count or dtype differs from this is an error naming
    the file, what it holds, what is expected and what to change; so is a
    pair whose dates differ (e.g. grey date A, RGB date B).

    Required Keys:

    - img_path
    - img_path2

    Modified Keys:

    - img (``H x W x 2C``, the files' dtype, or float32 with ``to_float32``)
    - img_shape
    - ori_shape

    Args:
        to_float32 (bool): Whether to convert the loaded pair to float32.
            Defaults to False.
        color_type (str, optional): 'color', 'unchanged' or 'grayscale', see
            above. Defaults to None: 'color' without ``bands``, the listed
            bands with them.
        channel_order (str): 'rgb' or 'bgr' (reverses a 3-band date).
            Defaults to 'rgb'.
        imdecode_backend (str, optional): Ignored (accepted for older
            configs: every file is read as described above, a warning says
            so). Defaults to None.
        backend_args (dict, optional): Arguments to instantiate the file
            backend, see :func:`mmengine.fileio.get`. Defaults to None.
        bands (list[int], optional): 1-based bands to read (GDAL order).
            Defaults to None.
        dtype (str, optional): The files' pixel type: 'uint8', 'uint16',
            'int16' or 'float32'; None accepts any of them (the two dates
            must still agree). Defaults to 'uint8'.
        grey_to_rgb (bool): With ``color_type='color'``, repeat a grey
            (1-band) date into 3 channels instead of refusing it. Defaults
            to False.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: Optional[str] = None,
                 channel_order: str = 'rgb',
                 imdecode_backend: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 bands: Optional[Sequence[int]] = None,
                 dtype: Optional[str] = 'uint8',
                 grey_to_rgb: bool = False) -> None:
        if channel_order not in ('rgb', 'bgr'):
            raise ValueError("channel_order must be 'rgb' or 'bgr'; got "
                             f'{channel_order!r}')
        if color_type is not None and color_type not in _COLOR_TYPES:
            raise ValueError(f'color_type must be one of {_COLOR_TYPES} or '
                             f'None; got {color_type!r}')
        if imdecode_backend is not None:
            if imdecode_backend not in _OLD_DECODE_BACKENDS:
                raise ValueError(
                    f'imdecode_backend={imdecode_backend!r} is not a decoder '
                    'mmcv had; it is ignored anyway: remove it')
            warnings.warn(
                f'LoadImagePairFromFile: imdecode_backend='
                f'{imdecode_backend!r} is ignored; images are read with '
                'their bands and dtype as stored (GDAL, libjpeg-turbo for '
                'JPEG). Remove it from the config.')
        if dtype is not None:
            if np.dtype(dtype).name not in SUPPORTED_DTYPES:
                raise ValueError(f'dtype must be one of {SUPPORTED_DTYPES} '
                                 f'or None; got {dtype!r}')
            dtype = np.dtype(dtype).name
        self.bands = check_band_list(bands)
        if color_type is None:
            color_type = 'unchanged' if self.bands else 'color'
        if self.bands and color_type == 'color' and len(self.bands) != 3:
            raise ValueError(
                f"color_type='color' reads 3 bands but bands={self.bands} "
                f"lists {len(self.bands)}: leave color_type unset (or "
                "'unchanged') to read the listed bands")
        if grey_to_rgb and color_type != 'color':
            raise ValueError("grey_to_rgb applies to color_type='color'; got "
                             f'color_type={color_type!r}')
        self.to_float32 = to_float32
        self.color_type = color_type
        self.channel_order = channel_order
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args.copy() if backend_args else None
        self.dtype = dtype
        self.grey_to_rgb = grey_to_rgb

    def load_date(self, filename: str, what: str = 'image') -> np.ndarray:
        """Read one date as this transform does (bands, dtype and colour
        checks included).

        Args:
            filename (str): The image file.
            what (str): What it is, for error messages. Defaults to 'image'.

        Returns:
            np.ndarray: ``H x W x C`` in the file's dtype (not converted to
            float).
        """
        img = read_image(filename, self.backend_args, what, self.bands,
                         self.dtype)
        c = img.shape[2]
        if self.color_type == 'color' and c != 3:
            if c == 1 and self.grey_to_rgb:
                img = np.repeat(img, 3, axis=2)
            elif c == 1:
                raise ValueError(
                    f'{what} {filename} is grey (1 band) but the loader '
                    "reads RGB (color_type='color'): set grey_to_rgb=True "
                    'on LoadImagePairFromFile to repeat a grey date into '
                    "R, G, B, or color_type='grayscale' to read both dates "
                    'grey (in_channels 1)')
            else:
                raise ValueError(
                    f'{what} {filename} has {c} bands but the loader reads '
                    "3-band RGB (color_type='color'): set bands=[1, 2, 3] "
                    'on LoadImagePairFromFile (or the 3 bands that are R, '
                    'G, B, e.g. [4, 3, 2] for Sentinel-2) to drop the others '
                    f"(alpha, NIR...), or color_type='unchanged' for all {c} "
                    f'(model in_channels {c} per date, data_preprocessor '
                    f'mean/std with {2 * c} values)')
        elif self.color_type == 'grayscale' and c != 1:
            if c != 3:
                raise ValueError(
                    f'{what} {filename} has {c} bands; '
                    "color_type='grayscale' reads 1 band or converts 3 "
                    '(RGB): set bands=[...] to choose them')
            img = _luma(img)
        if self.channel_order == 'bgr':
            if img.shape[2] != 3:
                raise ValueError(
                    f"channel_order='bgr' reverses 3-band dates; {what} "
                    f'{filename} has {img.shape[2]}: order the bands with '
                    'bands=[...] instead')
            img = np.ascontiguousarray(img[..., ::-1])
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
            hint = ''
            if img_a.shape[:2] == img_b.shape[:2] and sorted(
                    (img_a.shape[2], img_b.shape[2])) == [1, 3]:
                hint = ('; one date is grey and the other colour: set '
                        "color_type='color', grey_to_rgb=True on "
                        'LoadImagePairFromFile to repeat the grey one into '
                        "R, G, B, or color_type='grayscale' to read both "
                        'grey')
            raise ValueError(
                'the two dates of a pair must have the same height, width '
                f'and channels: date A {path_a} is {_shape_str(img_a)}, '
                f'date B {path_b} is {_shape_str(img_b)}{hint}')
        if img_a.dtype != img_b.dtype:
            raise ValueError(
                f'the two dates of a pair must have the same dtype: date A '
                f'{path_a} is {img_a.dtype}, date B {path_b} is '
                f'{img_b.dtype}')
        return put_pair(results, img_a, img_b, self.to_float32)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(bands={self.bands}, '
                f'dtype={self.dtype!r}, color_type={self.color_type!r}, '
                f'grey_to_rgb={self.grey_to_rgb}, '
                f'channel_order={self.channel_order!r}, '
                f'to_float32={self.to_float32}, '
                f'backend_args={self.backend_args})')


@TRANSFORMS.register_module()
class ChangeInferencerLoader(LoadImagePairFromFile):
    """Load a pair given as two files or as two arrays, for
    :class:`~mmcd.apis.ChangeInferencer` (as mmseg's ``InferencerLoader``).

    File pairs (``img_path``, ``img_path2``) are loaded as by
    :class:`LoadImagePairFromFile`; array pairs (``img_a``, ``img_b``:
    ``H x W x C`` or ``H x W``, the bands and dtype the model was trained
    with, RGB for mmcd's 8-bit configs) are taken as given: only their
    agreement is checked before they are concatenated.
    The inferencer builds it from the config's ``LoadImagePairFromFile``.

    Required Keys:

    - img_path and img_path2, or img_a and img_b

    Modified Keys:

    - img (``H x W x 2C``: the files' dtype, the arrays' dtype, or float32
      with ``to_float32``)
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
        return put_pair(results, *imgs, self.to_float32)


def _shape_str(img: np.ndarray) -> str:
    h, w, c = img.shape
    return f'{h}x{w} with {c} channel{"s" if c != 1 else ""}'


def read_change_mask(path: str,
                     backend_args: Optional[dict] = None,
                     imdecode_backend: Optional[str] = None
                     ) -> Tuple[np.ndarray, bool]:
    """Read a change mask's raw values, as :class:`LoadChangeAnnotation`
    does, with the image reader
    (:func:`~mmcd.datasets.transforms.image_io.read_mask`; no EXIF rotation,
    like the images).

    A palette image (e.g. a palette PNG) is read by its indices, as mmseg
    reads palette labels: its colours are only how a viewer shows the
    classes. A colour mask is made grey (luma).

    Args:
        path (str): The mask file.
        backend_args (dict, optional): File backend arguments.
        imdecode_backend (str, optional): Ignored (accepted for older
            callers).

    Returns:
        tuple[np.ndarray, bool]: The ``H x W`` uint8 raw values, and whether
        the file is a palette image.
    """
    content = read_bytes(path, backend_args, 'change mask')
    palette = False
    try:
        with Image.open(io.BytesIO(content)) as img:
            palette = img.mode in ('P', 'PA')
    except Exception:  # noqa: BLE001 (not for PIL: the reader says why)
        pass
    return read_mask(path, what='change mask', content=content), palette


@TRANSFORMS.register_module()
class LoadChangeAnnotation(BaseTransform):
    """Load a change mask and binarise it to 0 (unchanged) / 1 (changed).

    The mask file is read by the images' reader and made grey; a palette image
    (PIL mode ``P``) is read by its indices instead of its colours, as mmseg
    reads palette labels (:func:`read_change_mask`). How its raw values encode
    change is the dataset's ``label_encoding`` (carried in each data info, like
    mmseg's ``reduce_zero_label``):

    - ``'0-255'``: change = value >= 128 (0/255 PNG/BMP, 0/255 JPEG with
      compression noise, e.g. LEVIR-CD, CDD's ``OUT``);
    - ``'0-1'``: change = value >= 1 (0/1 masks, also 0/1 JPEG whose
      compression leaves a few 2s);
    - ``'1-2'``: 1 = unchanged, 2 = changed (OSCD's ``<city>-cm.tif``);
      any other value raises.

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
        label_encoding (str, optional): '0-255', '0-1' or '1-2'. Overrides
            the data info's ``label_encoding``. Defaults to None (use the
            data info's, else '0-255').
        ignore_value (int, optional): Raw mask value marking pixels to
            ignore (mapped to 255). Overrides the data info's
            ``ignore_value`` when not None. Defaults to None.
        imdecode_backend (str, optional): Ignored (accepted for older
            configs): masks are read by the images' reader, so an EXIF
            orientation never applies to one file and not another.
            Defaults to None.
        backend_args (dict, optional): Arguments to instantiate the file
            backend, see :func:`mmengine.fileio.get`. Defaults to None.
    """

    def __init__(self,
                 label_encoding: Optional[str] = None,
                 ignore_value: Optional[int] = None,
                 imdecode_backend: Optional[str] = None,
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

        raw, palette = read_change_mask(path, self.backend_args)
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
        if encoding == '1-2' and values.size:
            other = np.setdiff1d(np.unique(values), (1, 2))
            if other.size:
                raise ValueError(
                    f'change {kind} {path} has values {other[:5].tolist()} '
                    "but label_encoding='1-2' expects 1 (unchanged) and 2 "
                    '(changed) only. A 0/255 mask takes '
                    "label_encoding='0-255', a 0/1 mask '0-1'"
                    + ('' if ignore_value is not None else
                       '; set ignore_value if a value marks ignored pixels')
                    + '.')
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
                f'backend_args={self.backend_args})')
