"""A small synthetic change-detection dataset in the CDD folder layout.

Each pair is a textured landscape (land-cover fields of different colours
with smooth-noise texture, roads, persistent buildings) seen at two dates.
Between the dates, buildings (rotated rectangles) and irregular blobs appear
or vanish; those footprints form the change mask. Everything else changes
only in nuisance ways a change detector must learn to ignore: a different
global illumination and colour cast per date, a smooth shading gradient,
slightly different field colours (season) and pixel noise.

The objects are 12-60 px at ``size=256`` (scaled with ``size``) with
clear colour contrast, so a small model learns the task within minutes on
a CPU. Generation is numpy + cv2 only and deterministic per ``seed``;
every pair has its own random stream (derived from the seed, the split and
the index), so a pair does not depend on how many pairs are written.
"""
import os
import os.path as osp
from typing import Dict, Tuple

import cv2
import numpy as np

SPLITS = ('train', 'val', 'test')

# land-cover colours (RGB): grass, forest, crop, dry crop, soil, bare ground
_FIELD_COLOURS = np.array(
    [[96, 140, 70], [52, 90, 48], [150, 160, 80], [190, 175, 110],
     [140, 110, 80], [165, 155, 140]],
    dtype=np.float32)
# object colours (RGB): bright roofs, red/orange tiles, blue sheds, dark
# asphalt, white concrete, water, fresh soil
_OBJECT_COLOURS = np.array(
    [[235, 232, 225], [200, 70, 50], [220, 120, 60], [60, 100, 190],
     [45, 45, 50], [250, 250, 250], [40, 70, 110], [120, 80, 50]],
    dtype=np.float32)
_ROAD_GRAY = (105, 155)


def _smooth_noise(rng: np.random.Generator, size: int,
                  cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]-ish: a random ``cells x cells`` grid,
    bicubically upsampled to ``size x size``."""
    grid = rng.random((cells + 1, cells + 1), dtype=np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Multi-octave smooth noise with zero mean and roughly unit range."""
    tex = (0.5 * _smooth_noise(rng, size, 4) +
           0.3 * _smooth_noise(rng, size, 16) +
           0.2 * _smooth_noise(rng, size, max(size // 4, 2)))
    return tex - tex.mean()


def _fields(rng: np.random.Generator, size: int) -> np.ndarray:
    """Integer field id per pixel: a Voronoi partition with wobbly
    borders."""
    k = int(rng.integers(3, 8))
    seeds = rng.random((k, 2), dtype=np.float32) * size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    wob = 0.12 * size
    yy = yy + wob * (_smooth_noise(rng, size, 3) - 0.5)
    xx = xx + wob * (_smooth_noise(rng, size, 3) - 0.5)
    d = (yy[None] - seeds[:, 0, None, None])**2 + \
        (xx[None] - seeds[:, 1, None, None])**2
    return d.argmin(axis=0)


def _rect_polygon(rng: np.random.Generator, size: int, lo: float,
                  hi: float) -> np.ndarray:
    """A randomly rotated rectangle ("building") fully inside the image."""
    w, h = rng.uniform(lo, hi, size=2)
    angle = float(rng.uniform(0, 180))
    r = 0.5 * float(np.hypot(w, h))
    cx, cy = rng.uniform(r, size - r, size=2)
    return cv2.boxPoints(((cx, cy), (w, h), angle)).round().astype(np.int32)


def _blob_polygon(rng: np.random.Generator, size: int, lo: float,
                  hi: float) -> np.ndarray:
    """An irregular star-shaped blob (pond, clearing, heap)."""
    n = 14
    radius = 0.5 * rng.uniform(lo, hi)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.65, 1.2, n)
    radii = 0.5 * radii + 0.25 * (np.roll(radii, 1) + np.roll(radii, -1))
    cx, cy = rng.uniform(1.2 * radius, size - 1.2 * radius, size=2)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)],
                   axis=1)
    return pts.round().astype(np.int32)


def _footprint(poly: np.ndarray, size: int) -> Tuple[tuple, np.ndarray]:
    """The pixels of a polygon: its bounding-box slices and the boolean
    mask inside that box (empty slices when it misses the image)."""
    x0, y0 = np.maximum(poly.min(axis=0), 0)
    x1, y1 = np.minimum(poly.max(axis=0) + 1, size)
    x1, y1 = max(x1, x0), max(y1, y0)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [poly - np.array([x0, y0], np.int32)], 1)
    return (slice(y0, y1), slice(x0, x1)), mask.astype(bool)


def _paint(img: np.ndarray, box: tuple, mask: np.ndarray,
           colour: np.ndarray, tex: np.ndarray, roof_ridge: bool) -> None:
    """Fill ``mask`` (inside ``box``) of ``img`` with a slightly textured
    ``colour``; ``roof_ridge`` adds a darker rim (roof edge, shadow)."""
    sub, tex = img[box], tex[box]
    if roof_ridge:
        inner = cv2.erode(
            mask.astype(np.uint8), np.ones((3, 3), np.uint8),
            borderType=cv2.BORDER_CONSTANT, borderValue=0)
        rim = mask & ~inner.astype(bool)
        sub[rim] = colour * 0.7
        mask = mask & ~rim
    sub[mask] = colour * (1.0 + 0.08 * tex[mask])[:, None]


def _distinct_colour(rng: np.random.Generator, under: np.ndarray,
                     min_dist: float = 70.0) -> np.ndarray:
    """An object colour clearly different from the mean colour ``under``
    it (in the other date)."""
    dist = np.abs(_OBJECT_COLOURS - under[None]).sum(axis=1)
    ok = np.flatnonzero(dist >= min_dist)
    idx = rng.choice(ok) if ok.size else int(dist.argmax())
    return _OBJECT_COLOURS[idx] * rng.uniform(0.92, 1.08, 3).astype(
        np.float32)


def _date_appearance(rng: np.random.Generator, img: np.ndarray,
                     size: int) -> np.ndarray:
    """Per-date nuisance: illumination, colour cast, shading, noise."""
    gain = rng.uniform(0.78, 1.22) * rng.uniform(0.92, 1.08, 3)
    offset = rng.uniform(-18, 18) + rng.uniform(-6, 6, 3)
    shading = 1.0 + 0.12 * (_smooth_noise(rng, size, 2) - 0.5)
    out = img * gain.astype(np.float32) * shading[..., None] + \
        offset.astype(np.float32)
    noise = np.empty(out.shape, np.float32)
    cv2.setRNGSeed(int(rng.integers(1 << 31)))  # cv2.randn: 5x numpy's speed
    sigma = rng.uniform(1.5, 4.0)
    cv2.randn(noise, (0.0, 0.0, 0.0), (sigma, sigma, sigma))
    out += noise
    return np.clip(out, 0, 255).astype(np.uint8)


def make_synthetic_pair(
        rng: np.random.Generator,
        size: int = 256) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate one synthetic pair.

    Args:
        rng (np.random.Generator): The random stream of this pair.
        size (int): Height and width in pixels. Defaults to 256.

    Returns:
        tuple: ``(img_a, img_b, mask)``: two ``size x size x 3`` uint8 RGB
        images and the ``size x size`` uint8 change mask (0 or 1).
    """
    s = size / 256.0
    # ---- the persistent landscape, with per-date field colours (season)
    field_id = _fields(rng, size)
    n_fields = int(field_id.max()) + 1
    base_colour = _FIELD_COLOURS[rng.integers(0, len(_FIELD_COLOURS),
                                              n_fields)]
    base_colour = base_colour * rng.uniform(0.85, 1.15, (n_fields, 1))
    tex = _texture(rng, size)
    stripes = np.sin(
        np.arange(size, dtype=np.float32)[None, :] * rng.uniform(0.3, 0.8) +
        np.arange(size, dtype=np.float32)[:, None] * rng.uniform(-0.4, 0.4))
    striped = rng.random(n_fields) < 0.4  # crop rows in some fields
    dates = []
    for _ in range(2):
        colour = base_colour + rng.uniform(-8, 8, base_colour.shape)
        img = colour[field_id].astype(np.float32)
        mod = 1.0 + 0.35 * tex + 0.06 * stripes * striped[field_id]
        dates.append(img * mod[..., None])
    # roads (persistent)
    road_layer = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(0, 3))):
        p0 = rng.uniform(0, size, 2)
        p1 = rng.uniform(0, size, 2)
        direction = (p1 - p0) / (np.linalg.norm(p1 - p0) + 1e-6)
        a = (p0 - 2 * size * direction).round().astype(int)
        b = (p0 + 2 * size * direction).round().astype(int)
        thick = max(2, int(round(rng.uniform(4, 9) * s)))
        cv2.line(road_layer, tuple(int(v) for v in a),
                 tuple(int(v) for v in b), 1, thick)
    road = road_layer.astype(bool)
    grey = rng.uniform(*_ROAD_GRAY)
    for img in dates:
        img[road] = grey * (1.0 + 0.1 * tex[road])[:, None]
    # persistent buildings
    for _ in range(int(rng.integers(1, 8))):
        box, fp = _footprint(_rect_polygon(rng, size, 12 * s, 40 * s), size)
        colour = _OBJECT_COLOURS[rng.integers(0, len(_OBJECT_COLOURS))]
        for img in dates:
            _paint(img, box, fp, colour, tex, roof_ridge=True)

    # ---- changes: objects appearing (in B) or vanishing (from A)
    mask = np.zeros((size, size), bool)
    n_changes = 0 if rng.random() < 0.1 else int(rng.integers(1, 7))
    for _ in range(n_changes):
        building = rng.random() < 0.6
        if building:
            poly = _rect_polygon(rng, size, 12 * s, 60 * s)
        else:
            poly = _blob_polygon(rng, size, 16 * s, 60 * s)
        box, fp = _footprint(poly, size)
        if not fp.any():
            continue
        appear = rng.random() < 0.5
        target = dates[1] if appear else dates[0]
        other = dates[0] if appear else dates[1]
        colour = _distinct_colour(rng, other[box][fp].mean(axis=0))
        _paint(target, box, fp, colour, tex, roof_ridge=building)
        mask[box] |= fp

    img_a = _date_appearance(rng, dates[0], size)
    img_b = _date_appearance(rng, dates[1], size)
    return img_a, img_b, mask.astype(np.uint8)


def _has_files(root: str) -> bool:
    for _, _, files in os.walk(root):
        if files:
            return True
    return False


def _write(path: str, img: np.ndarray, params) -> None:
    ok, buf = cv2.imencode(osp.splitext(path)[1], img, params)
    if not ok:
        raise OSError(f'could not encode {path}')
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def write_synthetic_cdd(root: str,
                        num_train: int = 400,
                        num_val: int = 50,
                        num_test: int = 50,
                        size: int = 256,
                        seed: int = 0,
                        label_format: str = 'jpg',
                        jpeg_quality: int = 95) -> Dict[str, int]:
    """Write a synthetic change-detection dataset in the CDD layout.

    Files: ``root/{train,val,test}/{A,B}/NNNNN.jpg`` (RGB JPEG) and
    ``root/{split}/OUT/NNNNN.{label_format}`` (0/255 change masks, like
    CDD's ``OUT``; read them with ``label_encoding='0-255'``, e.g. through
    ``CDDDataset(seg_map_suffix='.png')`` for PNG masks). A split with 0
    pairs is not written. ``root`` may exist but must not contain any file:
    nothing is ever overwritten.

    Args:
        root (str): The output folder.
        num_train (int): Number of training pairs. Defaults to 400.
        num_val (int): Number of validation pairs. Defaults to 50.
        num_test (int): Number of test pairs. Defaults to 50.
        size (int): Image height and width (>= 32). Objects are 12-60 px at
            256 and scale with the size. Defaults to 256.
        seed (int): Random seed; the output is a function of the seed (and
            each pair of its split and index only). Defaults to 0.
        label_format (str): 'jpg' (0/255 JPEG with compression noise, as in
            CDD) or 'png' (exact 0/255). Defaults to 'jpg'.
        jpeg_quality (int): JPEG quality of images and JPEG masks.
            Defaults to 95.

    Returns:
        dict: Number of pairs written per split.
    """
    if label_format not in ('jpg', 'png'):
        raise ValueError(
            f"label_format must be 'jpg' or 'png'; got {label_format!r}")
    if int(size) < 32:
        raise ValueError(f'size must be at least 32; got {size}')
    counts = dict(train=int(num_train), val=int(num_val), test=int(num_test))
    if any(n < 0 for n in counts.values()):
        raise ValueError(f'pair counts must be >= 0; got {counts}')
    root = osp.abspath(osp.expanduser(str(root)))
    if osp.exists(root) and not osp.isdir(root):
        raise FileExistsError(f'{root} exists and is not a folder')
    if osp.isdir(root) and _has_files(root):
        raise FileExistsError(
            f'{root} already contains files; refusing to write the '
            'synthetic dataset there (nothing is ever overwritten). Choose '
            'a new or empty folder.')
    jpg = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    label_params = jpg if label_format == 'jpg' else []
    for split_idx, split in enumerate(SPLITS):
        n = counts[split]
        if not n:
            continue
        dirs = {k: osp.join(root, split, k) for k in ('A', 'B', 'OUT')}
        for d in dirs.values():
            os.makedirs(d, exist_ok=True)
        for i in range(n):
            rng = np.random.default_rng([int(seed), split_idx, i])
            img_a, img_b, mask = make_synthetic_pair(rng, int(size))
            name = f'{i:05d}'
            _write(osp.join(dirs['A'], name + '.jpg'), img_a[..., ::-1], jpg)
            _write(osp.join(dirs['B'], name + '.jpg'), img_b[..., ::-1], jpg)
            _write(
                osp.join(dirs['OUT'], f'{name}.{label_format}'), mask * 255,
                label_params)
    return counts
