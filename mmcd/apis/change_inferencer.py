"""Run a trained change detector on image pairs (mmseg inferencer style)."""
import copy
import glob
import os
import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import FUNCTIONS, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from PIL import Image
from rich.progress import track

from mmcd.apis.fast_inference import pair_channels, prepare_fast_model
from mmcd.datasets import ChangeDetectionDataset
from mmcd.datasets.transforms import (LoadChangeAnnotation,
                                      LoadImagePairFromFile)
from mmcd.engine.hooks import change_decision_threshold
from mmcd.visualization import draw_change_overlay

ImageInput = Union[str, os.PathLike, np.ndarray]
PairInput = Tuple[ImageInput, ImageInput]

#: Suffixes of the images paired up by name in two folders.
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')

_CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                       '.mim', 'configs')


def _listing(names: Sequence[str], limit: int = 5) -> str:
    shown = ', '.join(names[:limit])
    return shown + (f' (and {len(names) - limit} more)'
                    if len(names) > limit else '')


def _images_by_name(folder: str, what: str) -> Dict[str, str]:
    """Map file name without suffix -> path for the images in ``folder``."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{what} folder not found: {folder}')
    found: Dict[str, str] = {}
    for f in sorted(os.listdir(folder)):
        stem, suffix = osp.splitext(f)
        if suffix.lower() not in IMAGE_SUFFIXES or not osp.isfile(
                osp.join(folder, f)):
            continue
        if stem in found:
            raise ValueError(
                f'{what} folder {folder} has two images named {stem!r} '
                f'({osp.basename(found[stem])} and {f}); pairs are matched '
                'by file name without suffix, so names must be unique')
        found[stem] = osp.join(folder, f)
    if not found:
        raise FileNotFoundError(
            f'{what} folder {folder} holds no image '
            f'({", ".join(IMAGE_SUFFIXES)})')
    return found


def pair_folders(folder_a: str, folder_b: str) -> List[Tuple[str, str]]:
    """Pair the images of two folders by file name (without suffix).

    Args:
        folder_a (str): Folder of date-A images.
        folder_b (str): Folder of date-B images.

    Returns:
        list[tuple[str, str]]: ``(path_a, path_b)`` sorted by name.

    Raises:
        ValueError: When a name is in one folder only (the names are
            listed) or twice in one folder.
    """
    a = _images_by_name(folder_a, 'date-A')
    b = _images_by_name(folder_b, 'date-B')
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        lines = []
        if only_a:
            lines.append(f'in {folder_a} only: {_listing(only_a)}')
        if only_b:
            lines.append(f'in {folder_b} only: {_listing(only_b)}')
        raise ValueError('the two folders must hold the same image names '
                         '(pairs are matched by file name without suffix); '
                         + '; '.join(lines))
    return [(a[name], b[name]) for name in sorted(a)]


def _is_image(x) -> bool:
    return isinstance(x, (str, os.PathLike, np.ndarray))


def _is_pair(x) -> bool:
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(
        _is_image(e) for e in x)


class PairInferencerLoader(BaseTransform):
    """Load a pair given as two files or as two arrays.

    File pairs (``img_path``, ``img_path2``) go through
    :class:`~mmcd.datasets.transforms.LoadImagePairFromFile` with the
    config's settings; array pairs (``img_a``, ``img_b``: ``H x W x C`` or
    ``H x W``, in the channel order the model was trained with, RGB for
    mmcd's configs) are checked and concatenated the same way.

    Args:
        **kwargs: The arguments of the config's ``LoadImagePairFromFile``.
    """

    def __init__(self, **kwargs) -> None:
        self.from_file = LoadImagePairFromFile(**kwargs)

    def load_image(self, path: str, what: str = 'image') -> np.ndarray:
        """Decode one date as the pipeline does (``H x W x C``)."""
        return self.from_file._load(path, what)

    def transform(self, results: dict) -> dict:
        """Put the ``H x W x 2C`` pair into ``results['img']``."""
        if 'img_path' in results:
            return self.from_file(results)
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
        img = np.concatenate(imgs, axis=2)
        if self.from_file.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


class ChangeInferencer(BaseInferencer):
    """Change-detection inferencer in the mmseg/mmengine convention.

    Inputs, for :meth:`__call__`:

    - a pair of image paths ``(path_a, path_b)``;
    - a pair of arrays ``(img_a, img_b)`` (``H x W x C`` in the channel
      order the model was trained with, RGB for mmcd's configs);
    - a list of such pairs;
    - a pair of folders ``(dir_a, dir_b)``: their images are matched by file
      name without suffix, and a name found in one folder only is an error.

    Each pair gets a name: the date-A file name without suffix, or an
    8-digit running number for arrays. Outputs, under ``out_dir``:
    ``mask/<name>.png`` (0 = unchanged, 255 = changed),
    ``prob/<name>.png`` (``save_prob``: round(255 * P(changed))) and
    ``overlay/<name>.png`` (``save_overlay``: the change drawn on date B; with
    a reference mask, true positives green, false positives red, false
    negatives blue). Existing files are never overwritten unless
    ``overwrite=True``; all of this is checked before anything is run.

    A pixel is "changed" when P(changed) > ``threshold``: the value given
    here, else the checkpoint's ``meta['change_threshold']`` (written by
    ``tools/train.py``), else the model's own rule (0.5, i.e. argmax, for a
    2-class head). Class names come from the checkpoint's ``dataset_meta``.

    Args:
        model (str | Config | dict, optional): A config file, a config
            name of mmcd (e.g. ``'lsnet_difffpn_1xb12-100e_cdd-256x256'``)
            or a config object. None: the config stored in ``weights``.
        weights (str, optional): The checkpoint. Without it the model is
            randomly initialised (a warning says so).
        device (str, optional): Device to run on; None picks one.
        threshold (float, optional): Decision threshold on P(changed), in
            (0, 1). Defaults to None (see above).
        scope (str): Registry scope. Defaults to 'mmcd'.
        show_progress (bool): Show a progress bar. Defaults to True.
        fast (bool): On CPU, run the model through the fast inference path
            (:func:`~mmcd.apis.prepare_fast_model`: ONNX Runtime, logits
            equal to eager within 1e-4); falls back to eager, with a
            warning saying why, when that is impossible. Defaults to True.
    """

    def __init__(self,
                 model: Union[str, Config, dict, None] = None,
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 threshold: Optional[float] = None,
                 scope: str = 'mmcd',
                 show_progress: bool = True,
                 fast: bool = True) -> None:
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError(
                f'threshold must be in (0, 1); got {threshold!r}')
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f'checkpoint not found: {weights}')
        if isinstance(model, os.PathLike):
            model = str(model)
        init_default_scope(scope)
        self.fast = fast
        self._checkpoint_threshold = None
        self.num_array_pairs = 0
        super().__init__(
            model=model, weights=weights, device=device, scope=scope,
            show_progress=show_progress)
        self.threshold = threshold
        if threshold is None:
            self.threshold = self._checkpoint_threshold
        if self.threshold is None:
            self.threshold = change_decision_threshold(self.model)

    # -- model, pipeline -------------------------------------------------
    def _load_model_from_metafile(self, model: str):
        """Resolve an mmcd config name (``<name>.py`` under configs/)."""
        name = model[:-3] if model.endswith('.py') else model
        found = sorted(
            glob.glob(osp.join(_CONFIG_DIR, '**', name + '.py'),
                      recursive=True))
        found = [f for f in found if '_base_' not in f]
        if not found:
            raise FileNotFoundError(
                f'model {model!r} is neither a config file nor the name of '
                f'an mmcd config (configs/**/<name>.py)')
        return Config.fromfile(found[0]), None

    def _init_model(self, cfg, weights, device='cpu'):
        """Build the model and load the weights: the one place the model
        is made (a model-optimisation step belongs here)."""
        model = super()._init_model(cfg, weights, device)
        if device == 'cpu' or not torch.cuda.is_available():
            model = revert_sync_batchnorm(model)
        if self.fast and next(model.parameters()).device.type == 'cpu':
            prepare_fast_model(
                model,
                sample_shape=(1, pair_channels(model), 64, 64),
                strict=False)
        return model

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        """Load the weights, ``dataset_meta`` and the decision threshold."""
        meta = {}
        if checkpoint is not None:
            _load_checkpoint_to_model(model, checkpoint)
            meta = checkpoint.get('meta', {}) or {}
        else:
            warnings.warn('no weights given: the model is randomly '
                          'initialised and its predictions are meaningless')
        dataset_meta = meta.get('dataset_meta') or {}
        model.dataset_meta = {
            'classes': dataset_meta.get(
                'classes', ChangeDetectionDataset.METAINFO['classes']),
            'palette': dataset_meta.get(
                'palette', ChangeDetectionDataset.METAINFO['palette']),
        }
        self._checkpoint_threshold = meta.get('change_threshold')

    def _init_collate(self, cfg) -> Callable:
        """The test loader's ``collate_fn`` (mmengine's pseudo_collate by
        default, as the Runner)."""
        collate_cfg = cfg.get('test_dataloader', {}).get('collate_fn')
        if collate_cfg is None:
            return pseudo_collate
        return FUNCTIONS.get(collate_cfg['type'])

    def _init_visualizer(self, cfg) -> None:
        """No mmengine visualizer: overlays are drawn by
        :func:`~mmcd.visualization.draw_change_overlay`."""
        return None

    def _init_pipeline(self, cfg) -> Compose:
        """The config's test pipeline, loading pairs from files or arrays
        and no annotation."""
        if cfg.get('test_dataloader', None) is not None:
            pipeline_cfg = cfg.test_dataloader.dataset.pipeline
        elif cfg.get('test_pipeline', None) is not None:
            pipeline_cfg = cfg.test_pipeline
        else:
            raise ValueError('the config has no test pipeline '
                             '(test_dataloader.dataset.pipeline)')
        transforms, self.loader = [], None
        for t in copy.deepcopy(pipeline_cfg):
            kind = t['type'] if isinstance(t['type'], str) else \
                t['type'].__name__
            kind = kind.split('.')[-1]
            if kind in ('LoadChangeAnnotation', 'LoadAnnotations'):
                continue
            if kind == 'LoadImagePairFromFile':
                t.pop('type')
                self.loader = PairInferencerLoader(**t)
                transforms.append(self.loader)
            else:
                transforms.append(t)
        if self.loader is None:
            raise ValueError('the test pipeline of the config has no '
                             'LoadImagePairFromFile')
        return Compose(transforms)

    # -- inputs ------------------------------------------------------------
    def _inputs_to_list(self, inputs) -> List[dict]:
        """Normalise the inputs to a list of named pair dicts."""
        if _is_pair(inputs):
            a, b = (os.fspath(x) if isinstance(x, os.PathLike) else x
                    for x in inputs)
            if isinstance(a, str) and isinstance(b, str) and osp.isdir(
                    a) and osp.isdir(b):
                return [self._pair_item(pa, pb)
                        for pa, pb in pair_folders(a, b)]
            return [self._pair_item(a, b)]
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(
                'inputs must be a pair (path_a, path_b) or (img_a, img_b), '
                f'a list of pairs or a pair of folders; got {type(inputs)}')
        items = []
        for i, pair in enumerate(inputs):
            if not _is_pair(pair):
                raise TypeError(f'input {i} is not a pair of two paths or '
                                f'two arrays: {type(pair)}')
            items.append(self._pair_item(*pair))
        names = [it['name'] for it in items]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(
                'two input pairs have the same name (date-A file name without '
                f'suffix), so their outputs would collide: {_listing(dupes)}')
        return items

    def _pair_item(self, a, b) -> dict:
        a = os.fspath(a) if isinstance(a, os.PathLike) else a
        b = os.fspath(b) if isinstance(b, os.PathLike) else b
        if isinstance(a, str) and isinstance(b, str):
            for path, what in ((a, 'date-A'), (b, 'date-B')):
                if not osp.isfile(path):
                    raise FileNotFoundError(f'{what} image not found: {path}')
            return dict(name=osp.splitext(osp.basename(a))[0],
                        img_path=a, img_path2=b)
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            name = f'{self.num_array_pairs:08d}'
            self.num_array_pairs += 1
            return dict(name=name, img_a=a, img_b=b)
        raise TypeError('a pair must be two paths or two arrays; got '
                        f'{type(a).__name__} and {type(b).__name__}')

    @staticmethod
    def _match_references(items: List[dict], references) -> List:
        """One reference mask path (or None) per item."""
        if references is None:
            return [None] * len(items)
        if isinstance(references, (str, os.PathLike)):
            references = os.fspath(references)
            if osp.isdir(references):
                refs = _images_by_name(references, 'reference mask')
                missing = [it['name'] for it in items
                           if it['name'] not in refs]
                if missing:
                    raise FileNotFoundError(
                        f'reference folder {references} has no mask for: '
                        f'{_listing(missing)}')
                return [refs[it['name']] for it in items]
            references = [references]
        references = list(references)
        if len(references) != len(items):
            raise ValueError(f'{len(references)} reference masks for '
                             f'{len(items)} pairs')
        for ref in references:
            if ref is not None and not osp.isfile(ref):
                raise FileNotFoundError(f'reference mask not found: {ref}')
        return references

    # -- running -----------------------------------------------------------
    @staticmethod
    def change_probability(sample) -> np.ndarray:
        """P(changed) of one predicted ``SegDataSample`` (``H x W``)."""
        logits = sample.seg_logits.data
        if logits.shape[0] == 2:
            prob = logits.float().softmax(dim=0)[1]
        elif logits.shape[0] == 1:  # mmseg already applied the sigmoid
            prob = logits[0].float()
        else:
            raise ValueError(
                'a change detector predicts 2 classes or one sigmoid '
                f'channel; this model gives {logits.shape[0]}')
        return prob.cpu().numpy()

    @torch.no_grad()
    def _predict_items(self, items: List[dict]) -> Tuple[list, list]:
        """Datasamples and P(changed) maps of one batch of items."""
        data = self.collate_fn([
            self.pipeline({k: v for k, v in it.items() if k != 'name'})
            for it in items
        ])
        samples = self.forward(data)
        return samples, [self.change_probability(s) for s in samples]

    def predict_probabilities(self, pairs: Sequence[PairInput],
                              batch_size: int = 1) -> List[np.ndarray]:
        """P(changed) maps (float32, ``H x W``) of pairs, without output
        files or progress bar (used by the scene predictor per tile batch).

        Args:
            pairs (Sequence[tuple]): Pairs of arrays or of paths.
            batch_size (int): Pairs per forward pass. Defaults to 1.
        """
        items = [self._pair_item(a, b) for a, b in pairs]
        probs = []
        for i in range(0, len(items), batch_size):
            probs += self._predict_items(items[i:i + batch_size])[1]
        return probs

    def _output_paths(self, items, out_dir, save_prob, save_overlay,
                      overwrite) -> List[Dict[str, str]]:
        kinds = ['mask'] + ['prob'] * save_prob + ['overlay'] * save_overlay
        inputs = {osp.realpath(it[k]) for it in items
                  for k in ('img_path', 'img_path2') if k in it}
        paths = []
        for it in items:
            out = {k: osp.join(out_dir, k, it['name'] + '.png')
                   for k in kinds}
            for p in out.values():
                if osp.realpath(p) in inputs:
                    raise ValueError(f'output {p} would overwrite an input '
                                     'image; choose another out_dir')
                if osp.exists(p) and not overwrite:
                    raise FileExistsError(
                        f'output {p} already exists; choose another out_dir '
                        'or pass overwrite=True (--overwrite)')
            paths.append(out)
        return paths

    def __call__(self,
                 inputs,
                 references=None,
                 batch_size: int = 1,
                 out_dir: str = '',
                 save_prob: bool = False,
                 save_overlay: bool = False,
                 overwrite: bool = False,
                 label_encoding: str = '0-255',
                 alpha: float = 0.5,
                 return_datasamples: bool = False,
                 return_results: bool = True) -> Union[dict, list]:
        """Predict change masks of pairs, batch by batch.

        Outputs are written after each batch, so a folder of any size runs
        in bounded memory with ``return_results=False``.

        Args:
            inputs: A pair of paths, a pair of arrays, a list of pairs, or a
                pair of folders (see the class docstring).
            references (str | list, optional): Reference change masks for
                the overlays: one path (single pair), a list of paths (or
                None) parallel to the pairs, or a folder holding a mask named
                like each pair. Defaults to None.
            batch_size (int): Pairs per forward pass. Defaults to 1.
            out_dir (str): Output folder; '' writes nothing. Defaults to ''.
            save_prob (bool): Also write P(changed) maps. Defaults to False.
            save_overlay (bool): Also write overlays on date B. Defaults to
                False.
            overwrite (bool): Allow replacing existing output files.
                Defaults to False.
            label_encoding (str): Encoding of the reference masks, '0-255'
                or '0-1' (see ``LoadChangeAnnotation``). Defaults to '0-255'.
            alpha (float): Opacity of the overlay colours. Defaults to 0.5.
            return_datasamples (bool): Return mmseg ``SegDataSample`` s
                instead of arrays. Defaults to False.
            return_results (bool): Keep and return the per-pair results;
                False returns only the names (for large folders). Defaults to
                True.

        Returns:
            dict | list: ``names``; with ``return_results``, ``predictions``
            (0/1 uint8 masks), ``probabilities`` (float32 P(changed)) and,
            when overlays are drawn, ``visualization`` (RGB overlays). A list
            of datasamples when ``return_datasamples``.
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1; got {batch_size}')
        items = self._inputs_to_list(inputs)
        refs = self._match_references(items, references)
        if any(r is not None for r in refs) and not save_overlay:
            raise ValueError('reference masks are only drawn on overlays: '
                             'pass save_overlay=True (--overlay) with them')
        out_paths = self._output_paths(items, out_dir, save_prob,
                                       save_overlay, overwrite) \
            if out_dir else [{} for _ in items]
        annotation_loader = LoadChangeAnnotation(label_encoding=label_encoding)

        results = dict(names=[it['name'] for it in items])
        if return_results:
            results.update(predictions=[], probabilities=[])
            if save_overlay:
                results['visualization'] = []
        samples_out = []
        batches = range(0, len(items), batch_size)
        if self.show_progress:
            batches = track(batches, description='Change inference')
        for start in batches:
            chunk = items[start:start + batch_size]
            samples, probs = self._predict_items(chunk)
            masks = [(p > self.threshold).astype(np.uint8) for p in probs]
            overlays = self.visualize(
                chunk, masks, refs[start:start + batch_size],
                annotation_loader, alpha) if save_overlay else None
            self.postprocess(masks, overlays, probs,
                             out_paths[start:start + batch_size])
            if return_datasamples:
                samples_out += samples
            elif return_results:
                results['predictions'] += masks
                results['probabilities'] += probs
                if overlays is not None:
                    results['visualization'] += overlays
        return samples_out if return_datasamples else results

    def visualize(self, inputs: List[dict], preds: List[np.ndarray],
                  references: list, annotation_loader, alpha: float = 0.5
                  ) -> List[np.ndarray]:
        """Draw each predicted mask on date B (TP/FP/FN with a reference).

        Args:
            inputs (list[dict]): The batch's pair items.
            preds (list[np.ndarray]): Their 0/1 masks.
            references (list): Reference mask path (or None) per item.
            annotation_loader (LoadChangeAnnotation): Reads the references.
            alpha (float): Opacity of the colours.

        Returns:
            list[np.ndarray]: RGB uint8 overlays.
        """
        overlays = []
        for item, pred, ref in zip(inputs, preds, references):
            if 'img_path2' in item:
                img_b = mmcv.imread(item['img_path2'], channel_order='rgb')
            else:
                img_b = np.asarray(item['img_b'])
                if img_b.ndim == 3 and img_b.shape[2] > 3:
                    img_b = img_b[..., :3]
            gt = None
            if ref is not None:
                gt = annotation_loader(dict(
                    seg_map_path=ref, ori_shape=pred.shape,
                    img_path=item.get('img_path', item['name']),
                    img_path2=item.get('img_path2')))['gt_seg_map']
            overlays.append(draw_change_overlay(img_b, pred, gt, alpha=alpha))
        return overlays

    def postprocess(self, preds: List[np.ndarray],
                    visualization: Optional[List[np.ndarray]],
                    probs: List[np.ndarray],
                    out_paths: List[Dict[str, str]]) -> None:
        """Write masks, P(changed) maps and overlays of one batch.

        Args:
            preds (list[np.ndarray]): 0/1 masks.
            visualization (list[np.ndarray], optional): RGB overlays.
            probs (list[np.ndarray]): P(changed) maps.
            out_paths (list[dict]): Per pair, output path by kind
                (``mask``, ``prob``, ``overlay``); empty: write nothing.
        """
        for i, paths in enumerate(out_paths):
            images = dict(
                mask=lambda: preds[i] * np.uint8(255),
                prob=lambda: np.rint(probs[i] * 255).astype(np.uint8),
                overlay=lambda: visualization[i])
            for kind, path in paths.items():
                os.makedirs(osp.dirname(path), exist_ok=True)
                Image.fromarray(images[kind]()).save(path)
