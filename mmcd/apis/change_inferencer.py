"""Run a trained change detector on image pairs (mmseg inferencer style)."""
import copy
import glob
import os
import os.path as osp
import warnings
from typing import (Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import FUNCTIONS, MODELS, init_default_scope
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)
from rich.progress import track

from mmcd.datasets import ChangeDetectionDataset
from mmcd.datasets.transforms import (ChangeInferencerLoader,
                                      LoadChangeAnnotation)
from mmcd.datasets.transforms.image_io import display_rgb
from mmcd.engine.hooks import change_decision_threshold
from mmcd.evaluation.functional import change_probability
from mmcd.models.segmentors import FastChangeSegmentor
from mmcd.utils.checkpoint_safety import (check_weights_match,
                                          config_from_checkpoint)
from mmcd.utils.writers import write_mask, write_probability, write_rgb
from mmcd.registry import VISUALIZERS
from mmcd.visualization import ChangeLocalVisualizer

ImageInput = Union[str, os.PathLike, np.ndarray]
PairInput = Tuple[ImageInput, ImageInput]

#: Suffixes of the images paired up by name in two folders.
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')

_CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                       '.mim', 'configs')


def find_config(name: str) -> str:
    """The file of an mmcd config given by name (``<name>[.py]`` under
    configs/, not ``_base_``)."""
    stem = name[:-3] if name.endswith('.py') else name
    found = sorted(
        glob.glob(osp.join(_CONFIG_DIR, '**', stem + '.py'), recursive=True))
    found = [f for f in found if '_base_' not in f]
    if not found:
        raise FileNotFoundError(
            f'model {name!r} is neither a config file nor the name of '
            f'an mmcd config (configs/**/<name>.py)')
    return found[0]


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


def _check_threshold(value, where: str, hint: str = '') -> float:
    """A decision threshold on P(changed) must be a number in (0, 1):
    at 0 or 1 every pixel, or none, would be called changed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value < 1:
        raise ValueError(
            f'{where} is {value!r}: a decision threshold on P(changed) must '
            'be a number in (0, 1) (at or beyond the ends every pixel, or '
            f'none, would be called changed){hint}')
    return float(value)


def _is_image(x) -> bool:
    return isinstance(x, (str, os.PathLike, np.ndarray))


def _is_pair(x) -> bool:
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(
        _is_image(e) for e in x)


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
    2-class head). The mask is the model's ``pred_sem_seg``: a 1-channel
    sigmoid head is given the threshold (``decode_head.threshold``); a
    2-class softmax head decides by argmax, which is P(changed) > 0.5, so for
    another threshold the inferencer re-decides from P(changed)
    (:func:`~mmcd.evaluation.functional.change_probability`) and replaces
    ``pred_sem_seg``. Class names come from the checkpoint's
    ``dataset_meta``.

    As every mmengine inferencer, a call runs :meth:`preprocess`,
    :meth:`forward`, :meth:`visualize` and :meth:`postprocess`, dispatching
    the keyword arguments by :attr:`preprocess_kwargs`,
    :attr:`forward_kwargs`, :attr:`visualize_kwargs` and
    :attr:`postprocess_kwargs` (an unknown one raises ``ValueError``); it
    does so batch by batch, writing the outputs of each batch before the
    next runs.

    Args:
        model (str | Config | dict, optional): A config file, a config
            name of mmcd (e.g. ``'lsnet_difffpn_1xb12-100e_cdd-256x256'``)
            or a config object. None: the config stored in ``weights``,
            read as plain data, never run (a stored config that is not
            plain data is refused, see ``trust_checkpoint_config``).
        weights (str, optional): The checkpoint. Without it the model is
            randomly initialised (a warning says so).
        device (str, optional): Device to run on; None picks one.
        threshold (float, optional): Decision threshold on P(changed), in
            (0, 1). Defaults to None (see above).
        scope (str): Registry scope. Defaults to 'mmcd'.
        show_progress (bool): Show a progress bar. Defaults to True.
        fast (bool): On CPU, run the model through the fast inference path
            (:class:`~mmcd.models.segmentors.FastChangeSegmentor`: the network
            in OpenVINO or ONNX Runtime, exported at the first batch); falls
            back to eager, with a warning saying why, when that is impossible.
            Defaults to True.
        allow_partial_weights (bool): Load the checkpoint's weights even
            when keys are missing, unexpected or of another shape (logged);
            by default that is an error naming them. Weights of auxiliary
            heads (training only) may always be absent on either side.
            Defaults to False.
        trust_checkpoint_config (bool): With ``model=None``, run the
            checkpoint's config text as Python, as mmengine does, when it is
            not plain data; only for a checkpoint from a trusted source.
            Defaults to False.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = set()
    visualize_kwargs: set = {'save_overlay', 'label_encoding', 'alpha'}
    postprocess_kwargs: set = {'out_dir', 'save_prob', 'return_results'}

    def __init__(self,
                 model: Union[str, Config, dict, None] = None,
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 threshold: Optional[float] = None,
                 scope: str = 'mmcd',
                 show_progress: bool = True,
                 fast: bool = True,
                 allow_partial_weights: bool = False,
                 trust_checkpoint_config: bool = False) -> None:
        if threshold is not None:
            _check_threshold(threshold, 'threshold (--threshold)')
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f'checkpoint not found: {weights}')
        if isinstance(model, os.PathLike):
            model = str(model)
        init_default_scope(scope)
        self.fast = fast
        self.allow_partial_weights = allow_partial_weights
        self.trust_checkpoint_config = trust_checkpoint_config
        self._weights_name = weights
        self._checkpoint_threshold = None
        self.num_array_pairs = 0
        super().__init__(
            model=model, weights=weights, device=device, scope=scope,
            show_progress=show_progress)
        self.threshold = threshold
        if threshold is None and self._checkpoint_threshold is not None:
            self.threshold = _check_threshold(
                self._checkpoint_threshold,
                f"meta['change_threshold'] of checkpoint {weights}",
                ' (pass threshold=..., --threshold, to override it)')
        if self.threshold is None:
            self.threshold = change_decision_threshold(self.model)
        if self.model.decode_head.out_channels == 1:
            self.model.decode_head.threshold = self.threshold

    # -- model, pipeline -------------------------------------------------
    def _load_model_from_metafile(self, model: str):
        """Resolve an mmcd config name (``<name>.py`` under configs/)."""
        return Config.fromfile(find_config(model)), None

    def _init_model(self, cfg, weights, device='cpu'):
        """Build the model and load the weights: the one place the model
        is made (a model-optimisation step belongs here). As mmengine's,
        except that a config stored in the checkpoint is read as data
        (:func:`~mmcd.utils.checkpoint_safety.config_from_checkpoint`)."""
        checkpoint = None
        if weights is not None:
            checkpoint = _load_checkpoint(weights, map_location='cpu')
        #: How messages name the config.
        self.config_name = getattr(cfg, 'filename', None) or 'given'
        if not cfg:
            cfg.update(config_from_checkpoint(
                checkpoint, weights, self.trust_checkpoint_config)._cfg_dict)
            self.config_name = f'stored in {weights}'
        if cfg.model.get('pretrained') is not None:
            del cfg.model.pretrained
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        self._load_weights_to_model(model, checkpoint, cfg)
        model.to(device)
        model.eval()
        if device == 'cpu' or not torch.cuda.is_available():
            model = revert_sync_batchnorm(model)
        if self.fast and next(model.parameters()).device.type == 'cpu':
            # logs why and stays eager when the fast path is impossible
            model = FastChangeSegmentor(model)
        return model

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        """Load the weights, ``dataset_meta`` and the decision threshold."""
        meta = {}
        if checkpoint is not None:
            check_weights_match(
                model, checkpoint, self.config_name, self._weights_name,
                self.allow_partial_weights)
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

    def _init_visualizer(self, cfg) -> ChangeLocalVisualizer:
        """A :class:`~mmcd.visualization.ChangeLocalVisualizer` with the
        config's visualizer settings (a config naming mmseg's
        ``SegLocalVisualizer`` gets mmcd's); no storage backends, since
        :meth:`postprocess` writes the overlays."""
        vis_cfg = copy.deepcopy(cfg.get('visualizer') or {})
        vis_type = vis_cfg.get('type')
        if isinstance(vis_type, str):
            vis_type = VISUALIZERS.get(vis_type)
        if not (isinstance(vis_type, type)
                and issubclass(vis_type, ChangeLocalVisualizer)):
            vis_cfg['type'] = ChangeLocalVisualizer
        vis_cfg.pop('vis_backends', None)
        vis_cfg.pop('save_dir', None)
        # visualizers are named instances: one per inferencer
        vis_cfg['name'] = f'change_inferencer_{id(self)}'
        return VISUALIZERS.build(vis_cfg)

    def _init_pipeline(self, cfg) -> Compose:
        """The config's test pipeline without annotation loading, its
        ``LoadImagePairFromFile`` replaced by
        :class:`~mmcd.datasets.transforms.ChangeInferencerLoader` (pairs
        from files or arrays)."""
        if cfg.get('test_dataloader', None) is not None:
            pipeline_cfg = cfg.test_dataloader.dataset.pipeline
        elif cfg.get('test_pipeline', None) is not None:
            pipeline_cfg = cfg.test_pipeline
        else:
            raise ValueError('the config has no test pipeline '
                             '(test_dataloader.dataset.pipeline)')
        transforms = []
        for t in copy.deepcopy(pipeline_cfg):
            kind = t['type'] if isinstance(t['type'], str) else \
                t['type'].__name__
            kind = kind.split('.')[-1]
            if kind in ('LoadChangeAnnotation', 'LoadAnnotations'):
                continue
            if kind == 'LoadImagePairFromFile':
                t['type'] = 'ChangeInferencerLoader'
            elif kind == 'LoadBandFolderPair':
                # inference takes each date as one multi-band file whose
                # band i is the folder's band_names[i - 1] (the band files
                # stacked on one grid, e.g. by gdalbuildvrt -separate)
                t = dict(type='ChangeInferencerLoader', bands=t.get('bands'),
                         color_type=None if t.get('bands') else 'unchanged',
                         dtype=None, to_float32=t.get('to_float32', False))
            transforms.append(t)
        pipeline = Compose(transforms)
        loaders = [t for t in pipeline.transforms
                   if isinstance(t, ChangeInferencerLoader)]
        if not loaders:
            raise ValueError('the test pipeline of the config has no '
                             'LoadImagePairFromFile (or LoadBandFolderPair)')
        #: The pipeline's loader; its ``load_date`` decodes one date.
        self.loader = loaders[0]
        return pipeline

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
            if not osp.exists(references):
                raise FileNotFoundError(
                    f'reference mask (or folder of masks) not found: '
                    f'{references}')
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
                 return_results: bool = True,
                 **kwargs) -> Union[dict, list]:
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
            save_overlay (bool): Also draw overlays on date B (and write
                them). Defaults to False.
            overwrite (bool): Allow replacing existing output files.
                Defaults to False.
            label_encoding (str): Encoding of the reference masks, '0-255'
                or '0-1' (see ``LoadChangeAnnotation``). Defaults to '0-255'.
            alpha (float): Opacity of the overlay colours. Defaults to 0.5.
            return_datasamples (bool): Return mmseg ``SegDataSample`` s
                (with ``pair_name`` in their metainfo) instead of arrays.
                Defaults to False.
            return_results (bool): Keep and return the per-pair results;
                False returns only the names (for large folders). Defaults to
                True.
            **kwargs: Further arguments of :meth:`preprocess`,
                :meth:`forward`, :meth:`visualize` and :meth:`postprocess`,
                by the ``*_kwargs`` sets.

        Returns:
            dict | list: ``names``; with ``return_results``, ``predictions``
            (0/1 uint8 masks), ``probabilities`` (float32 P(changed)) and,
            when overlays are drawn, ``visualization`` (RGB overlays). A list
            of datasamples when ``return_datasamples``.
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1; got {batch_size}')
        (preprocess_kwargs, forward_kwargs, visualize_kwargs,
         postprocess_kwargs) = self._dispatch_kwargs(
             save_overlay=save_overlay, label_encoding=label_encoding,
             alpha=alpha, out_dir=out_dir, save_prob=save_prob,
             return_results=return_results, **kwargs)
        items = self._inputs_to_list(inputs)
        refs = self._match_references(items, references)
        if any(r is not None for r in refs) and not save_overlay:
            raise ValueError('reference masks are only drawn on overlays: '
                             'pass save_overlay=True (--overlay) with them')
        for item, ref in zip(items, refs):
            item['reference'] = ref
        if out_dir:
            self._check_outputs(items, out_dir, save_prob, save_overlay,
                                overwrite)

        results = dict(names=[])
        if return_results:
            results.update(predictions=[], probabilities=[])
            if save_overlay:
                results['visualization'] = []
        samples = []
        batches = self.preprocess(items, batch_size, **preprocess_kwargs)
        if self.show_progress:
            batches = track(batches, total=-(-len(items) // batch_size),
                            description='Change inference')
        position = {id(item): i for i, item in enumerate(items)}
        order = []
        for chunk, data in batches:
            preds = self.forward(data, **forward_kwargs)
            visualization = self.visualize(chunk, preds, **visualize_kwargs)
            batch = self.postprocess(preds, visualization,
                                     return_datasamples,
                                     **postprocess_kwargs)
            order += [position[id(item)] for item in chunk]
            if return_datasamples:
                samples += batch
            else:
                for key, values in batch.items():
                    results[key] += values
        # batches of one input size each: back to the input order
        order = np.argsort(order, kind='stable')
        if return_datasamples:
            return [samples[i] for i in order]
        return {key: [values[i] for i in order]
                for key, values in results.items()}

    def preprocess(self, inputs: List[dict], batch_size: int = 1,
                   **kwargs) -> Iterator[Tuple[List[dict], dict]]:
        """Run the pipeline on the pairs and collate them, lazily.

        Args:
            inputs (list[dict]): Pair items of :meth:`_inputs_to_list`.
            batch_size (int): Pairs per batch. Defaults to 1.

        Yields:
            tuple[list[dict], dict]: A batch's pair items and its collated
            data for ``model.test_step``; each data sample carries its
            pair's ``pair_name`` in its metainfo. A batch holds pairs of one
            input size: pairs of other sizes wait for a batch of theirs
            (at most ``batch_size - 1`` per size), so the batches of mixed
            sizes come out of input order.
        """
        # pairs of one input size form a batch: a batch of mixed sizes
        # cannot be stacked
        by_shape: Dict[tuple, List[Tuple[dict, dict]]] = {}
        for item in inputs:
            data = self.pipeline({
                k: v for k, v in item.items()
                if k not in ('name', 'reference')
            })
            data['data_samples'].set_metainfo(dict(pair_name=item['name']))
            batch = by_shape.setdefault(tuple(data['inputs'].shape), [])
            batch.append((item, data))
            if len(batch) == batch_size:
                yield self._collate(by_shape.pop(tuple(data['inputs'].shape)))
        for batch in by_shape.values():
            yield self._collate(batch)

    def _collate(self, batch: List[Tuple[dict, dict]]) -> Tuple[List[dict],
                                                                dict]:
        return [item for item, _ in batch], self.collate_fn(
            [data for _, data in batch])

    @torch.no_grad()
    def forward(self, inputs: dict, **kwargs) -> list:
        """Predict one collated batch; ``pred_sem_seg`` is re-decided from
        P(changed) where the model's own rule differs from
        :attr:`threshold` (a 2-class head with a threshold other than 0.5).

        Args:
            inputs (dict): Collated data of :meth:`preprocess`.

        Returns:
            list[SegDataSample]: The predictions.
        """
        preds = self.model.test_step(inputs)
        if self.threshold != change_decision_threshold(self.model):
            for pred in preds:
                changed = self._probability(pred) > self.threshold
                pred.pred_sem_seg.data = torch.from_numpy(changed)[None].to(
                    pred.pred_sem_seg.data)
        return preds

    @staticmethod
    def _mask(pred) -> np.ndarray:
        """0/1 uint8 mask (``H x W``) of a predicted ``SegDataSample``."""
        return pred.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)

    @staticmethod
    def _probability(pred) -> np.ndarray:
        """float32 P(changed) (``H x W``) of a predicted ``SegDataSample``."""
        return change_probability(pred.seg_logits.data).astype(np.float32)

    def predict_probabilities(self, pairs: Sequence[PairInput],
                              batch_size: int = 1) -> List[np.ndarray]:
        """P(changed) maps (float32, ``H x W``) of pairs, without output
        files or progress bar (used by the scene predictor per tile batch).

        Args:
            pairs (Sequence[tuple]): Pairs of arrays or of paths.
            batch_size (int): Pairs per forward pass. Defaults to 1.
        """
        items = [self._pair_item(a, b) for a, b in pairs]
        probabilities: List[Optional[np.ndarray]] = [None] * len(items)
        position = {id(item): i for i, item in enumerate(items)}
        for chunk, data in self.preprocess(items, batch_size):
            for item, pred in zip(chunk, self.forward(data)):
                probabilities[position[id(item)]] = self._probability(pred)
        return probabilities

    def visualize(self,
                  inputs: List[dict],
                  preds: list,
                  save_overlay: bool = False,
                  label_encoding: str = '0-255',
                  alpha: float = 0.5) -> Optional[List[np.ndarray]]:
        """Draw each predicted mask on date B (TP/FP/FN with a reference).

        Args:
            inputs (list[dict]): The batch's pair items (with their
                ``reference`` mask path or None).
            preds (list[SegDataSample]): Their predictions.
            save_overlay (bool): Draw; else return None. Defaults to False.
            label_encoding (str): Encoding of the reference masks.
                Defaults to '0-255'.
            alpha (float): Opacity of the colours. Defaults to 0.5.

        Returns:
            list[np.ndarray], optional: RGB uint8 overlays.
        """
        if not save_overlay:
            return None
        annotation_loader = LoadChangeAnnotation(label_encoding=label_encoding)
        overlays = []
        for item, pred in zip(inputs, preds):
            mask = self._mask(pred)
            if 'img_path2' in item:
                # as the model saw it (bands, dtype), shown as 8-bit RGB
                img_b = self.loader.load_date(item['img_path2'],
                                              'date-B image')
                if self.loader.channel_order == 'bgr':
                    img_b = img_b[..., ::-1]
            else:
                img_b = np.asarray(item['img_b'])
            img_b = display_rgb(img_b)
            gt = None
            if item.get('reference') is not None:
                gt = annotation_loader(dict(
                    seg_map_path=item['reference'], ori_shape=mask.shape,
                    img_path=item.get('img_path', item['name']),
                    img_path2=item.get('img_path2')))['gt_seg_map']
            self.visualizer.alpha = alpha
            overlays.append(self.visualizer.draw_change(img_b, mask, gt))
        return overlays

    def postprocess(self,
                    preds: list,
                    visualization: Optional[List[np.ndarray]],
                    return_datasample: bool = False,
                    out_dir: str = '',
                    save_prob: bool = False,
                    return_results: bool = True) -> Union[dict, list]:
        """Write and pack one batch's masks, P(changed) maps and overlays.

        Args:
            preds (list[SegDataSample]): Predictions of :meth:`forward`.
            visualization (list[np.ndarray], optional): RGB overlays.
            return_datasample (bool): Return ``preds`` instead of arrays.
                Defaults to False.
            out_dir (str): Write ``mask/``, ``prob/`` (``save_prob``) and
                ``overlay/`` (with ``visualization``) under it; '' writes
                nothing. Defaults to ''.
            save_prob (bool): Write P(changed) maps. Defaults to False.
            return_results (bool): Return the arrays, not only the names.
                Defaults to True.

        Returns:
            dict | list: ``preds`` (``return_datasample``), or ``names`` and,
            with ``return_results``, ``predictions`` (0/1 uint8),
            ``probabilities`` (float32) and ``visualization`` (when drawn).
        """
        keep = return_results and not return_datasample
        results = dict(names=[], predictions=[], probabilities=[])
        for i, pred in enumerate(preds):
            name = pred.metainfo['pair_name']
            mask = self._mask(pred)
            prob = self._probability(pred) \
                if keep or (out_dir and save_prob) else None
            if out_dir:
                paths = self._output_paths(name, out_dir, save_prob,
                                           visualization is not None)
                write_mask(paths['mask'], mask)
                if save_prob:
                    write_probability(paths['prob'], prob)
                if visualization is not None:
                    write_rgb(paths['overlay'], visualization[i])
            results['names'].append(name)
            results['predictions'].append(mask)
            results['probabilities'].append(prob)
        if return_datasample:
            return preds
        if not keep:
            return dict(names=results['names'])
        if visualization is not None:
            results['visualization'] = list(visualization)
        return results

    @staticmethod
    def _output_paths(name: str, out_dir: str, save_prob: bool,
                      save_overlay: bool) -> Dict[str, str]:
        """Output path by kind (``mask``, ``prob``, ``overlay``) of a pair."""
        kinds = ['mask'] + ['prob'] * save_prob + ['overlay'] * save_overlay
        return {k: osp.join(out_dir, k, name + '.png') for k in kinds}

    def _check_outputs(self, items: List[dict], out_dir: str,
                       save_prob: bool, save_overlay: bool,
                       overwrite: bool) -> None:
        """Refuse outputs that would replace an input or, unless
        ``overwrite``, an existing file."""
        inputs = {osp.realpath(it[k]) for it in items
                  for k in ('img_path', 'img_path2') if k in it}
        for it in items:
            for p in self._output_paths(it['name'], out_dir, save_prob,
                                        save_overlay).values():
                if osp.realpath(p) in inputs:
                    raise ValueError(f'output {p} would overwrite an input '
                                     'image; choose another out_dir')
                if osp.exists(p) and not overwrite:
                    raise FileExistsError(
                        f'output {p} already exists; choose another out_dir '
                        'or pass overwrite=True (--overwrite)')
