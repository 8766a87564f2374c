"""Windowed reading of whole scenes for the scene predictor.

GeoTIFF (any ``.tif``/``.tiff``) goes through rasterio, window by window, so
a scene larger than memory works; PNG/JPG/BMP scenes (never georeferenced)
are decoded whole with OpenCV.
"""
import ctypes
import os.path as osp
import sys
import warnings
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from mmcd.utils.writers import (PLAIN_SUFFIXES, RASTER_SUFFIXES,
                                import_rasterio)

Window = Tuple[int, int, int, int]  # x0, y0, width, height


def _suffix(path: str) -> str:
    return osp.splitext(path)[1].lower()


class RasterSceneReader:
    """Read windows of a raster (GeoTIFF) scene through rasterio.

    Args:
        path (str): The raster file.
        bands (Sequence[int], optional): 1-based bands to read, in the
            model's channel order. Defaults to None (all bands).
        nodata (float, optional): Extra nodata value: pixels whose selected
            bands all equal it are invalid, besides those the file masks
            (its nodata value, mask band or alpha). Defaults to None.
    """

    def __init__(self, path: str, bands: Optional[Sequence[int]] = None,
                 nodata: Optional[float] = None) -> None:
        rasterio = import_rasterio(f'reading the scene {path}')
        self.path = path
        with warnings.catch_warnings():
            warnings.simplefilter('ignore',
                                  rasterio.errors.NotGeoreferencedWarning)
            self.ds = rasterio.open(path)
        self.bands = list(bands) if bands else list(
            range(1, self.ds.count + 1))
        bad = [b for b in self.bands if not 1 <= b <= self.ds.count]
        if bad:
            raise ValueError(f'scene {path} has {self.ds.count} bands; '
                             f'bands {bad} do not exist (bands are 1-based)')
        dtypes = {self.ds.dtypes[b - 1] for b in self.bands}
        if dtypes != {'uint8'}:
            raise ValueError(
                f'scene {path} has {"/".join(sorted(dtypes))} pixels; the '
                'model takes 8-bit images (0..255). Convert it first, e.g. '
                'gdal_translate -ot Byte -scale MIN MAX 0 255')
        self.height, self.width = self.ds.height, self.ds.width
        self.channels = len(self.bands)
        self.nodata = nodata
        all_valid = rasterio.enums.MaskFlags.all_valid
        self.has_nodata = nodata is not None or any(
            flags != [all_valid]
            for flags in (self.ds.mask_flag_enums[b - 1]
                          for b in self.bands))

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
        """The ``h x w x C`` uint8 pixels of a window."""
        return np.moveaxis(
            self.ds.read(self.bands, window=self._window(window)), 0, -1)

    def valid(self, window: Window, pixels: Optional[np.ndarray] = None
              ) -> np.ndarray:
        """Bool ``h x w``: False where every selected band is nodata."""
        valid = self.ds.read_masks(
            self.bands, window=self._window(window)).max(axis=0) > 0
        if self.nodata is not None:
            if pixels is None:
                pixels = self.read(window)
            valid &= ~np.all(pixels == self.nodata, axis=2)
        return valid

    def close(self) -> None:
        self.ds.close()


class ArraySceneReader:
    """A plain (not georeferenced) scene decoded whole into memory.

    Args:
        image (np.ndarray): ``H x W x C`` image.
        path (str): Its file (for messages).
        nodata (float, optional): Pixels whose channels all equal it are
            invalid. Defaults to None.
    """

    georeferenced = False
    crs = None

    def __init__(self, image: np.ndarray, path: str,
                 nodata: Optional[float] = None) -> None:
        if image.ndim == 2:
            image = image[..., None]
        self.image, self.path, self.nodata = image, path, nodata
        self.height, self.width, self.channels = image.shape
        self.has_nodata = nodata is not None
        from affine import Affine
        self.transform = Affine.identity()

    def read(self, window: Window) -> np.ndarray:
        x0, y0, w, h = window
        return self.image[y0:y0 + h, x0:x0 + w]

    def valid(self, window: Window, pixels: Optional[np.ndarray] = None
              ) -> np.ndarray:
        pixels = self.read(window) if pixels is None else pixels
        if self.nodata is None:
            return np.ones(pixels.shape[:2], bool)
        return ~np.all(pixels == self.nodata, axis=2)

    def close(self) -> None:
        pass


def open_scene(path: str, load_image: Callable, bands=None, nodata=None):
    """A reader for a scene file: rasterio for TIFF, ``load_image`` (the
    model's own decoding) for PNG/JPG/BMP."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'scene not found: {path}')
    suffix = _suffix(path)
    if suffix in RASTER_SUFFIXES:
        return RasterSceneReader(path, bands, nodata)
    if suffix in PLAIN_SUFFIXES:
        image = load_image(path)
        if bands:
            image = image[..., [b - 1 for b in bands]]
        return ArraySceneReader(image, path, nodata)
    raise ValueError(f'scene {path}: unsupported format {suffix!r}; use '
                     f'{", ".join(RASTER_SUFFIXES + PLAIN_SUFFIXES)}')


def check_same_grid(a, b) -> None:
    """Refuse two scenes that do not share size, bands, CRS and transform."""
    names = f'date A {a.path} and date B {b.path}'
    if (a.height, a.width) != (b.height, b.width):
        raise ValueError(
            f'{names} differ in size: {a.width}x{a.height} and '
            f'{b.width}x{b.height} (width x height); the two dates must be '
            'co-registered on one pixel grid')
    if a.channels != b.channels:
        raise ValueError(f'{names} have {a.channels} and {b.channels} '
                         'bands; select the same bands of both')
    if a.crs != b.crs:
        raise ValueError(
            f'{names} have different CRS: {a.crs} and {b.crs}; reproject '
            'one onto the other\'s grid first (e.g. gdalwarp)')
    if not a.transform.almost_equals(b.transform):
        raise ValueError(
            f'{names} have different geotransforms (origin or pixel '
            f'size): {tuple(a.transform)[:6]} and {tuple(b.transform)[:6]}; '
            'resample one onto the other\'s grid first (e.g. gdalwarp '
            '-te/-tr)')


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
