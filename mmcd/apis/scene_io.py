"""Windowed reading of whole scenes for the scene predictor.

GeoTIFF (any ``.tif``/``.tiff``, any band count, uint8/uint16/int16/float32)
goes through rasterio, window by window, so a scene larger than memory works;
date B may be read on date A's grid through a ``WarpedVRT`` (``align``).
PNG/JPG/BMP scenes (never georeferenced) are decoded whole by the model's
loader.
"""
import ctypes
import os.path as osp
import sys
import warnings
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from mmcd.datasets.transforms.image_io import read_image, select_bands
from mmcd.utils.writers import (PLAIN_SUFFIXES, RASTER_SUFFIXES,
                                import_rasterio)

Window = Tuple[int, int, int, int]  # x0, y0, width, height


def _suffix(path: str) -> str:
    return osp.splitext(path)[1].lower()


Nodata = Union[None, float, Sequence[float]]


def _nodata_values(nodata: Nodata, channels: int, path: str
                   ) -> Optional[np.ndarray]:
    """``nodata`` as one value per channel (float64), or None."""
    if nodata is None:
        return None
    values = np.atleast_1d(np.asarray(nodata, np.float64))
    if values.ndim != 1 or len(values) not in (1, channels):
        raise ValueError(
            f'nodata for scene {path}: give one value (all bands) or one per '
            f'band used ({channels}); got {list(values)}')
    return np.broadcast_to(values, (channels,))


def _nodata_valid(pixels: np.ndarray, values: Optional[np.ndarray]
                  ) -> np.ndarray:
    """Bool ``h x w``: False where every channel holds its nodata value,
    and where any channel is NaN or infinite (float data)."""
    valid = np.ones(pixels.shape[:2], bool) if values is None else \
        ~np.all(pixels == values, axis=2)
    if pixels.dtype.kind == 'f':
        valid &= np.isfinite(pixels).all(axis=2)
    return valid


def fill_non_finite(pixels: np.ndarray) -> np.ndarray:
    """Non-finite float pixels (always invalid) set to 0, so that a NaN
    never reaches the model (it would spread over the blended tiles)."""
    if pixels.dtype.kind == 'f' and not np.isfinite(pixels).all():
        pixels = np.where(np.isfinite(pixels), pixels, 0).astype(
            pixels.dtype)
    return pixels


class RasterSceneReader:
    """Read windows of a raster (GeoTIFF) scene through rasterio.

    Pixels keep their stored type (uint8, uint16, int16 or float32); the
    model's data preprocessor normalises them as in training.

    With ``align_to``, the scene is read through rasterio's ``WarpedVRT``
    on the grid (CRS, transform, size) of ``align_to``, window by window
    (bounded memory, whatever the scenes' sizes); pixels outside this
    scene's footprint, or nodata in it, are invalid.

    Args:
        path (str): The raster file.
        bands (Sequence[int], optional): 1-based bands to read, in the
            model's channel order. Defaults to None (all bands).
        nodata (float | Sequence[float], optional): Extra nodata value(s),
            one for all bands or one per band read: pixels whose bands all
            hold their nodata value are invalid, besides those the file
            masks (its nodata values, mask band or alpha). Defaults to None.
        align_to (RasterSceneReader, optional): Read this scene on that
            scene's grid. Defaults to None.
        resampling (str): Resampling of ``align_to`` (a
            ``rasterio.enums.Resampling`` name). Defaults to 'bilinear'.
        expected_dtype (str, optional): Refuse another pixel type (the
            model's). Defaults to None (any supported).
        what (str): What the scene is, for messages. Defaults to 'scene'.
    """

    def __init__(self, path: str, bands: Optional[Sequence[int]] = None,
                 nodata: Nodata = None, align_to=None,
                 resampling: str = 'bilinear',
                 expected_dtype: Optional[str] = None,
                 what: str = 'scene') -> None:
        rasterio = import_rasterio(f'reading the scene {path}')
        self.path = path
        with warnings.catch_warnings():
            warnings.simplefilter('ignore',
                                  rasterio.errors.NotGeoreferencedWarning)
            self.ds = self.src = rasterio.open(path)
        try:
            if len(set(self.src.dtypes)) > 1:
                raise ValueError(f'{what} {path} mixes band types '
                                 f'{sorted(set(self.src.dtypes))}; convert '
                                 'it to one')
            #: The 1-based bands read, and their pixel type.
            self.bands = select_bands(
                self.src.count, self.src.dtypes[0], path, bands,
                expected_dtype, what, bands_option='--bands')
            self.dtype = self.src.dtypes[0]
            self.aligned = align_to is not None
            if self.aligned:
                self.ds = self._warped(align_to, resampling)
        except Exception:
            self.src.close()
            raise
        self.height, self.width = self.ds.height, self.ds.width
        #: Bands in the file, and those read.
        self.count, self.channels = self.src.count, len(self.bands)
        self.nodata = _nodata_values(nodata, self.channels, path)
        all_valid = rasterio.enums.MaskFlags.all_valid
        masked = any(self.src.mask_flag_enums[b - 1] != [all_valid]
                     for b in self.bands)
        # float data may hold NaN (always nodata)
        self.has_nodata = (self.aligned or nodata is not None or masked
                           or self.dtype.startswith('float'))

    def _warped(self, reference, resampling: str):
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT
        names = f'date B {self.path} and date A {reference.path}'
        if self.src.crs is None or reference.crs is None:
            raise ValueError(f'{names}: aligning (--align) needs both '
                             'scenes georeferenced (a CRS)')
        if resampling not in Resampling.__members__:
            raise ValueError(
                f'resampling {resampling!r} is not one of rasterio\'s: '
                f'{", ".join(Resampling.__members__)}')
        # the alpha band marks pixels outside this scene or nodata in it
        vrt = WarpedVRT(self.src, crs=reference.crs,
                        transform=reference.transform,
                        width=reference.width, height=reference.height,
                        resampling=Resampling[resampling], add_alpha=True)
        self._alpha = vrt.count
        return vrt

    @property
    def crs(self):
        return self.ds.crs

    @property
    def transform(self):
        return self.ds.transform

    @property
    def georeferenced(self) -> bool:
        from affine import Affine
        return (self.ds.crs is not None
                or self.ds.transform != Affine.identity())

    def _window(self, window: Window):
        from rasterio.windows import Window as RioWindow
        x0, y0, w, h = window
        return RioWindow(x0, y0, w, h)

    def read(self, window: Window) -> np.ndarray:
        """The ``h x w x C`` pixels of a window, as stored."""
        return np.moveaxis(
            self.ds.read(self.bands, window=self._window(window)), 0, -1)

    def valid(self, window: Window, pixels: Optional[np.ndarray] = None
              ) -> np.ndarray:
        """Bool ``h x w``: False where every selected band is nodata (or
        outside the scene, when aligned)."""
        if self.aligned:
            valid = self.ds.read(self._alpha,
                                 window=self._window(window)) > 0
        else:
            valid = self.ds.read_masks(
                self.bands, window=self._window(window)).max(axis=0) > 0
        if self.nodata is not None or self.dtype.startswith('float'):
            if pixels is None:
                pixels = self.read(window)
            valid &= _nodata_valid(pixels, self.nodata)
        return valid

    def close(self) -> None:
        self.ds.close()
        self.src.close()


class ArraySceneReader:
    """A plain (not georeferenced) scene decoded whole into memory.

    Args:
        image (np.ndarray): ``H x W x C`` image.
        path (str): Its file (for messages).
        nodata (float | Sequence[float], optional): Pixels whose channels
            all hold their nodata value are invalid. Defaults to None.
    """

    georeferenced = False
    crs = None

    def __init__(self, image: np.ndarray, path: str,
                 nodata: Nodata = None) -> None:
        if image.ndim == 2:
            image = image[..., None]
        self.image, self.path = image, path
        self.height, self.width, self.channels = image.shape
        self.count = self.channels
        self.dtype = image.dtype.name
        self.nodata = _nodata_values(nodata, self.channels, path)
        self.has_nodata = nodata is not None or image.dtype.kind == 'f'
        from affine import Affine
        self.transform = Affine.identity()

    def read(self, window: Window) -> np.ndarray:
        x0, y0, w, h = window
        return self.image[y0:y0 + h, x0:x0 + w]

    def valid(self, window: Window, pixels: Optional[np.ndarray] = None
              ) -> np.ndarray:
        return _nodata_valid(self.read(window) if pixels is None else pixels,
                             self.nodata)

    def close(self) -> None:
        pass


def open_scene(path: str, loader, what: str, bands=None, nodata=None,
               align_to=None, resampling: str = 'bilinear'):
    """A reader for a scene file: rasterio for TIFF (the bands of
    ``bands``, else those of the model's ``loader`` (a
    ``LoadImagePairFromFile``), else all, on the grid of ``align_to`` if
    given), and for PNG/JPG/BMP the model's own decoding
    (``loader.load_date``; with ``bands``, those bands of
    :func:`~mmcd.datasets.transforms.image_io.read_image`)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'scene not found: {path}')
    suffix = _suffix(path)
    if suffix in RASTER_SUFFIXES:
        return RasterSceneReader(path, bands or loader.bands, nodata,
                                 align_to, resampling, loader.dtype, what)
    if align_to is not None:
        raise ValueError(f'{what} {path}: aligning (--align) needs GeoTIFF '
                         'scenes; a PNG/JPG/BMP has no georeferencing')
    if suffix in PLAIN_SUFFIXES:
        if bands:
            image = read_image(path, loader.backend_args, what, bands,
                               loader.dtype)
        else:
            try:
                image = loader.load_date(path, what)
            except ValueError as e:  # the loader's band/dtype refusal
                raise ValueError(f'{e} (for a scene: --bands B1 B2 ..., or '
                                 '`bands=` of SceneChangePredictor)') from e
        return ArraySceneReader(image, path, nodata)
    raise ValueError(f'scene {path}: unsupported format {suffix!r}; use '
                     f'{", ".join(RASTER_SUFFIXES + PLAIN_SUFFIXES)}')


def check_same_grid(a, b, aligned: bool = False) -> None:
    """Refuse two scenes that do not share bands and pixel type and, unless
    ``b`` is ``aligned`` (read on ``a``'s grid), size, CRS and transform."""
    names = f'date A {a.path} and date B {b.path}'
    if a.channels != b.channels:
        raise ValueError(f'{names} have {a.channels} and {b.channels} '
                         'bands; select the same bands of both')
    if a.dtype != b.dtype:
        raise ValueError(f'{names} have {a.dtype} and {b.dtype} pixels; '
                         'the two dates must have the same pixel type')
    if aligned:
        return
    hint = (' or pass --align (align=True) to read date B on date A\'s '
            'grid')
    if (a.height, a.width) != (b.height, b.width):
        raise ValueError(
            f'{names} differ in size: {a.width}x{a.height} and '
            f'{b.width}x{b.height} (width x height); the two dates must be '
            'co-registered on one pixel grid (resample one onto the other\'s '
            f'grid first, e.g. gdalwarp,{hint})')
    if a.crs != b.crs:
        raise ValueError(
            f'{names} have different CRS: {a.crs} and {b.crs}; reproject '
            f'one onto the other\'s grid first (e.g. gdalwarp){hint}')
    if not a.transform.almost_equals(b.transform):
        raise ValueError(
            f'{names} have different geotransforms (origin or pixel '
            f'size): {tuple(a.transform)[:6]} and {tuple(b.transform)[:6]}; '
            'resample one onto the other\'s grid first (e.g. gdalwarp '
            f'-te/-tr){hint}')


def limit_heap_growth(threshold: int = 1 << 20) -> bool:
    """Return large blocks to the OS at once (glibc only; process-wide).

    glibc raises its mmap threshold each time a large block is freed, after
    which tile-sized arrays come from the heap, whose fragmentation grows
    with the number of tiles run. Fixing the mmap and trim thresholds at
    ``threshold`` bytes keeps a scene's memory flat.

    This changes the allocator of the whole process, so the library never
    calls it: ``tools/infer.py --scene`` does. A program running
    :class:`~mmcd.apis.SceneChangePredictor` on large scenes may call it
    once itself, or start Python with the same effect from the environment:
    ``MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_TRIM_THRESHOLD_=1048576``.

    Returns:
        bool: Whether it was applied (not on other C libraries).
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL('libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, threshold)) and bool(
        mallopt(m_trim_threshold, threshold))


def scene_gdal_env(cache_mb: int = 16):
    """GDAL settings for a scene: a small block cache (GDAL's default is 5%
    of RAM, which would grow with the scene; output blocks are written
    whole, so the cache only saves re-reading input blocks) and nodata
    masks inside the GeoTIFF (no ``.msk`` side file)."""
    rasterio = import_rasterio('reading and writing GeoTIFF scenes')
    return rasterio.Env(GDAL_CACHEMAX=cache_mb, GDAL_TIFF_INTERNAL_MASK=True)
