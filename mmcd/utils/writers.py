"""The one home of mmcd's written outputs, the format chosen by suffix.

- :func:`write_mask`: a 0/1 change mask as a single-channel 0/255 image
  (:func:`encode_mask`);
- :func:`write_probability`: a P(changed) map as uint8 ``round(255 p)``
  (:func:`encode_probability`);
- :func:`write_rgb`: an RGB overlay or panel;
- :func:`open_scene_writer`: a whole scene's mask or map, written block by
  block (GeoTIFF through rasterio, or PNG) under a temporary name, renamed
  by ``commit()`` once complete;
- :func:`write_change_polygons`: the changed areas as polygons (GeoPackage,
  RFC 7946 GeoJSON).

Masks and probability maps are data, so they are written losslessly (PNG,
BMP, TIFF); a lossy suffix (JPEG, WebP) is refused. Overlays are pictures and
may take any suffix OpenCV writes. rasterio (optional) is imported only when
a GeoTIFF or polygons are written, fiona and shapely only for polygons.
"""
import os
import os.path as osp
from typing import Sequence

import mmcv
import numpy as np
from PIL import Image

from .atomic_io import commit_partial, discard_partial, partial_path

#: Suffixes of lossless single-channel outputs (masks, probability maps).
LOSSLESS_SUFFIXES = ('.png', '.bmp', '.tif', '.tiff')
#: Suffixes refused for masks and probability maps.
LOSSY_SUFFIXES = ('.jpg', '.jpeg', '.jpe', '.webp', '.jp2')
#: Scene files read and written through rasterio.
RASTER_SUFFIXES = ('.tif', '.tiff')
#: Scene files decoded whole (never georeferenced).
PLAIN_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')
#: GeoTIFF compressions that would alter a 0/255 mask; replaced by deflate.
LOSSY_COMPRESSIONS = ('jpeg', 'webp', 'lerc', 'lerc_deflate', 'lerc_zstd',
                      'jxl')


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
    return osp.splitext(str(path))[1].lower()


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, 'detach'):  # torch.Tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _single_channel(x, what: str) -> np.ndarray:
    """``(H, W)`` or ``(1, H, W)`` -> ``(H, W)``."""
    x = _to_numpy(x)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f'a {what} must be (H, W) or (1, H, W); got shape '
                         f'{x.shape}')
    return x


def _check_lossless(path: str, what: str) -> None:
    suffix = _suffix(path)
    if suffix in LOSSLESS_SUFFIXES:
        return
    hint = ' (lossy compression would alter the values)' \
        if suffix in LOSSY_SUFFIXES else ''
    raise ValueError(f'cannot write the {what} {path} as {suffix!r}{hint}; '
                     f'use one of {", ".join(LOSSLESS_SUFFIXES)}')


def _write(path: str, image: np.ndarray) -> None:
    """Encode ``image`` by the suffix of ``path`` (mmengine's file backend
    makes the parent folders), written whole or not at all
    (:class:`~mmcd.utils.atomic_io.AtomicLocalBackend`)."""
    path = os.fspath(path)
    if not mmcv.imwrite(image, path,
                        backend_args=dict(backend='atomic_local')):
        raise OSError(f'cannot write {path}')


def encode_mask(mask: np.ndarray) -> np.ndarray:
    """0/1 (or bool) change mask -> uint8 0/255, as every mask is stored."""
    return mask.astype(np.uint8) * np.uint8(255)


def encode_probability(prob: np.ndarray) -> np.ndarray:
    """P(changed) in [0, 1] -> uint8 ``round(255 p)``, as every probability
    map is stored."""
    return np.rint(prob * 255).astype(np.uint8)


def write_mask(path: str, mask) -> None:
    """Write a 0/1 change mask as a single-channel 0/255 uint8 image.

    Args:
        path (str): Output file; ``.png``, ``.bmp``, ``.tif`` or ``.tiff``.
        mask (np.ndarray | torch.Tensor): ``(H, W)`` or ``(1, H, W)``, values
            0 (unchanged) and 1 (changed), or bool.

    Raises:
        ValueError: For a lossy or unknown suffix, another shape, or values
            other than 0 and 1.
    """
    _check_lossless(path, 'change mask')
    mask = _single_channel(mask, 'change mask')
    if mask.dtype != bool and mask.size and not np.isin(mask, (0, 1)).all():
        raise ValueError(
            f'a change mask holds 0 (unchanged) and 1 (changed); the one for '
            f'{path} holds {np.unique(mask)[:8].tolist()}')
    _write(path, encode_mask(mask))


def write_probability(path: str, prob) -> None:
    """Write a P(changed) map as a single-channel uint8 ``round(255 p)``.

    Args:
        path (str): Output file; ``.png``, ``.bmp``, ``.tif`` or ``.tiff``.
        prob (np.ndarray | torch.Tensor): ``(H, W)`` or ``(1, H, W)`` floats
            in [0, 1].

    Raises:
        ValueError: For a lossy or unknown suffix, another shape, or values
            outside [0, 1].
    """
    _check_lossless(path, 'probability map')
    prob = _single_channel(prob, 'probability map')
    if prob.size and not (np.isfinite(prob).all() and prob.min() >= 0
                          and prob.max() <= 1):
        raise ValueError(f'a probability map holds values in [0, 1]; the one '
                         f'for {path} has [{prob.min()}, {prob.max()}]')
    _write(path, encode_probability(prob))


def write_rgb(path: str, image) -> None:
    """Write an RGB uint8 overlay or panel (any suffix OpenCV writes).

    Args:
        path (str): Output file, e.g. ``.png`` or ``.jpg``.
        image (np.ndarray): ``(H, W, 3)`` uint8, RGB.
    """
    image = _to_numpy(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError('an RGB image is (H, W, 3) uint8; got '
                         f'{image.shape} {image.dtype}')
    _write(path, mmcv.rgb2bgr(image))


def check_output_path(path: str, inputs: Sequence[str], overwrite: bool,
                      what: str) -> None:
    """Refuse to replace an input, or an existing file unless allowed;
    make the parent folder."""
    real = osp.realpath(path)
    if any(real == osp.realpath(p) for p in inputs):
        raise ValueError(f'{what} {path} is one of the input scenes')
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'{what} {path} already exists; choose another '
                              'path or pass overwrite=True (--overwrite)')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)


class _PartialFile:
    """An output written under a temporary name (:attr:`tmp_path`, beside
    :attr:`path`) until :meth:`commit` renames it, so that an interrupted
    run leaves no file that looks complete; :meth:`discard` removes it."""

    def _start(self, path: str) -> None:
        self.path = path
        self.tmp_path = partial_path(path)

    def commit(self) -> None:
        """Rename the finished (closed) output to :attr:`path`."""
        commit_partial(self.tmp_path, self.path)

    def discard(self) -> None:
        """Close (ignoring errors) and remove the unfinished output."""
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
        discard_partial(self.tmp_path)


class RasterSceneWriter(_PartialFile):
    """Write blocks of a single-band uint8 raster through rasterio.

    The CRS, transform and compression are the reference scene's (when it is
    read through rasterio, i.e. has a ``ds``); a lossy compression is
    replaced by deflate, so that 0/255 and probability values are stored
    exactly. The file is tiled (the reference's blocks if it is tiled, else
    512 x 512) and written one whole row of blocks of a stripe at a time, so
    no compressed block is ever rewritten. Invalid (nodata) pixels go into
    the GeoTIFF's mask when ``with_mask`` (internal to the file when written
    under ``rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True)``). The file is
    written under a temporary name until :meth:`commit`.

    Args:
        path (str): Output file.
        reference: The input scene (``height``, ``width`` and, for a
            raster, ``ds``).
        with_mask (bool): Write a nodata mask. Defaults to False.
    """

    @staticmethod
    def profile(reference) -> dict:
        """The rasterio profile of the output for ``reference``."""
        profile = dict(driver='GTiff', height=reference.height,
                       width=reference.width, count=1, dtype='uint8',
                       BIGTIFF='IF_SAFER', tiled=True, blockxsize=512,
                       blockysize=512)
        if getattr(reference, 'ds', None) is not None:
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
        return profile

    def __init__(self, path: str, reference, with_mask: bool = False) -> None:
        rasterio = import_rasterio(f'writing {path}')
        profile = self.profile(reference)
        self._start(path)
        self.ds = rasterio.open(self.tmp_path, 'w', **profile)
        self.block_height, self.block_width = self.ds.block_shapes[0]
        self.with_mask = with_mask
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
        from rasterio.windows import Window
        rows = until - self._pending_y0
        if rows <= 0 or not self._pending:
            return
        values = np.concatenate([v for v, _ in self._pending])
        valid = np.concatenate([m for _, m in self._pending])
        window = Window(self._pending_x0, self._pending_y0, values.shape[1],
                        rows)
        self.ds.write(values[None, :rows], window=window)
        if self.with_mask:
            self.ds.write_mask(valid[:rows].astype(np.uint8) * 255,
                               window=window)
        self._pending = [(values[rows:], valid[rows:])] \
            if rows < len(values) else []
        self._pending_y0 = until

    def close(self) -> None:
        if self.ds.closed:
            return
        try:
            if self._pending:
                self._flush(self.ds.height)
        finally:
            self.ds.close()


class ImageSceneWriter(_PartialFile):
    """Collect a plain scene in memory and save it as PNG at the end
    (grey + alpha, alpha 0 on nodata, when ``with_mask``), under a temporary
    name until :meth:`commit`.

    Args:
        path (str): Output ``.png`` file.
        reference: The input scene (its ``height`` and ``width`` are used).
        with_mask (bool): Save nodata as transparent. Defaults to False.
    """

    block_width = 1

    def __init__(self, path: str, reference, with_mask: bool = False) -> None:
        self._start(path)
        self.with_mask = with_mask
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
        if self.with_mask:  # OpenCV writes no grey + alpha PNG
            Image.fromarray(np.dstack([self.values, self.alpha]),
                            'LA').save(self.tmp_path, format='PNG')
        else:
            _write(self.tmp_path, self.values)


def scene_block_width(path: str, reference) -> int:
    """The block width :func:`open_scene_writer` would write ``path`` in
    (1 for a PNG)."""
    if _suffix(path) in RASTER_SUFFIXES:
        return int(RasterSceneWriter.profile(reference)['blockxsize'])
    return ImageSceneWriter.block_width


def open_scene_writer(path: str, reference, with_mask: bool = False):
    """A writer for a scene's mask or map, chosen by the suffix of ``path``:
    GeoTIFF/TIFF through rasterio, or PNG (only for a scene without
    georeferencing, ``reference.georeferenced`` False). It writes under a
    temporary name: ``close()`` finishes the file, ``commit()`` then renames
    it to ``path``, ``discard()`` removes it."""
    suffix = _suffix(path)
    if suffix in RASTER_SUFFIXES:
        return RasterSceneWriter(path, reference, with_mask)
    if getattr(reference, 'georeferenced', False):
        raise ValueError(
            f'output {path}: the input scenes are georeferenced, so the '
            'output must be a GeoTIFF (.tif) to keep CRS and transform')
    if suffix == '.png':
        return ImageSceneWriter(path, reference, with_mask)
    raise ValueError(f'output {path}: write change maps as .tif or .png '
                     f'(lossless), not {suffix!r}')


#: Vector outputs by suffix: (OGR driver, what it is).
VECTOR_FORMATS = {
    '.gpkg': ('GPKG', 'GeoPackage (one layer, the scene\'s CRS)'),
    '.geojson': ('GeoJSON', 'RFC 7946 GeoJSON (WGS84 lon/lat)'),
    '.json': ('GeoJSON', 'RFC 7946 GeoJSON (WGS84 lon/lat)'),
}


def import_vector_libraries(why: str):
    """Import fiona and shapely (install requirements of mmcd) or say how
    to install them."""
    try:
        import fiona
        import shapely.geometry
    except ImportError as e:
        raise ImportError(f'{why} needs fiona and shapely: pip install '
                          'fiona shapely') from e
    return fiona, shapely.geometry


def check_vector_path(path: str, scene_crs: bool = False) -> str:
    """The OGR driver of a vector output, by suffix; refuse others.

    Args:
        path (str): ``.gpkg``, ``.geojson`` or ``.json``.
        scene_crs (bool): GeoJSON in the scene's CRS (not RFC 7946); only
            for GeoJSON. Defaults to False.
    """
    suffix = _suffix(path)
    if suffix not in VECTOR_FORMATS:
        raise ValueError(
            f'vector output {path}: unknown format {suffix!r}; use ' +
            ', '.join(f'{k} ({v[1]})' for k, v in VECTOR_FORMATS.items()))
    driver = VECTOR_FORMATS[suffix][0]
    if scene_crs and driver != 'GeoJSON':
        raise ValueError(f'vector output {path}: GeoJSON in the scene\'s '
                         'CRS (--vector-scene-crs) applies to .geojson; a '
                         'GeoPackage is always in the scene\'s CRS')
    return driver


def write_change_polygons(source, transform, crs, path: str,
                          min_area_px: float = 0,
                          scene_crs: bool = False) -> int:
    """Write the changed areas of a 0/255 mask as polygons, the format by
    suffix (:data:`VECTOR_FORMATS`).

    Polygons come from GDAL's polygonize (``rasterio.features.shapes``,
    4-connected), which streams a raster band, so the mask need not fit in
    memory, and are written through fiona (GDAL's OGR), feature by feature.
    Each feature has ``id``, ``area`` (square units of the scene's CRS,
    e.g. m^2; pixels without georeferencing) and ``area_px`` (pixels).

    - ``.gpkg``: a GeoPackage, one layer ``change``, in the scene's CRS;
    - ``.geojson``/``.json``: RFC 7946 GeoJSON, coordinates reprojected to
      WGS84 longitude/latitude (GDAL's ``RFC7946=YES``: 7 decimals,
      counter-clockwise outer rings); with ``scene_crs``, the older
      (2008) GeoJSON in the scene's CRS, named in a ``crs`` member, which
      RFC 7946 does not allow: for tools that expect projected GeoJSON.

    A scene without georeferencing gives polygons in pixel coordinates
    (column, row) and no CRS, whatever the format.

    Args:
        source (np.ndarray | rasterio Band): The 0/255 change mask.
        transform (Affine): Pixel to CRS coordinates.
        crs (CRS, optional): The scene's CRS.
        path (str): Output file.
        min_area_px (float): Drop polygons smaller than this many pixels.
            Defaults to 0.
        scene_crs (bool): GeoJSON in the scene's CRS, not RFC 7946.
            Defaults to False.

    Returns:
        int: The number of polygons written.
    """
    driver = check_vector_path(path, scene_crs)
    import_rasterio(f'writing change polygons to {path}')
    fiona, geometry = import_vector_libraries(
        f'writing change polygons to {path}')
    from rasterio.features import shapes
    pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
    options = dict(crs_wkt=crs.to_wkt()) if crs is not None else {}
    if driver == 'GeoJSON':
        options['RFC7946'] = 'NO' if scene_crs or crs is None else 'YES'
    schema = dict(geometry='Polygon', properties=dict(
        id='int', area='float', area_px='float'))
    if osp.isfile(path) and not osp.getsize(path):
        os.remove(path)  # a name reserved by partial_path: GDAL makes it
    count = 0
    with fiona.open(path, 'w', driver=driver, schema=schema, layer='change',
                    **options) as dst:
        features = []
        for geom, _ in shapes(source, mask=source, transform=transform):
            area = geometry.shape(geom).area
            area_px = area / pixel_area
            if area_px < min_area_px:
                continue
            features.append(dict(geometry=geom, properties=dict(
                id=count, area=area, area_px=round(area_px, 3))))
            count += 1
            if len(features) == 1000:
                dst.writerecords(features)
                features = []
        dst.writerecords(features)
    return count


__all__ = [
    'LOSSLESS_SUFFIXES', 'LOSSY_SUFFIXES', 'RASTER_SUFFIXES',
    'PLAIN_SUFFIXES', 'import_rasterio', 'encode_mask', 'encode_probability',
    'write_mask', 'write_probability',
    'write_rgb', 'check_output_path', 'RasterSceneWriter', 'ImageSceneWriter',
    'open_scene_writer', 'VECTOR_FORMATS', 'check_vector_path',
    'import_vector_libraries', 'write_change_polygons'
]
