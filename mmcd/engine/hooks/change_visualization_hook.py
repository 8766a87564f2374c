"""Draw A | B | change-overlay panels of validation/test predictions."""
import os.path as osp
from typing import Dict, Optional, Sequence

import mmcv
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer

from mmcd.registry import HOOKS
from mmcd.utils.data_sample import pixel_data, sample_field
from mmcd.visualization import ChangeLocalVisualizer


@HOOKS.register_module()
class ChangeVisualizationHook(Hook):
    """Draw a date A | date B | overlay panel for each predicted pair.

    The counterpart of mmseg's ``SegVisualizationHook``, used by
    ``tools/test.py --show-dir DIR`` and ``--show``. After every
    ``interval``-th test (and validation) iteration, for each output data
    sample the two dates are read from ``img_path`` and ``img_path2`` (RGB)
    and handed to the current
    :class:`~mmcd.visualization.ChangeLocalVisualizer` (the runner's
    ``visualizer``), which composes the panel. The overlay shows TP / FP / FN
    when the sample has ``gt_sem_seg``, the predicted change otherwise. With
    ``out_dir`` the panel is written as ``<out_dir>/<basename of img_path,
    suffix replaced by .png>``; without it, it goes to the visualizer's
    backends (``LocalVisBackend``, TensorBoard, WandB...) named
    ``<mode>_<basename of img_path without suffix>`` at step
    ``runner.iter``. Predictions must be at the original image size (mmseg's
    segmentors restore them to ``ori_shape``); a size mismatch with the
    images on disk raises a ``ValueError``. Two different pairs with the same
    file name in one validation/test round also raise a ``ValueError``
    instead of overwriting each other.

    Args:
        draw (bool): Whether to draw at all; the hook does nothing unless
            True. Defaults to False.
        interval (int): Draw the outputs of every ``interval``-th iteration
            (batch). Defaults to 1.
        out_dir (str, optional): Output directory of the panels. A relative
            path is taken inside ``runner.log_dir`` (like mmseg's visualizer
            ``save_dir``); None hands the panels to the visualizer's
            backends. Defaults to None.
        show (bool): Whether to display each panel in a window. Defaults to
            False.
        wait_time (float): The interval of show (s). Defaults to 0.
        alpha (float, optional): Opacity of the overlay colours, set on the
            visualizer; None keeps the visualizer's (0.5 by default).
            Defaults to None.
        ignore_index (int, optional): Ground-truth label left undrawn, set
            on the visualizer; None keeps the visualizer's (255 by default).
            Defaults to None.
        backend_args (dict, optional): File backend arguments for reading
            the images (see ``mmcv.imread``). Defaults to None.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 1,
                 out_dir: Optional[str] = None,
                 show: bool = False,
                 wait_time: float = 0.,
                 alpha: Optional[float] = None,
                 ignore_index: Optional[int] = None,
                 backend_args: Optional[dict] = None) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1; got {interval}')
        self.draw = draw
        self.interval = interval
        self.out_dir = out_dir
        self.show = show
        self.wait_time = wait_time
        self.alpha = alpha
        self.ignore_index = ignore_index
        self.backend_args = backend_args.copy() if backend_args else None
        self._saved_pairs: Dict[str, tuple] = {}

    def _resolve_out_dir(self, runner) -> Optional[str]:
        """The output directory, relative paths inside ``runner.log_dir``;
        None for the visualizer's backends."""
        if self.out_dir is None:
            return None
        return osp.join(runner.log_dir, self.out_dir)

    def before_val_epoch(self, runner) -> None:
        """Start a new round of output file names."""
        self._saved_pairs.clear()

    def before_test_epoch(self, runner) -> None:
        """Start a new round of output file names."""
        self._saved_pairs.clear()

    def _after_iter(self,
                    runner,
                    batch_idx: int,
                    data_batch=None,
                    outputs: Optional[Sequence] = None,
                    mode: str = 'train') -> None:
        """Draw the outputs of a validation or test iteration.

        Args:
            runner (Runner): The runner (``log_dir`` and ``iter`` are used).
            batch_idx (int): Index of the batch in the loop.
            data_batch (dict, optional): Data from the dataloader (unused).
            outputs (Sequence[SegDataSample], optional): Model outputs.
            mode (str): ``'train'``, ``'val'`` or ``'test'``; training
                iterations are never drawn.
        """
        if not self.draw or mode == 'train' or not outputs:
            return
        if not self.every_n_inner_iters(batch_idx, self.interval):
            return
        visualizer = Visualizer.get_current_instance()
        if not isinstance(visualizer, ChangeLocalVisualizer):
            raise TypeError(
                'ChangeVisualizationHook draws through the runner\'s '
                'visualizer, which must be a ChangeLocalVisualizer (set '
                "visualizer = dict(type='ChangeLocalVisualizer', ...)); got "
                f'{type(visualizer).__name__}')
        if self.alpha is not None:
            visualizer.alpha = self.alpha
        if self.ignore_index is not None:
            visualizer.ignore_index = self.ignore_index
        out_dir = self._resolve_out_dir(runner)
        for sample in outputs:
            self._draw_sample(visualizer, sample, out_dir, mode, runner.iter)

    def _draw_sample(self, visualizer: ChangeLocalVisualizer, sample,
                     out_dir: Optional[str], mode: str, step: int) -> None:
        """Read the pair of one data sample and draw its panel."""
        img_path = sample_field(sample, 'img_path')
        img_path2 = sample_field(sample, 'img_path2')
        if img_path is None or img_path2 is None:
            raise KeyError('ChangeVisualizationHook needs `img_path` and '
                           '`img_path2` in the metainfo of every output')
        pred = pixel_data(sample_field(sample, 'pred_sem_seg'))
        if pred is None:
            raise KeyError('ChangeVisualizationHook needs `pred_sem_seg` in '
                           'every output')

        img_a = mmcv.imread(
            img_path, channel_order='rgb', backend_args=self.backend_args)
        img_b = mmcv.imread(
            img_path2, channel_order='rgb', backend_args=self.backend_args)
        pred_hw = tuple(pred.shape[-2:])
        for path, img in ((img_path, img_a), (img_path2, img_b)):
            if tuple(img.shape[:2]) != pred_hw:
                raise ValueError(
                    f'ChangeVisualizationHook: image {path} is '
                    f'{img.shape[0]}x{img.shape[1]} but the prediction is '
                    f'{pred_hw[0]}x{pred_hw[1]}; predictions must be at the '
                    'original image size (check that the pipeline\'s resize '
                    'is undone, i.e. `ori_shape` is the size on disk)')

        stem = osp.splitext(osp.basename(img_path))[0]
        pair = (img_path, img_path2)
        previous = self._saved_pairs.setdefault(stem, pair)
        if previous != pair:
            raise ValueError(
                f'ChangeVisualizationHook cannot save pair {pair} as {stem!r} '
                f'in {out_dir or "the visualizer backends"!r}: pair '
                f'{previous} was already saved under that name. Give the '
                'pairs distinct file names.')
        visualizer.add_datasample(
            f'{mode}_{stem}',
            (img_a, img_b),
            data_sample=sample,
            show=self.show,
            wait_time=self.wait_time,
            out_file=None if out_dir is None else osp.join(
                out_dir, stem + '.png'),
            step=step)
