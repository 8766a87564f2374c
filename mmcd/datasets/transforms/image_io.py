"""Read images and change masks with their bands and dtype as stored.

One reader for the pair loader, the change-mask loader, the inferencer and
the scene predictor: GDAL (rasterio) decodes GeoTIFF/TIFF, PNG (8 and 16
bit), BMP and WebP; JPEG is decoded by Pillow's libjpeg-turbo, the decoder
OpenCV uses, so 8-bit JPEG datasets (CDD) keep the pixel values they were
trained with (the libjpeg 9 inside rasterio's GDAL upsamples chroma
differently, up to 6 levels). Nothing is converted: no 8-bit rescaling, no
alpha premultiplication, no EXIF rotation (of an image or of its mask), no
grey-to-colour expansion. Files come through mmengine's file backends
(``backend_args``), so they can live anywhere mmengine reads.
"""
import io
import warnings
from typing import List, Optional, Sequence

import mmengine.fileio as fileio
import numpy as np

#: The pixel types read and trained on (as numpy names).
SUPPORTED_DTYPES = ('uint8', 'uint16', 'int16', 'float32')

_JPEG_MAGIC = b'\xff\xd8\xff'


def read_bytes(filename: str,
               backend_args: Optional[dict] = None,
               what: str = 'image') -> bytes:
    """The bytes of ``filename`` through mmengine's file backends.

    Raises:
        FileNotFoundError: Naming ``what`` and the file.
        OSError: For any other backend error, naming the file.
    """
    try:
        return fileio.get(filename, backend_args=backend_args)
    except FileNotFoundError as e:
        raise FileNotFoundError(f'{what} not found: {filename}') from e
    except Exception as e:  # noqa: BLE001 (backend-specific errors)
        raise OSError(f'cannot read {what} {filename}: {e}') from e


def _band_word(n: int) -> str:
    return f'{n} band{"s" if n != 1 else ""}'


def select_bands(num_bands: int,
                 dtype,
                 filename: str,
                 bands: Optional[Sequence[int]] = None,
                 expected_dtype: Optional[str] = None,
                 what: str = 'image',
                 bands_option: str = 'bands',
                 dtype_option: str = 'dtype') -> List[int]:
    """Check a file's band count and dtype against a config; return the
    1-based bands to read.

    Args:
        num_bands (int): Bands the file holds.
        dtype: The file's pixel type (numpy dtype or its name).
        filename (str): The file, for messages.
        bands (Sequence[int], optional): 1-based bands (GDAL order) the
            config asks for; None: all of them.
        expected_dtype (str, optional): The dtype the config expects; None:
            any of :data:`SUPPORTED_DTYPES`.
        what (str): What the file is, for messages. Defaults to 'image'.
        bands_option (str): How messages name the bands setting (e.g.
            ``'--bands'``). Defaults to 'bands'.
        dtype_option (str): How messages name the dtype setting. Defaults to
            'dtype'.

    Returns:
        list[int]: The 1-based bands to read, in order.

    Raises:
        ValueError: Naming the file, what it holds, what the config expects
            and what to change.
    """
    found = np.dtype(dtype).name
    if found not in SUPPORTED_DTYPES:
        raise ValueError(
            f'{what} {filename} is {found}; supported pixel types are '
            f'{", ".join(SUPPORTED_DTYPES)}: convert the file (e.g. '
            'gdal_translate -ot Float32)')
    if expected_dtype is not None and found != np.dtype(expected_dtype).name:
        raise ValueError(
            f'{what} {filename} is {found} but the config expects '
            f'{np.dtype(expected_dtype).name}: set {dtype_option}='
            f"'{found}' (and data_preprocessor mean/std for its value range, "
            'see tools/analysis_tools/band_stats.py) if the data are '
            f'{found}, or convert the file')
    if bands is None:
        return list(range(1, num_bands + 1))
    out_of_range = [b for b in bands if not 1 <= b <= num_bands]
    if out_of_range:
        raise ValueError(
            f'{what} {filename} has {_band_word(num_bands)} but '
            f'{bands_option}={list(bands)} asks for band(s) '
            f'{out_of_range}: choose {bands_option} among 1..{num_bands} '
            '(1-based, GDAL order) or use another file')
    return list(bands)


def check_band_list(bands: Optional[Sequence[int]],
                    option: str = 'bands') -> Optional[List[int]]:
    """Validate a ``bands`` setting (None, or distinct ints >= 1)."""
    if bands is None:
        return None
    if isinstance(bands, (int, str)) or not all(
            isinstance(b, (int, np.integer)) and not isinstance(b, bool)
            for b in bands) or not len(bands):
        raise ValueError(f'{option} must be None or a non-empty list of '
                         f'1-based band numbers; got {bands!r}')
    bands = [int(b) for b in bands]
    if min(bands) < 1:
        raise ValueError(f'{option} are 1-based (GDAL order: the first '
                         f'band is 1); got {bands}')
    if len(set(bands)) != len(bands):
        raise ValueError(f'{option} lists a band twice: {bands}')
    return bands


def _read_jpeg(content: bytes, filename: str, what: str) -> np.ndarray:
    from PIL import Image
    try:
        with Image.open(io.BytesIO(content)) as img:
            # no ImageOps.exif_transpose: pixels as stored, like the mask
            mode = img.mode
            if mode not in ('L', 'RGB'):
                raise ValueError(f'{mode} JPEG; only grey (L) and RGB '
                                 'JPEGs are read')
            arr = np.asarray(img)
    except Exception as e:  # noqa: BLE001 (decoder-specific errors)
        raise OSError(f'cannot decode {what} {filename} (corrupt or not an '
                      f'image?): {type(e).__name__}: {e}') from e
    return arr[..., None] if arr.ndim == 2 else arr


def read_image(filename: str,
               backend_args: Optional[dict] = None,
               what: str = 'image',
               bands: Optional[Sequence[int]] = None,
               expected_dtype: Optional[str] = None,
               expand_palette: bool = True) -> np.ndarray:
    """Read an image with its bands and dtype as stored.

    Args:
        filename (str): The file (any mmengine file backend).
        backend_args (dict, optional): mmengine file backend arguments.
        what (str): What the file is, for messages. Defaults to 'image'.
        bands (Sequence[int], optional): 1-based bands to read, in this
            order; None: all. Checked by :func:`select_bands`.
        expected_dtype (str, optional): Refuse another dtype (see
            :func:`select_bands`). Defaults to None (any supported).
        expand_palette (bool): Give a palette (colour-table) image as its
            RGB colours (3 bands); False: its indices (1 band), as change
            masks are read. Defaults to True.

    Returns:
        np.ndarray: ``H x W x C`` in the file's dtype (C = the bands read).

    Raises:
        FileNotFoundError | OSError: Missing or undecodable file, named.
        ValueError: Band or dtype mismatch (see :func:`select_bands`).
    """
    return decode_image(read_bytes(filename, backend_args, what), filename,
                        what, bands, expected_dtype, expand_palette)


def decode_image(content: bytes,
                 filename: str,
                 what: str = 'image',
                 bands: Optional[Sequence[int]] = None,
                 expected_dtype: Optional[str] = None,
                 expand_palette: bool = True) -> np.ndarray:
    """:func:`read_image` of a file's bytes (``filename`` names it in
    messages)."""
    if not content:
        raise OSError(f'cannot decode {what} {filename} (empty file)')
    if content[:3] == _JPEG_MAGIC:
        img = _read_jpeg(content, filename, what)
        sel = select_bands(img.shape[2], img.dtype, filename, bands,
                           expected_dtype, what)
        if sel != list(range(1, img.shape[2] + 1)):
            img = np.ascontiguousarray(img[..., [b - 1 for b in sel]])
        return img

    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile
    try:
        # GDAL 3.10's whole-image PNG decoding returns a truncated file's
        # missing rows as garbage without an error; libpng's row reader
        # reports it
        with warnings.catch_warnings(), rasterio.Env(
                GDAL_PNG_WHOLE_IMAGE_OPTIM='NO'):
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            with MemoryFile(content) as mem, mem.open() as ds:
                palette = (expand_palette and ds.count == 1
                           and ds.colorinterp[0] == ColorInterp.palette)
                if palette:
                    colormap = ds.colormap(1)
                    sel = select_bands(3, ds.dtypes[0], filename, bands,
                                       expected_dtype, what)
                    index = ds.read(1)
                    lut = np.zeros((max(256, max(colormap) + 1), 3), np.uint8)
                    for i, rgba in colormap.items():
                        lut[i] = rgba[:3]
                    img = lut[index][..., [b - 1 for b in sel]]
                else:
                    sel = select_bands(ds.count, ds.dtypes[0], filename, bands,
                                       expected_dtype, what)
                    if len(set(ds.dtypes)) > 1:
                        raise ValueError(
                            f'{what} {filename} mixes band types '
                            f'{sorted(set(ds.dtypes))}; convert it to one')
                    img = np.moveaxis(ds.read(sel), 0, -1)
    except (ValueError, FileNotFoundError):
        raise
    except (rasterio.errors.RasterioError, OSError) as e:
        raise OSError(f'cannot decode {what} {filename} (corrupt or not an '
                      f'image?): {type(e).__name__}: {e}') from e
    if img.size == 0:
        raise OSError(f'cannot decode {what} {filename} (empty image)')
    return np.ascontiguousarray(img)


def read_mask(filename: str,
              backend_args: Optional[dict] = None,
              what: str = 'change mask',
              content: Optional[bytes] = None) -> np.ndarray:
    """Read a change mask's raw values (``H x W`` uint8) with the image
    reader.

    A palette image is read by its indices. A colour (RGB/RGBA) mask is
    made grey as Pillow's ``convert('L')`` does (luma, alpha ignored), so an
    RGB-saved 0/255 mask, JPEG chroma noise included, reads as before;
    a grey + alpha mask by its grey band. ``content``: the file's bytes when
    already read.

    Raises:
        ValueError: Naming the file, for a mask with other channel counts or
            values outside [0, 255].
    """
    if content is None:
        content = read_bytes(filename, backend_args, what)
    raw = decode_image(content, filename, what, expand_palette=False)
    if raw.shape[2] == 2:
        raw = raw[..., :1]
    elif raw.shape[2] in (3, 4) and raw.dtype == np.uint8:
        from PIL import Image
        raw = np.asarray(
            Image.fromarray(np.ascontiguousarray(
                raw[..., :3])).convert('L'))[..., None]
    if raw.shape[2] != 1:
        raise ValueError(f'{what} {filename} has {raw.shape[2]} bands '
                         f'({raw.dtype}); expected a single-channel mask')
    raw = raw[..., 0]
    if raw.dtype != np.uint8:
        if raw.min() < 0 or raw.max() > 255:
            raise ValueError(f'{what} {filename} has values outside [0, 255] '
                             f'(dtype {raw.dtype}); expected an 8-bit mask')
        raw = raw.astype(np.uint8)
    return raw


def display_rgb(img: np.ndarray) -> np.ndarray:
    """An 8-bit RGB picture of one date, for overlays.

    The first three channels (one repeated for grey; for multispectral data
    the first three bands as loaded), uint8 as they are, other types
    stretched per band between their 2nd and 98th percentiles.
    """
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    img = img[..., :3] if img.shape[2] >= 3 else np.repeat(
        img[..., :1], 3, axis=2)
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    out = np.empty(img.shape, np.uint8)
    for c in range(3):
        band = img[..., c].astype(np.float64)
        finite = band[np.isfinite(band)]
        lo, hi = np.percentile(finite, (2, 98)) if finite.size else (0, 1)
        scaled = (band - lo) / max(hi - lo, 1e-12) * 255
        out[..., c] = np.clip(np.nan_to_num(scaled), 0, 255).round()
    return out
