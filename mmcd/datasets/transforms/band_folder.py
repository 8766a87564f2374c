"""Load dates stored as one raster file per band (Sentinel-2 tiles, OSCD).

Each date is a folder holding one single-band TIFF per spectral band, the
bands at their own resolution (Sentinel-2: 10, 20 and 60 m). The bands are
resampled onto the grid of a reference band (a 10 m band by default) with
rasterio and stacked in the order asked for; the pair travels as the usual
``H x W x 2C`` array, date A's bands first.
"""
import math
import os
import os.path as osp
import re
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from mmcd.registry import TRANSFORMS

from .loading import put_pair

SENTINEL2_BANDS = ('B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08',
                   'B8A', 'B09', 'B10', 'B11', 'B12')
"""The 13 Sentinel-2 MSI bands in their usual order (B8A after B08): band
``i`` of a config's ``bands`` (1-based) is ``SENTINEL2_BANDS[i - 1]``, so
B04, B03, B02 (red, green, blue) are bands 4, 3, 2."""

_RESAMPLING = ('nearest', 'bilinear', 'cubic', 'cubic_spline', 'lanczos',
               'average')
_TIFF = re.compile(r'\.tiff?$', re.IGNORECASE)


def find_band_files(folder: str, band_names: Sequence[str]) -> Dict[str, str]:
    """Map each band name to its file in ``folder``.

    A band's file is the ``.tif``/``.tiff`` file whose name ends with the
    band name (``B04.tif``, ``S2A_OPER_..._B04.tif``), the name not being
    preceded by a letter or digit; the case is ignored.

    Raises:
        FileNotFoundError: the folder does not exist or lacks a band.
        ValueError: a band matches two files.
    """
    if not osp.isdir(folder):
        kind = 'is not a folder' if osp.exists(folder) else 'does not exist'
        raise FileNotFoundError(f'band folder {folder} {kind}')
    tiffs = sorted(f for f in os.listdir(folder) if _TIFF.search(f))
    found, missing = {}, []
    for name in band_names:
        pattern = re.compile(
            rf'(^|[^A-Za-z0-9]){re.escape(name)}\.tiff?$', re.IGNORECASE)
        matches = [f for f in tiffs if pattern.search(f)]
        if len(matches) > 1:
            raise ValueError(f'band {name} matches several files in '
                             f'{folder}: {", ".join(matches)}')
        if not matches:
            missing.append(name)
        else:
            found[name] = osp.join(folder, matches[0])
    if missing:
        held = ', '.join(tiffs[:15]) + (' ...' if len(tiffs) > 15 else '')
        raise FileNotFoundError(
            f'band folder {folder} has no file for band(s) '
            f'{", ".join(missing)} (expected a TIFF whose name ends with the '
            f'band name, e.g. {missing[0]}.tif); it holds: '
            f'{held or "no TIFF"}')
    return found


def _read_band(path: str):
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                if src.count != 1:
                    raise ValueError(
                        f'band file {path} has {src.count} bands; a band '
                        'folder holds one single-band raster per band')
                data = src.read(1)
                georef = src.crs is not None and not src.transform.is_identity
                return data, (src.transform if georef else None), src.crs
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 (rasterio/GDAL errors)
        raise OSError(f'cannot read band file {path}: {e}') from e


def resample_band(band: np.ndarray, shape: Tuple[int, int],
                  resampling: str = 'bilinear', src_transform=None,
                  dst_transform=None, crs=None) -> np.ndarray:
    """Resample one band onto a grid of ``shape`` with rasterio.

    Without transforms, the band and the grid share their top-left corner
    and the band's pixels are ``round(H / h)`` grid pixels wide (e.g. 2 for
    a 20 m band on a 10 m grid, 6 for a 60 m band), as for Sentinel-2 crops
    whose 20 and 60 m bands start at the 10 m band's corner. With
    transforms (georeferenced files, same CRS), the files' own geometry is
    used. Pixel centres are interpolated (GDAL's warper, half-pixel
    convention); beyond the band's outermost pixel centres the edge values
    are extended (the band is edge-padded before warping). Integer bands
    are rounded back to their dtype.

    Args:
        band (np.ndarray): ``h x w`` band.
        shape (tuple[int, int]): The grid's ``(H, W)``.
        resampling (str): A ``rasterio.enums.Resampling`` name. Defaults to
            'bilinear'.
        src_transform, dst_transform (affine.Affine, optional): The band's
            and the grid's geotransforms (both or neither).
        crs (optional): Their common CRS.

    Returns:
        np.ndarray: ``H x W``, the band's dtype.
    """
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.warp import reproject
    h, w = band.shape
    H, W = shape
    if src_transform is None or dst_transform is None:
        fy, fx = max(1, round(H / h)), max(1, round(W / w))
        src_transform, dst_transform = Affine.scale(fx, fy), Affine.identity()
        crs = 'EPSG:3857'  # any projected CRS: the same on both sides
    # dst corners in band pixels: how far the grid reaches past the band
    to_src = ~src_transform * dst_transform
    cols, rows = zip(*(to_src * (x, y) for x in (0, W) for y in (0, H)))
    pad = [(max(1, math.ceil(-min(rows)) + 1),
            max(1, math.ceil(max(rows) - h) + 1)),
           (max(1, math.ceil(-min(cols)) + 1),
            max(1, math.ceil(max(cols) - w) + 1))]
    padded = np.pad(band.astype(np.float32), pad, mode='edge')
    src_transform = src_transform * Affine.translation(-pad[1][0],
                                                       -pad[0][0])
    out = np.zeros(shape, np.float32)
    reproject(
        padded,
        out,
        src_transform=src_transform,
        src_crs=crs,
        dst_transform=dst_transform,
        dst_crs=crs,
        resampling=getattr(Resampling, resampling))
    if np.issubdtype(band.dtype, np.integer):
        info = np.iinfo(band.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(band.dtype)


def read_band_folder(folder: str,
                     band_names: Sequence[str] = SENTINEL2_BANDS,
                     bands: Optional[Sequence[int]] = None,
                     reference_band: str = 'B04',
                     resampling: str = 'bilinear',
                     dtype: Optional[str] = None) -> np.ndarray:
    """Read a folder of single-band files as one ``H x W x C`` array.

    Args:
        folder (str): The date's folder.
        band_names (Sequence[str]): The bands the folder holds, in the order
            ``bands`` counts them. Defaults to :data:`SENTINEL2_BANDS`.
        bands (Sequence[int], optional): 1-based indices into
            ``band_names``, in the channel order wanted. Defaults to None
            (every band, in ``band_names`` order).
        reference_band (str): The band whose grid every band is resampled
            onto. Defaults to 'B04' (10 m).
        resampling (str): See :func:`resample_band`.
        dtype (str, optional): The dtype every band file must have (a file
            of another dtype raises, naming it). Defaults to None (any, the
            same for all bands).

    Returns:
        np.ndarray: ``H x W x C`` in the bands' stored dtype.
    """
    names = [band_names[i - 1] for i in bands] if bands else list(band_names)
    files = find_band_files(folder, sorted(set(names) | {reference_band}))
    ref, ref_transform, ref_crs = _read_band(files[reference_band])
    channels, dtypes = [], {}
    for name in names:
        band, transform, crs = (ref, ref_transform, ref_crs) \
            if name == reference_band else _read_band(files[name])
        dtypes[name] = band.dtype
        if dtype is not None and band.dtype != np.dtype(dtype):
            raise ValueError(
                f'band file {files[name]} is {band.dtype}, the config '
                f"expects {dtype}: set dtype='{band.dtype}' on "
                'LoadBandFolderPair if that is your data')
        if band.shape != ref.shape or (transform is not None and
                                       transform != ref_transform):
            georef = transform is not None and ref_transform is not None
            if georef and crs != ref_crs:
                raise ValueError(
                    f'band file {files[name]} is in {crs}, the reference '
                    f'band {files[reference_band]} in {ref_crs}: the bands '
                    'of a date must share their CRS')
            band = resample_band(
                band, ref.shape, resampling,
                transform if georef else None,
                ref_transform if georef else None, ref_crs)
        channels.append(band)
    if len(set(dtypes.values())) > 1:
        raise ValueError(
            f'the bands of {folder} have different dtypes: ' + ', '.join(
                f'{n} {d}' for n, d in dtypes.items()))
    return np.stack(channels, axis=2)


@TRANSFORMS.register_module()
class LoadBandFolderPair(BaseTransform):
    """Load a pair whose dates are folders of one raster file per band.

    ``img_path`` and ``img_path2`` are the two dates' folders (e.g. OSCD's
    ``<city>/imgs_1`` and ``<city>/imgs_2``). Each selected band is read
    with rasterio and, when its grid differs from the reference band's,
    resampled onto it (:func:`resample_band`: bilinear by default; the 20 m
    and 60 m Sentinel-2 bands onto the 10 m grid). The bands keep their
    stored dtype (uint16 for Sentinel-2 L1C); the result is
    ``H x W x 2C``, date A's bands first, in the order of ``bands``.

    The two dates must come out the same size. A date B that differs from
    date A by at most ``max_size_mismatch`` pixels in height or width is
    edge-padded (or cropped) at the bottom/right to date A's size, with a
    warning naming the folders (the FC notebook pads date B so); a larger
    difference raises.

    Required Keys:

    - img_path
    - img_path2

    Modified Keys:

    - img (``H x W x 2C``, the bands' dtype, or float32)
    - img_shape
    - ori_shape

    Args:
        bands (Sequence[int], optional): 1-based indices into
            ``band_names``, in the channel order wanted (``[4, 3, 2]``:
            red, green, blue). Defaults to None (all bands in
            ``band_names`` order).
        band_names (Sequence[str]): The band files' name endings, in the
            order ``bands`` counts them. Defaults to the 13 Sentinel-2
            bands :data:`SENTINEL2_BANDS` (B01 ... B08, B8A, B09 ... B12).
        reference_band (str): The band whose grid the others are
            resampled onto; the change mask must be on this grid. Defaults
            to 'B04' (10 m).
        resampling (str): A ``rasterio.enums.Resampling`` name:
            'bilinear', 'nearest', 'cubic', 'cubic_spline', 'lanczos' or
            'average'. Defaults to 'bilinear'.
        max_size_mismatch (int): Largest date-B size difference (pixels)
            that is padded or cropped to date A's size. Defaults to 0
            (any difference raises).
        dtype (str, optional): The dtype the band files must have, e.g.
            'uint16' (Sentinel-2 L1C); another raises, naming the file.
            Defaults to None (as stored, the same for all bands).
        to_float32 (bool): Convert the pair to float32. Defaults to False.
    """

    def __init__(self,
                 bands: Optional[Sequence[int]] = None,
                 band_names: Sequence[str] = SENTINEL2_BANDS,
                 reference_band: str = 'B04',
                 resampling: str = 'bilinear',
                 max_size_mismatch: int = 0,
                 dtype: Optional[str] = None,
                 to_float32: bool = False) -> None:
        band_names = tuple(band_names)
        if len(set(band_names)) != len(band_names):
            raise ValueError(f'band_names has duplicates: {band_names}')
        if bands is not None:
            bands = [int(b) for b in bands]
            bad = [b for b in bands if not 1 <= b <= len(band_names)]
            if not bands or bad:
                raise ValueError(
                    f'bands must be 1-based indices into band_names '
                    f'(1..{len(band_names)}: {", ".join(band_names)}); got '
                    f'{bands}')
        if reference_band not in band_names:
            raise ValueError(f'reference_band {reference_band!r} is not in '
                             f'band_names {band_names}')
        if resampling not in _RESAMPLING:
            raise ValueError(f'resampling must be one of {_RESAMPLING}; got '
                             f'{resampling!r}')
        if max_size_mismatch < 0:
            raise ValueError('max_size_mismatch must be >= 0')
        self.bands = bands
        self.band_names = band_names
        self.reference_band = reference_band
        self.resampling = resampling
        self.max_size_mismatch = int(max_size_mismatch)
        self.dtype = None if dtype is None else np.dtype(dtype).name
        self.to_float32 = to_float32
        self._warned: set = set()

    def load_date(self, folder: str) -> np.ndarray:
        """Read one date's folder as this transform does (``H x W x C``)."""
        return read_band_folder(folder, self.band_names, self.bands,
                                self.reference_band, self.resampling,
                                self.dtype)

    def transform(self, results: dict) -> dict:
        """Load both dates and concatenate them (date A first).

        Args:
            results (dict): Result dict with ``img_path`` and ``img_path2``.

        Returns:
            dict: The result dict with the ``H x W x 2C`` ``img``.
        """
        dir_a, dir_b = results['img_path'], results['img_path2']
        img_a, img_b = self.load_date(dir_a), self.load_date(dir_b)
        if img_a.dtype != img_b.dtype:
            raise ValueError(f'the two dates of a pair must have the same '
                             f'dtype: {dir_a} is {img_a.dtype}, {dir_b} is '
                             f'{img_b.dtype}')
        img_b = self._match_size(img_a, img_b, dir_a, dir_b)
        return put_pair(results, img_a, img_b, self.to_float32)

    def _match_size(self, img_a, img_b, dir_a, dir_b) -> np.ndarray:
        (ha, wa), (hb, wb) = img_a.shape[:2], img_b.shape[:2]
        if (ha, wa) == (hb, wb):
            return img_b
        what = (f'date A {dir_a} is {ha}x{wa} ({self.reference_band} grid), '
                f'date B {dir_b} is {hb}x{wb}')
        if max(abs(ha - hb), abs(wa - wb)) > self.max_size_mismatch:
            raise ValueError(
                f'the two dates of a pair must have the same size: {what}. '
                'Set max_size_mismatch on LoadBandFolderPair (now '
                f'{self.max_size_mismatch}) to edge-pad/crop date B to date '
                "A's size, as the FC notebook does, or use co-registered "
                'folders (OSCD: imgs_1_rect / imgs_2_rect)')
        if dir_b not in self._warned:
            self._warned.add(dir_b)
            print_log(f'{what}: date B is padded/cropped at the bottom and '
                      'right to date A\'s size', logger='current',
                      level=30)
        img_b = img_b[:ha, :wa]
        return np.pad(img_b, ((0, ha - img_b.shape[0]),
                              (0, wa - img_b.shape[1]), (0, 0)), mode='edge')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(bands={self.bands}, '
                f'reference_band={self.reference_band!r}, '
                f'resampling={self.resampling!r}, '
                f'max_size_mismatch={self.max_size_mismatch}, '
                f'dtype={self.dtype!r}, to_float32={self.to_float32})')


__all__: List[str] = [
    'SENTINEL2_BANDS', 'LoadBandFolderPair', 'find_band_files',
    'read_band_folder', 'resample_band'
]
