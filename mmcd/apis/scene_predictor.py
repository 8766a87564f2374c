"""Change detection on whole scenes by blended sliding windows."""
import collections
import contextlib
import functools
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import (Callable, Iterable, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import torch
from rich.progress import track

from mmcd.datasets.transforms.image_io import check_band_list
from mmcd.evaluation.functional import change_probability
from mmcd.utils.atomic_io import (commit_partial, discard_partial,
                                  partial_path)
from mmcd.utils.writers import (RASTER_SUFFIXES, ImageSceneWriter,
                                RasterSceneWriter,
                                check_output_path, check_vector_path,
                                encode_mask, encode_probability,
                                import_rasterio, import_vector_libraries,
                                open_scene_writer, scene_block_width,
                                write_change_polygons)
from .change_inferencer import ChangeInferencer
from .scene_io import (ArraySceneReader, check_same_grid, fill_non_finite,
                       open_scene, scene_gdal_env)

_END = object()


class SceneLayout(
        collections.namedtuple(
            'SceneLayout',
            'height ys tile_h xs tile_w weights weights_x step stripes')):
    """The tile grid of a scene ``height`` rows high (tile starts and sizes
    per axis, the blending weights) and its column stripes ``(x0, x1, tile
    columns)``, ``step`` pixels wide (:meth:`SceneChangePredictor._layout`).
    """

    def blocks(self, stripes: Optional[Sequence[int]] = None
               ) -> Iterator[Tuple[int, Tuple[int, int, List[int]], int,
                                   int]]:
        """The output blocks in the order they are finished, stripe by
        stripe, each tile row by tile row: ``(stripe index, stripe, tile
        row, rows)``, the block being ``rows`` rows from the tile row's
        top across the stripe. ``stripes`` (indices) keeps only those."""
        chosen = range(len(self.stripes)) if stripes is None else stripes
        for i in chosen:
            for r, y in enumerate(self.ys):
                bottom = self.ys[r + 1] if r + 1 < len(self.ys) else \
                    self.height
                yield i, self.stripes[i], r, bottom - y


def prefetch(iterator: Iterator, depth: int,
             pool: ThreadPoolExecutor) -> Iterator:
    """The items of ``iterator``, computed up to ``depth`` ahead in
    ``pool`` (one worker: items are made one after the other, in order);
    an exception raised making an item is raised where it would be
    consumed."""
    pending = collections.deque(
        pool.submit(next, iterator, _END) for _ in range(depth))
    while True:
        item = pending.popleft().result()
        if item is _END:
            return
        pending.append(pool.submit(next, iterator, _END))
        yield item


class _OrderedCalls:
    """Run calls one after the other in ``pool`` (one worker), at most
    ``depth`` waiting; :meth:`wait` raises the first error."""

    def __init__(self, pool: ThreadPoolExecutor, depth: int) -> None:
        self.pool, self.depth = pool, depth
        self.pending = collections.deque()

    def __call__(self, fn: Callable, *args) -> None:
        self.pending.append(self.pool.submit(fn, *args))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()

    def wait(self) -> None:
        while self.pending:
            self.pending.popleft().result()


def model_input(inferencer: ChangeInferencer) -> dict:
    """What the inferencer's model takes per date: ``channels`` (half the
    data preprocessor's mean/std values, else what its loader reads; None
    if unknown), ``dtype`` (the loader's ``dtype``; None for any) and
    ``bands`` (the loader's 1-based ``bands``, or None)."""
    preprocessor = inferencer.model.data_preprocessor
    mean = getattr(preprocessor, 'mean', None) if getattr(
        preprocessor, '_enable_normalize', False) else None
    loader = inferencer.loader
    channels = mean.numel() // 2 if mean is not None else len(
        loader.bands) if loader.bands else dict(
            color=3, grayscale=1).get(loader.color_type)
    return dict(channels=channels, dtype=loader.dtype, bands=loader.bands)


def tile_starts(size: int, tile: int, stride: int) -> Tuple[List[int], int]:
    """Tile offsets along one axis and the tile length.

    Tiles step by ``stride``; the last one is moved back to end at the
    scene edge (as mmseg's slide inference), and a scene shorter than a tile
    is one tile of the scene's length.
    """
    if size <= tile:
        return [0], size
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts, tile


def blend_weights(length: int, interior_start: bool, interior_end: bool,
                  overlap: int) -> np.ndarray:
    """Blending weights of a tile along one axis.

    Towards a tile edge that lies inside the scene, the weight is 0 for the
    outer ``overlap // 4`` pixels (where a tile's prediction suffers from
    its border), then rises linearly to 1 across the middle half of the
    overlap; two overlapping tiles' weights sum to 1 there (a cross-fade, so
    no seam). Edges on the scene border keep weight 1. A model whose
    receptive field reaches at most ``overlap // 4`` pixels therefore gives
    exactly its whole-image prediction.

    Args:
        length (int): Tile length.
        interior_start (bool): The tile's first pixel is inside the scene.
        interior_end (bool): The tile's last pixel is inside the scene.
        overlap (int): Overlap between neighbouring tiles.

    Returns:
        np.ndarray: float32 weights of shape ``(length,)``.
    """
    margin = overlap // 4
    ramp_len = overlap - 2 * margin
    d = np.arange(length, dtype=np.float32)
    ramp = np.clip((d - margin + 1) / (ramp_len + 1), 0, 1)
    weights = np.ones(length, np.float32)
    if interior_start:
        weights = np.minimum(weights, ramp)
    if interior_end:
        weights = np.minimum(weights, ramp[::-1])
    return weights


class SceneChangePredictor:
    """Predict the change map of two large co-registered scenes.

    The scenes are cut into ``tile`` x ``tile`` windows overlapping by
    ``overlap`` pixels, read window by window; each batch of tiles goes
    through the inferencer's normal inference (pipeline, data preprocessor,
    ``model.test_step``) and the tiles' P(changed) are blended by a weighted
    average (:func:`blend_weights`), so there are no seams. The scene is
    processed in column stripes of ``stripe_width`` pixels, row of tiles by row
    of tiles, and each block of the result is written as soon as no later tile
    touches it: memory holds the tile batch plus one band of ``tile`` rows x
    stripe width (8 bytes per pixel), whatever the scene's size. Tiles across
    a stripe border run in both stripes (about 1 tile column in
    ``stripe_width / (tile - overlap)`` extra, only on scenes wider than a
    stripe). GeoTIFFs are read and written through
    rasterio by windows (a scene larger than memory works); PNG/JPG/BMP scenes
    are decoded whole.

    Scenes may have any band count and uint8, uint16, int16 or float32
    pixels, kept as stored: the model's data preprocessor normalises them
    with the mean/std of training (the checkpoint's config). The bands used
    (``bands``, else the config loader's, else all) must match what the model
    takes per date (half its mean/std values) and the pixel type its
    loader's ``dtype`` (uint8 unless the config says otherwise), else a
    ``ValueError`` names the file, what it has and what the model takes.

    The two dates must share one pixel grid, unless ``align``: date B is
    then read on date A's grid (CRS, transform, size) through rasterio's
    ``WarpedVRT``, window by window (memory stays bounded), and the pixels
    outside its footprint are nodata.

    The output is a 0/255 uint8 change mask with the input's CRS, transform
    and (lossless) compression, as a tiled GeoTIFF; pixels that are nodata in
    either date (the file's nodata values, mask or alpha, ``nodata``, or
    NaN/inf in float data) are masked in the GeoTIFF (its internal mask;
    transparent in a PNG) and never reported as change. Tiles holding only
    nodata are skipped.

    With ``prefetch`` > 0, reading, inference and writing overlap: a reader
    thread reads up to ``prefetch`` tile batches ahead (pixels, nodata
    masks, the pipeline and the data preprocessor's normalisation) and a
    writer thread writes up to ``prefetch`` finished blocks behind, so
    memory grows by that many (normalised) batches and blocks only; the
    outputs are the same, byte for byte, as with ``prefetch=0`` (one
    thread).

    On glibc, the allocator's heap may still grow with the number of tiles
    run; :func:`~mmcd.apis.scene_io.limit_heap_growth` keeps it flat but
    changes the allocator of the whole process, so the predictor never calls
    it (``tools/infer.py --scene`` does). Call it once in your program, or
    set ``MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_TRIM_THRESHOLD_=1048576`` in
    the environment, to get the same.

    Args:
        inferencer (ChangeInferencer): The model, its pipeline and decision
            threshold.
        tile (int): Tile size in pixels. Defaults to 512.
        overlap (int): Overlap of neighbouring tiles, ``0 <= overlap <
            tile``. Defaults to 64.
        batch_size (int): Tiles per forward pass. Defaults to 4.
        bands (Sequence[int], optional): 1-based bands of the scenes to use,
            in the model's channel order. Defaults to None (the bands of the
            config's loader if it names them, else all).
        nodata (float | Sequence[float], optional): Nodata value(s), one for
            every band or one per band used: pixels whose bands all hold
            their value are nodata, in addition to what the files declare.
            Defaults to None.
        stripe_width (int): Width of the column stripes in pixels (rounded
            down to a multiple of the output's block width); bounds memory
            whatever the scene's width. Defaults to 8192.
        align (bool): Read date B on date A's grid (reprojected and
            resampled) instead of refusing scenes on different grids.
            Defaults to False.
        resampling (str): Resampling of ``align`` (a
            ``rasterio.enums.Resampling`` name). Defaults to 'bilinear'.
        prefetch (int): Tile batches read ahead and blocks written behind,
            in two threads; 0 runs everything in the calling thread.
            Defaults to 2.
    """

    def __init__(self,
                 inferencer: ChangeInferencer,
                 tile: int = 512,
                 overlap: int = 64,
                 batch_size: int = 4,
                 bands: Optional[Sequence[int]] = None,
                 nodata: Union[None, float, Sequence[float]] = None,
                 stripe_width: int = 8192,
                 align: bool = False,
                 resampling: str = 'bilinear',
                 prefetch: int = 2) -> None:
        if not isinstance(tile, int) or tile < 1:
            raise ValueError(f'tile must be a positive int; got {tile!r}')
        if not isinstance(overlap, int) or not 0 <= overlap < tile:
            raise ValueError(f'overlap must be an int in [0, tile={tile}); '
                             f'got {overlap!r}')
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1; got {batch_size}')
        if not isinstance(stripe_width, int) or stripe_width < tile:
            raise ValueError(f'stripe_width must be an int >= tile={tile}; '
                             f'got {stripe_width!r}')
        if not isinstance(prefetch, int) or prefetch < 0:
            raise ValueError(f'prefetch must be an int >= 0; got '
                             f'{prefetch!r}')
        self.inferencer = inferencer
        self.tile, self.overlap, self.batch_size = tile, overlap, batch_size
        self.model_input = model_input(inferencer)
        self.bands = check_band_list(bands, '--bands (bands)')
        self.nodata = nodata
        self.stripe_width = stripe_width
        self.align, self.resampling = align, resampling
        self.prefetch = prefetch

    # -- core ----------------------------------------------------------------
    @staticmethod
    def _stripes(width: int, xs: List[int], weights_x: Callable,
                 step: int) -> Iterator[Tuple[int, int, List[int]]]:
        """Column stripes ``(x0, x1, tile columns)`` of the scene, ``step``
        pixels wide.

        A stripe runs the tile columns with a non-zero blending weight
        inside it, so tiles across a border run in both stripes.
        """
        for x0 in range(0, width, step):
            x1 = min(x0 + step, width)
            cols = []
            for c, x in enumerate(xs):
                nonzero = np.flatnonzero(weights_x(x))
                if x + nonzero[0] < x1 and x + nonzero[-1] >= x0:
                    cols.append(c)
            yield x0, x1, cols

    def _layout(self, height: int, width: int, block_width: int = 1,
                parts: int = 1) -> SceneLayout:
        """The tile grid and column stripes of a ``height`` x ``width``
        scene whose output is written in blocks ``block_width`` wide.

        Stripe borders are multiples of ``block_width``, so every output
        block is written once. With ``parts`` > 1 (a scene shared by several
        processes, :meth:`predict_part`), stripes are at most
        ``width / parts`` wide (rounded up to ``block_width``) so that every
        part gets one. The stripes change which tiles run where, not the
        blended result.
        """
        stride = self.tile - self.overlap
        ys, tile_h = tile_starts(height, self.tile, stride)
        xs, tile_w = tile_starts(width, self.tile, stride)

        @functools.lru_cache(maxsize=None)
        def weights(length, interior_start, interior_end):
            return blend_weights(length, interior_start, interior_end,
                                 self.overlap)

        def weights_x(x):
            return weights(tile_w, x > 0, x + tile_w < width)

        step = self.stripe_width
        if parts > 1:
            step = min(step, -(-width // parts))
            step = -(-step // block_width) * block_width
        step = max(block_width, step // block_width * block_width)
        return SceneLayout(height, ys, tile_h, xs, tile_w, weights, weights_x,
                           step,
                           list(self._stripes(width, xs, weights_x, step)))

    def _predict(self, reader_a, reader_b,
                 emit: Callable[[int, int, np.ndarray, np.ndarray], None],
                 block_width: int = 1,
                 stripes: Optional[Sequence[int]] = None,
                 parts: int = 1) -> int:
        """Blend the tiles' P(changed) and ``emit(x0, y0, prob, valid)`` each
        finished block of pixels; return the number of tiles run.

        The scene is processed in column stripes (:meth:`_layout`), each
        row of tiles by row of tiles; memory holds the tile batch and one
        band of ``tile`` rows x stripe width, whatever the scene's size.
        ``stripes`` (indices into the layout's stripes) runs only those.
        With :attr:`prefetch`, the readers are used by a reader thread and
        ``emit`` is called by a writer thread, in order.
        """
        height, width = reader_a.height, reader_a.width
        layout = self._layout(height, width, block_width, parts)
        ys, tile_h, xs, tile_w = (layout.ys, layout.tile_h, layout.xs,
                                  layout.tile_w)
        weights, weights_x, step = (layout.weights, layout.weights_x,
                                    layout.step)
        steps = [block[1:] for block in layout.blocks(stripes)]

        def read(steps: Iterable) -> Iterator:
            """Per step, its batches of tiles holding some valid pixel, as
            ``(columns, model input)``, then the valid map of its finished
            block."""
            for (x0, x1, cols), r, done in steps:
                y = ys[r]
                for start in range(0, len(cols), self.batch_size):
                    batch = []
                    for c in cols[start:start + self.batch_size]:
                        window = (xs[c], y, tile_w, tile_h)
                        a, b = reader_a.read(window), reader_b.read(window)
                        if not (reader_a.valid(window, a)
                                & reader_b.valid(window, b)).any():
                            continue  # only nodata: nothing to predict
                        batch.append(
                            (c, fill_non_finite(a), fill_non_finite(b)))
                    if batch:
                        yield [c for c, _, _ in batch], self._model_input(
                            [(a, b) for _, a, b in batch])
                window = (x0, y, x1 - x0, done)
                yield reader_a.valid(window) & reader_b.valid(window)

        if self.inferencer.show_progress:
            n_stripes = len(layout.stripes if stripes is None else stripes)
            progress = track(steps, total=len(steps),
                             description=f'Scene ({len(ys)} tile rows x '
                             f'{n_stripes} stripes)')
        else:
            progress = steps
        # one band for all stripes: a stripe's tiles reach at most a tile
        # beyond it on either side
        band_shape = (tile_h, min(width, step + 2 * tile_w))
        prob_band = np.empty(band_shape, np.float32)
        weight_band = np.empty(band_shape, np.float32)
        tiles_run = 0
        with contextlib.ExitStack() as stack:
            if self.prefetch:
                pools = [stack.enter_context(ThreadPoolExecutor(
                    1, thread_name_prefix=f'scene-{name}'))
                         for name in ('reader', 'writer')]
                # on an error, stop reading and writing before returning
                for pool in pools:
                    stack.callback(pool.shutdown, cancel_futures=True)
                reads = prefetch(read(steps), self.prefetch, pools[0])
                write = _OrderedCalls(pools[1], self.prefetch)
            else:
                reads, write = read(steps), None
            for (x0, x1, cols), r, done in progress:
                band_x0 = xs[cols[0]]
                if r == 0:  # a new stripe
                    band_w = xs[cols[-1]] + tile_w - band_x0
                    prob_sum = prob_band[:, :band_w]
                    weight_sum = weight_band[:, :band_w]
                    prob_sum[:] = 0
                    weight_sum[:] = 0
                y = ys[r]
                wy = weights(tile_h, y > 0, y + tile_h < height)
                for batch in reads:
                    if isinstance(batch, np.ndarray):  # the step's valid map
                        valid = batch
                        break
                    batch_cols, data = batch
                    probs = self._probabilities(data)
                    tiles_run += len(batch_cols)
                    for c, prob in zip(batch_cols, probs):
                        w = wy[:, None] * weights_x(xs[c])[None, :]
                        span = slice(xs[c] - band_x0,
                                     xs[c] - band_x0 + tile_w)
                        prob_sum[:, span] += prob * w
                        weight_sum[:, span] += w
                span = slice(x0 - band_x0, x1 - band_x0)
                total = weight_sum[:done, span]
                prob = np.divide(prob_sum[:done, span], total,
                                 out=np.zeros_like(total), where=total > 0)
                if write is None:
                    emit(x0, y, prob, valid)
                else:
                    write(emit, x0, y, prob, valid)
                # slide the band down to the next tile row
                prob_sum[:tile_h - done] = prob_sum[done:]
                prob_sum[tile_h - done:] = 0
                weight_sum[:tile_h - done] = weight_sum[done:]
                weight_sum[tile_h - done:] = 0
            if write is not None:
                write.wait()
        return tiles_run

    def _model_input(self, pairs: List[Tuple[np.ndarray, np.ndarray]]
                     ) -> dict:
        """A batch of tiles through the inferencer's pipeline and the
        model's data preprocessor (normalisation), as ``test_step`` runs
        them: the reader thread's part of the work."""
        items = [self.inferencer._pair_item(a, b) for a, b in pairs]
        # tiles all have one size: a single batch
        (_, data), = self.inferencer.preprocess(items, len(items))
        with torch.no_grad():
            return self.inferencer.model.data_preprocessor(data, False)

    @torch.no_grad()
    def _probabilities(self, data: dict) -> List[np.ndarray]:
        """float32 P(changed) of each tile of a preprocessed batch (the
        rest of ``test_step``)."""
        preds = self.inferencer.model(**data, mode='predict')
        return [change_probability(p.seg_logits.data).astype(np.float32)
                for p in preds]

    def _check_model_input(self, reader) -> None:
        """Refuse a scene whose band count the model does not take, saying
        what it takes and the ``--bands`` to use (its pixel type is checked
        by the reader)."""
        channels, bands = self.model_input['channels'], \
            self.model_input['bands']
        if not channels or reader.channels == channels:
            return
        found = (f'{reader.path} has {reader.count} {reader.dtype} '
                 f'band{"s" if reader.count != 1 else ""}')
        if self.bands:
            found += f', {len(self.bands)} selected by --bands ' + ' '.join(
                map(str, self.bands))
        takes = (f'the model (config {self.inferencer.config_name}) takes '
                 f'{channels} band{"s" if channels != 1 else ""} per date '
                 f'(its data_preprocessor has {2 * channels} mean/std '
                 'values)')
        if bands:
            takes += ', bands ' + ' '.join(map(str, bands)) + ' of its ' \
                'training images'
        if reader.count >= channels:
            example = ' '.join(map(str, bands or range(1, channels + 1)))
            hint = (f': choose {channels} bands of the scene, in the order '
                    f'the model was trained with, with --bands (bands=[...]),'
                    f' e.g. --bands {example}')
        else:
            hint = ': the scene lacks bands this model needs'
        raise ValueError(f'scene {found}; {takes}{hint}')

    def _open(self, path_a: str, path_b: str):
        loader = self.inferencer.loader
        reader_a = open_scene(path_a, loader, 'date-A scene', self.bands,
                              self.nodata)
        readers = [reader_a]
        try:
            readers.append(open_scene(
                path_b, loader, 'date-B scene', self.bands, self.nodata,
                align_to=reader_a if self.align else None,
                resampling=self.resampling))
            check_same_grid(*readers, aligned=self.align)
            self._check_model_input(reader_a)
        except Exception:
            for reader in readers:
                reader.close()
            raise
        return readers

    def _write_polygons(self, writer, path: str, min_area: float,
                        scene_crs: bool) -> int:
        """Polygonise the finished (closed) change mask of ``writer``."""
        if isinstance(writer, ImageSceneWriter):
            from affine import Affine
            return write_change_polygons(writer.values, Affine.identity(),
                                         None, path, min_area, scene_crs)
        rasterio = import_rasterio('vector output')
        with rasterio.open(writer.tmp_path) as ds:
            return write_change_polygons(rasterio.band(ds, 1), ds.transform,
                                         ds.crs, path, min_area, scene_crs)

    # -- public --------------------------------------------------------------
    def predict_arrays(self, img_a: np.ndarray, img_b: np.ndarray
                       ) -> Tuple[np.ndarray, np.ndarray]:
        """Tiled P(changed) of two in-memory images.

        Args:
            img_a (np.ndarray): ``H x W x C`` date A (the bands the model
                takes, in its order).
            img_b (np.ndarray): ``H x W x C`` date B.

        Returns:
            tuple[np.ndarray, np.ndarray]: float32 P(changed) and the bool
            valid-pixel map (``nodata``), both ``H x W``.
        """
        reader_a = ArraySceneReader(np.asarray(img_a), 'date A', self.nodata)
        reader_b = ArraySceneReader(np.asarray(img_b), 'date B', self.nodata)
        if reader_a.image.shape != reader_b.image.shape:
            raise ValueError(
                'the two dates must have the same shape; got '
                f'{reader_a.image.shape} and {reader_b.image.shape}')
        self._check_model_input(reader_a)
        prob = np.zeros((reader_a.height, reader_a.width), np.float32)
        valid = np.zeros(prob.shape, bool)

        def emit(x0, y0, p, v):
            prob[y0:y0 + p.shape[0], x0:x0 + p.shape[1]] = p
            valid[y0:y0 + v.shape[0], x0:x0 + v.shape[1]] = v

        self._predict(reader_a, reader_b, emit)
        return prob, valid

    def __call__(self,
                 path_a: str,
                 path_b: str,
                 out: str,
                 prob_out: Optional[str] = None,
                 vector_out: Optional[str] = None,
                 min_area: float = 0,
                 overwrite: bool = False,
                 vector_scene_crs: bool = False,
                 parts: Optional[Sequence[str]] = None) -> dict:
        """Predict the change mask of a scene pair and write it.

        Args:
            path_a (str): Date-A scene (GeoTIFF, or PNG/JPG/BMP/TIFF without
                georeferencing).
            path_b (str): Date-B scene with the same bands and pixel type,
                on the same pixel grid (size, CRS and transform) unless
                ``align``, else a ``ValueError`` says which differs.
            out (str): The 0/255 change mask: ``.tif`` (required for
                georeferenced inputs) or ``.png``.
            prob_out (str, optional): Also write round(255 * P(changed)) as
                uint8, same format rules. Defaults to None.
            vector_out (str, optional): Also write the changed areas as
                polygons: ``.gpkg`` (GeoPackage in the scene's CRS) or
                ``.geojson`` (RFC 7946, WGS84 longitude/latitude); see
                :func:`~mmcd.utils.writers.write_change_polygons`. Defaults
                to None.
            min_area (float): Drop polygons smaller than this many pixels.
                Defaults to 0.
            overwrite (bool): Allow replacing existing outputs. Defaults to
                False.
            vector_scene_crs (bool): Write the GeoJSON in the scene's CRS
                (the older GeoJSON with a ``crs`` member, not RFC 7946).
                Defaults to False.
            parts (Sequence[str], optional): Instead of running the model,
                merge the part files that :meth:`predict_part` wrote for
                this pair and ``out`` (``parts[k]`` from ``part=k`` of
                ``len(parts)``): the outputs are those of one process, byte
                for byte. Defaults to None.

        Every output is written under a temporary name beside it
        (``.<name>.<random>.partial<suffix>``) and all are renamed to their
        names only at the end, so an interrupted run (an error,
        ``Ctrl-C``) leaves the previous files, or none, never a part of a
        change map that looks complete; only a killed process leaves its
        ``*.partial*`` files behind.

        Returns:
            dict: ``height``, ``width``, ``tiles`` (tiles run),
            ``changed_pixels``, ``valid_pixels``, ``polygons`` (or None) and
            the output paths.
        """
        outputs = [p for p in (out, prob_out, vector_out) if p]
        if len(set(map(osp.realpath, outputs))) != len(outputs):
            raise ValueError(f'output paths must differ: {outputs}')
        for path, what in ((out, 'output'), (prob_out, 'probability output'),
                           (vector_out, 'vector output')):
            if path:
                check_output_path(path, (path_a, path_b), overwrite, what)
        if vector_out:
            check_vector_path(vector_out, vector_scene_crs)
            import_rasterio(f'writing change polygons to {vector_out}')
            import_vector_libraries(f'writing change polygons to '
                                    f'{vector_out}')
        elif vector_scene_crs:
            raise ValueError('vector_scene_crs (--vector-scene-crs) applies '
                             'to a vector output (--vector)')
        uses_gdal = any(p.lower().endswith(RASTER_SUFFIXES)
                        for p in (path_a, path_b, out, prob_out) if p)
        with scene_gdal_env() if uses_gdal else contextlib.nullcontext():
            return self._predict_to_files(path_a, path_b, out, prob_out,
                                          vector_out, min_area,
                                          vector_scene_crs, parts)

    def predict_part(self, path_a: str, path_b: str, part_out: str, out: str,
                     part: int, parts: int) -> dict:
        """Predict the column stripes ``part, part + parts, ...`` of a scene
        pair into ``part_out``, for one of ``parts`` processes sharing the
        scene; :meth:`__call__` with ``parts=[...]`` then writes ``out`` (and
        the other outputs) from the parts.

        The stripes are those of ``out``'s blocks, at most ``width /
        parts`` wide, so every part gets one; tiles across a stripe border
        run in both neighbouring parts. ``part_out`` is a float32 GeoTIFF
        (band 1 P(changed), band 2 the valid map, unwritten blocks sparse),
        replaced if it exists.

        Args:
            path_a (str): Date-A scene.
            path_b (str): Date-B scene.
            part_out (str): The part file to write.
            out (str): The change mask the parts are merged into (only its
                format is used here).
            part (int): This part, ``0 <= part < parts``.
            parts (int): Number of parts.

        Returns:
            dict: ``tiles`` (run for this part) and ``stripes`` (their
            indices).
        """
        if not 0 <= part < parts:
            raise ValueError(f'part must be in [0, parts={parts}); got '
                             f'{part}')
        rasterio = import_rasterio(f'writing {part_out}')
        from rasterio.windows import Window
        with scene_gdal_env():
            reader_a, reader_b = self._open(path_a, path_b)
            try:
                block_width = scene_block_width(out, reader_a)
                layout = self._layout(reader_a.height, reader_a.width,
                                      block_width, parts)
                stripes = list(range(part, len(layout.stripes), parts))
                profile = {  # the output's grid and blocks, uncompressed
                    k: v for k, v in RasterSceneWriter.profile(
                        reader_a).items()
                    if k not in ('compress', 'predictor', 'zlevel')}
                profile.update(count=2, dtype='float32', SPARSE_OK=True)
                with rasterio.open(part_out, 'w', **profile) as ds:

                    def emit(x0, y0, prob, valid):
                        window = Window(x0, y0, prob.shape[1], prob.shape[0])
                        ds.write(np.stack([prob, valid.astype(np.float32)]),
                                 window=window)

                    tiles = self._predict(reader_a, reader_b, emit,
                                          block_width, stripes, parts)
                    ds.update_tags(tiles=tiles)
            finally:
                reader_a.close()
                reader_b.close()
        return dict(tiles=tiles, stripes=stripes)

    def _merge_parts(self, parts: Sequence[str], reader_a, emit: Callable,
                     block_width: int) -> int:
        """``emit`` the blocks of the parts of :meth:`predict_part`, in the
        order :meth:`_predict` emits them; return the tiles they ran."""
        rasterio = import_rasterio('merging scene parts')
        from rasterio.windows import Window
        height, width = reader_a.height, reader_a.width
        layout = self._layout(height, width, block_width, len(parts))
        with contextlib.ExitStack() as stack:
            sources = []
            for path in parts:
                if not osp.isfile(path):
                    raise FileNotFoundError(f'scene part not found: {path}')
                ds = stack.enter_context(rasterio.open(path))
                if (ds.height, ds.width, ds.count) != (height, width, 2):
                    raise ValueError(
                        f'scene part {path} is {ds.count} x {ds.height} x '
                        f'{ds.width}, not a part of this {height} x {width} '
                        'scene (2 bands)')
                sources.append(ds)
            for i, (x0, x1, _), r, done in layout.blocks():
                y = layout.ys[r]
                prob, valid = sources[i % len(sources)].read(
                    window=Window(x0, y, x1 - x0, done))
                emit(x0, y, prob, valid > 0)
            return sum(int(ds.tags().get('tiles', 0)) for ds in sources)

    def _predict_to_files(self, path_a, path_b, out, prob_out, vector_out,
                          min_area, vector_scene_crs, parts=None) -> dict:
        reader_a, reader_b = self._open(path_a, path_b)
        with_mask = reader_a.has_nodata or reader_b.has_nodata
        writers = []
        stats = dict(changed_pixels=0, valid_pixels=0)
        threshold = self.inferencer.threshold

        def emit(x0, y0, prob, valid):
            changed = valid & (prob > threshold)
            stats['changed_pixels'] += int(changed.sum())
            stats['valid_pixels'] += int(valid.sum())
            writers[0].write(x0, y0, encode_mask(changed), valid)
            if prob_out:
                prob = encode_probability(prob)
                prob[~valid] = 0
                writers[1].write(x0, y0, prob, valid)

        vector_tmp = None
        try:
            writers.append(open_scene_writer(out, reader_a, with_mask))
            if prob_out:
                writers.append(open_scene_writer(prob_out, reader_a,
                                                 with_mask))
            if parts:
                block_width = scene_block_width(out, reader_a)
                if block_width != writers[0].block_width:
                    raise RuntimeError(
                        f'{out}: written in blocks {writers[0].block_width} '
                        f'wide, not the {block_width} its parts were cut in')
                tiles = self._merge_parts(parts, reader_a, emit, block_width)
            else:
                tiles = self._predict(reader_a, reader_b, emit,
                                      writers[0].block_width)
            for w in writers:
                w.close()
            polygons = None
            if vector_out:
                vector_tmp = partial_path(vector_out)
                polygons = self._write_polygons(writers[0], vector_tmp,
                                                min_area, vector_scene_crs)
            # all outputs complete: give them their names
            for w in writers:
                w.commit()
            if vector_out:
                commit_partial(vector_tmp, vector_out)
        except BaseException:
            # never leave a half-written change map behind
            for w in writers:
                w.discard()
            if vector_tmp:
                discard_partial(vector_tmp)
            raise
        finally:
            reader_a.close()
            reader_b.close()
        return dict(height=reader_a.height, width=reader_a.width,
                    tiles=tiles, polygons=polygons, out=out,
                    prob_out=prob_out, vector_out=vector_out, **stats)
