"""Save A | B | change-overlay panels of validation/test predictions."""
import os.path as osp
from typing import Dict, Optional, Sequence

import mmcv
from mmengine.hooks import Hook

from mmcd.registry import HOOKS
from mmcd.utils.data_sample import pixel_data, sample_field
from mmcd.visualization import compose_change_panel


@HOOKS.register_module()
class ChangeVisualizationHook(Hook):
    """Write a date A | date B | overlay panel for each predicted pair.

    Used by ``tools/test.py --show-dir DIR``. After every ``interval``-th
    test (and validation) iteration, for each output data sample the two
    dates are read from ``img_path`` and ``img_path2`` (RGB) and
    :func:`~mmcd.visualization.compose_change_panel` is saved as
    ``<out_dir>/<basename of img_path, suffix replaced by .png>``. The
    overlay shows TP / FP / FN when the sample has ``gt_sem_seg``, the
    predicted change otherwise. Predictions must be at the original image
    size (mmseg's segmentors restore them to ``ori_shape``); a size mismatch
    with the images on disk raises a ``ValueError``. Two different pairs
    with the same file name in one validation/test round also raise a
    ``ValueError`` instead of overwriting each other.

    Args:
        draw (bool): Whether to draw at all; the hook does nothing unless
            True. Defaults to False.
        interval (int): Draw the outputs of every ``interval``-th iteration
            (batch). Defaults to 1.
        out_dir (str, optional): Output directory. A relative path is taken
            inside ``runner.log_dir`` (like mmseg's visualizer ``save_dir``);
            None means ``<runner.log_dir>/vis_change``. Defaults to None.
        alpha (float): Opacity of the overlay colours. Defaults to 0.5.
        ignore_index (int): Ground-truth label left undrawn. Defaults to 255.
        backend_args (dict, optional): File backend arguments for reading
            the images (see ``mmcv.imread``). Defaults to None.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 1,
                 out_dir: Optional[str] = None,
                 alpha: float = 0.5,
                 ignore_index: int = 255,
                 backend_args: Optional[dict] = None) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1; got {interval}')
        self.draw = draw
        self.interval = interval
        self.out_dir = out_dir
        self.alpha = alpha
        self.ignore_index = ignore_index
        self.backend_args = backend_args.copy() if backend_args else None
        self._saved_pairs: Dict[str, tuple] = {}

    def _resolve_out_dir(self, runner) -> str:
        """The output directory, relative paths inside ``runner.log_dir``."""
        out_dir = self.out_dir or 'vis_change'
        if osp.isabs(out_dir):
            return out_dir
        return osp.join(runner.log_dir, out_dir)

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
            runner (Runner): The runner (only ``log_dir`` is used).
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
        out_dir = self._resolve_out_dir(runner)
        for sample in outputs:
            self._draw_sample(sample, out_dir)

    def _draw_sample(self, sample, out_dir: str) -> None:
        """Compose and save the panel of one data sample."""
        img_path = sample_field(sample, 'img_path')
        img_path2 = sample_field(sample, 'img_path2')
        if img_path is None or img_path2 is None:
            raise KeyError('ChangeVisualizationHook needs `img_path` and '
                           '`img_path2` in the metainfo of every output')
        pred = pixel_data(sample_field(sample, 'pred_sem_seg'))
        if pred is None:
            raise KeyError('ChangeVisualizationHook needs `pred_sem_seg` in '
                           'every output')
        gt = pixel_data(sample_field(sample, 'gt_sem_seg'))

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

        name = osp.splitext(osp.basename(img_path))[0] + '.png'
        pair = (img_path, img_path2)
        previous = self._saved_pairs.setdefault(name, pair)
        if previous != pair:
            raise ValueError(
                f'ChangeVisualizationHook cannot save pair {pair} as {name!r} '
                f'in {out_dir!r}: pair {previous} was already saved under '
                'that name. Give the pairs distinct file names.')
        panel = compose_change_panel(
            img_a,
            img_b,
            pred,
            gt,
            alpha=self.alpha,
            ignore_index=self.ignore_index)
        # mmengine's file backends create the directory
        mmcv.imwrite(mmcv.rgb2bgr(panel), osp.join(out_dir, name))
