"""Windowed reading and writing of whole scenes for the scene predictor.

GeoTIFF (any ``.tif``/``.tiff``) goes through rasterio, window by window, so
a scene larger than memory works; PNG/JPG/BMP scenes (never georeferenced)
are decoded whole with OpenCV.
"""
import ctypes
import json
import os
import os.path as osp
import sys
import warnings
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

RASTER_SUFFIXES = ('.tif', '.tiff')
PLAIN_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')
#: Compressions that would alter a 0/255 mask; replaced by deflate.
LOSSY_COMPRESSIONS = ('jpeg', 'webp', 'lerc', 'lerc_deflate', 'lerc_zstd',
                      'jxl')

Window = Tuple[int, int, int, int]  # x0, y0, width, height


def import_rasterio(why: str):
    """Import rasterio or say how to install it."""
    try:
        import rasterio
    except ImportError as e:
        raise ImportError(
            f'{why} needs rasterio, an optional dependency of mmcd: '
            'pip install rasterio') from e
    return rasterio


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
        return self.ds.crs is not None or self.ds.transform != Affine.identity()

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
    with the number of tiles run: about +60 MB over 8x the scene width in
    ``scene_benchmark.py``. Fixing the mmap and trim thresholds at
    ``threshold`` bytes keeps a scene's memory flat. Returns whether it was
    applied (not on other C libraries).
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


class RasterSceneWriter:
    """Write blocks of a single-band uint8 raster through rasterio.

    The CRS, transform and compression are the reference scene's; a lossy
    compression is replaced by deflate, so that 0/255 and probability values
    are stored exactly. The file is tiled (the reference's blocks if it is
    tiled, else 512 x 512) and written one whole row of blocks of a stripe
    at a time, so no compressed block is ever rewritten. Invalid (nodata)
    pixels go into the GeoTIFF's mask when ``with_mask`` (internal to the
    file when written under :func:`scene_gdal_env`).

    Args:
        path (str): Output file.
        reference (RasterSceneReader | ArraySceneReader): The input scene.
        with_mask (bool): Write a nodata mask. Defaults to False.
    """

    def __init__(self, path: str, reference, with_mask: bool = False) -> None:
        rasterio = import_rasterio(f'writing {path}')
        profile = dict(driver='GTiff', height=reference.height,
                       width=reference.width, count=1, dtype='uint8',
                       BIGTIFF='IF_SAFER', tiled=True, blockxsize=512,
                       blockysize=512)
        if isinstance(reference, RasterSceneReader):
            src = reference.ds.profile
            profile.update(crs=src.get('crs'), transform=src.get('transform'))
            keys = ['compress', 'predictor', 'zlevel']
            if src.get('tiled'):
                keys += ['blockxsize', 'blockysize']
            for key in keys:
                if src.get(key) is not None:
                    profile[key] = src[key]
            if str(profile.get('compress', '')).lower() in \
                    LOSSY_COMPRESSIONS:
                profile['compress'] = 'deflate'
            if profile.get('predictor') not in (None, 1, 2):
                profile.pop('predictor')  # floating-point predictor
        self.ds = rasterio.open(path, 'w', **profile)
        self.block_height, self.block_width = self.ds.block_shapes[0]
        self.with_mask = with_mask
        self.path = path
        self._pending = []  # rows of the current stripe not yet written
        self._pending_x0 = self._pending_y0 = 0

    def write(self, x0: int, y0: int, values: np.ndarray,
              valid: np.ndarray) -> None:
        """Write ``values`` (and ``valid`` into the mask) at ``(x0, y0)``.

        Stripes (column ranges) come one after the other, each from its top
        row down; rows are held back until a whole row of blocks is there.
        """
        if self._pending and x0 != self._pending_x0:  # a new stripe
            self._flush(self._pending_y0 +
                        sum(len(v) for v, _ in self._pending))
        if not self._pending:
            self._pending_x0, self._pending_y0 = x0, y0
        self._pending.append((values, valid))
        end = y0 + values.shape[0]
        self._flush(end if end == self.ds.height else
                    end - end % self.block_height)

    def _flush(self, until: int) -> None:
        """Write the pending rows above row ``until``."""
        from rasterio.windows import Window as RioWindow
        rows = until - self._pending_y0
        if rows <= 0 or not self._pending:
            return
        values = np.concatenate([v for v, _ in self._pending])
        valid = np.concatenate([m for _, m in self._pending])
        window = RioWindow(self._pending_x0, self._pending_y0,
                           values.shape[1], rows)
        self.ds.write(values[None, :rows], window=window)
        if self.with_mask:
            self.ds.write_mask(valid[:rows].astype(np.uint8) * 255,
                               window=window)
        self._pending = [(values[rows:], valid[rows:])] \
            if rows < len(values) else []
        self._pending_y0 = until

    def close(self) -> None:
        if self._pending:
            self._flush(self.ds.height)
        self.ds.close()


class ImageSceneWriter:
    """Collect a plain scene in memory and save it as PNG at the end
    (grey + alpha, alpha 0 on nodata, when ``with_mask``).

    Args:
        path (str): Output ``.png`` file.
        reference: The input scene (its size is used).
        with_mask (bool): Save nodata as transparent. Defaults to False.
    """

    block_width = 1

    def __init__(self, path: str, reference, with_mask: bool = False) -> None:
        self.path, self.with_mask = path, with_mask
        self.values = np.zeros((reference.height, reference.width), np.uint8)
        self.alpha = np.zeros_like(self.values) if with_mask else None

    def write(self, x0: int, y0: int, values: np.ndarray,
              valid: np.ndarray) -> None:
        rows = slice(y0, y0 + values.shape[0])
        cols = slice(x0, x0 + values.shape[1])
        self.values[rows, cols] = values
        if self.with_mask:
            self.alpha[rows, cols] = valid * np.uint8(255)

    def close(self) -> None:
        if self.with_mask:
            Image.fromarray(np.dstack([self.values, self.alpha]),
                            'LA').save(self.path)
        else:
            Image.fromarray(self.values).save(self.path)


def open_scene_writer(path: str, reference, with_mask: bool):
    """A writer for ``path``: GeoTIFF/TIFF through rasterio, or PNG."""
    suffix = _suffix(path)
    if suffix in RASTER_SUFFIXES:
        return RasterSceneWriter(path, reference, with_mask)
    if reference.georeferenced:
        raise ValueError(
            f'output {path}: the input scenes are georeferenced, so the '
            'output must be a GeoTIFF (.tif) to keep CRS and transform')
    if suffix == '.png':
        return ImageSceneWriter(path, reference, with_mask)
    raise ValueError(f'output {path}: write change maps as .tif or .png '
                     f'(lossless), not {suffix!r}')


def _ring_area(ring) -> float:
    xy = np.asarray(ring, dtype=np.float64)
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))


def write_change_polygons(source, transform, crs, path: str,
                          min_area_px: float = 0) -> int:
    """Write the changed areas of a 0/255 mask as GeoJSON polygons.

    Polygons come from GDAL's polygonize (``rasterio.features.shapes``),
    which streams a raster band, so the mask need not fit in memory. Each
    feature has ``area`` (square CRS units; pixels without georeferencing)
    and ``area_px`` (pixels). Coordinates are in the scene's CRS, named in
    the legacy GeoJSON ``crs`` member.

    Args:
        source (np.ndarray | rasterio Band): The 0/255 change mask.
        transform (Affine): Pixel to CRS coordinates.
        crs (CRS, optional): The scene's CRS.
        path (str): Output ``.geojson`` file.
        min_area_px (float): Drop polygons smaller than this many pixels.
            Defaults to 0.

    Returns:
        int: The number of polygons written.
    """
    import_rasterio(f'writing change polygons to {path}')
    from rasterio.features import shapes
    pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
    header = {'type': 'FeatureCollection'}
    if crs is not None:
        epsg = crs.to_epsg()
        header['crs'] = {'type': 'name', 'properties': {
            'name': f'urn:ogc:def:crs:EPSG::{epsg}' if epsg else
            crs.to_wkt()}}
    count = 0
    with open(path, 'w') as f:
        f.write(json.dumps(header)[:-1] + ', "features": [\n')
        for geom, _ in shapes(source, mask=source, transform=transform):
            rings = geom['coordinates']
            area = _ring_area(rings[0]) - sum(_ring_area(r)
                                              for r in rings[1:])
            area_px = area / pixel_area
            if area_px < min_area_px:
                continue
            feature = {'type': 'Feature', 'geometry': geom, 'properties': {
                'id': count, 'area': area, 'area_px': round(area_px, 3)}}
            f.write((',\n' if count else '') + json.dumps(feature))
            count += 1
        f.write('\n]}\n')
    return count


def check_output_path(path: str, inputs: Sequence[str], overwrite: bool,
                      what: str) -> None:
    """Refuse to replace an input, or an existing file unless allowed."""
    real = osp.realpath(path)
    if any(real == osp.realpath(p) for p in inputs):
        raise ValueError(f'{what} {path} is one of the input scenes')
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'{what} {path} already exists; choose another '
                              'path or pass overwrite=True (--overwrite)')
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
