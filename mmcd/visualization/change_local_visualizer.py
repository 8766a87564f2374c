"""mmseg's local visualizer for bi-temporal change detection."""
from typing import Optional, Sequence

import numpy as np
from mmseg.visualization import SegLocalVisualizer

from mmcd.registry import VISUALIZERS
from mmcd.utils.data_sample import pixel_data, sample_field
from mmcd.utils.writers import write_rgb
from .change_overlay import compose_change_panel, draw_change_overlay


@VISUALIZERS.register_module()
class ChangeLocalVisualizer(SegLocalVisualizer):
    """Draw change predictions as date A | date B | overlay panels.

    :meth:`add_datasample` composes the panel with
    :func:`~mmcd.visualization.compose_change_panel` and shows it, writes it
    to a file, or hands it to the visualizer's backends (``LocalVisBackend``,
    ``TensorboardVisBackend``, ``WandbVisBackend``, ...), as mmseg's
    :class:`~mmseg.visualization.SegLocalVisualizer` does with a segmentation
    map. :meth:`draw_change` gives the overlay alone.

    Args:
        name (str): Name of the instance. Defaults to 'visualizer'.
        image (np.ndarray, optional): The RGB image to draw. Defaults to
            None.
        vis_backends (list[dict], optional): Visual backend configs.
            Defaults to None.
        save_dir (str, optional): Save directory of the storage backends.
            Defaults to None.
        alpha (float): Opacity of the overlay colours, in [0, 1]. Defaults
            to 0.5.
        ignore_index (int): Ground-truth label left undrawn. Defaults to
            255.
        **kwargs: Other arguments of ``SegLocalVisualizer`` (``classes``,
            ``palette``, ``dataset_name``).
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None,
                 alpha: float = 0.5,
                 ignore_index: int = 255,
                 **kwargs) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            alpha=alpha,
            **kwargs)
        self.ignore_index = ignore_index

    def draw_change(self, img_b: np.ndarray, pred, gt=None) -> np.ndarray:
        """The change map drawn over date B.

        Args:
            img_b (np.ndarray): ``(H, W, 3)`` RGB uint8 image of date B.
            pred (np.ndarray | Tensor): ``(H, W)`` or ``(1, H, W)``
                prediction, 0 unchanged / 1 changed.
            gt (np.ndarray | Tensor, optional): Ground truth; if given the
                overlay shows TP / FP / FN (see
                :func:`~mmcd.visualization.draw_change_overlay`). Defaults to
                None.

        Returns:
            np.ndarray: The ``(H, W, 3)`` RGB uint8 overlay.
        """
        return draw_change_overlay(
            img_b, pred, gt, alpha=self.alpha, ignore_index=self.ignore_index)

    def add_datasample(self,
                       name: str,
                       image: Sequence[np.ndarray],
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       with_labels: Optional[bool] = True) -> None:
        """Draw the A | B | overlay panel of one pair and record it.

        - If ``show`` is True, the panel is displayed in a local window.
        - If ``out_file`` is given, the panel is written to it (by every
          process, each for its own samples); otherwise it goes to all
          storage backends (main process only, under ``name`` and
          ``step``).

        Args:
            name (str): The image identifier.
            image (Sequence[np.ndarray]): ``(img_a, img_b)``, the two dates
                as ``(H, W, 3)`` RGB uint8 arrays.
            data_sample (SegDataSample | dict, optional): The prediction
                (``pred_sem_seg``, 0 / 1) and, if present, the ground truth
                (``gt_sem_seg``). Defaults to None.
            draw_gt (bool): Whether to draw the ground truth (TP / FP / FN
                colours). Defaults to True.
            draw_pred (bool): Whether to draw the prediction; without it the
                ground truth's change is drawn. Defaults to True.
            show (bool): Whether to display the panel. Defaults to False.
            wait_time (float): The interval of show (s). Defaults to 0.
            out_file (str, optional): Path to write the panel to. Defaults
                to None.
            step (int): Global step value to record. Defaults to 0.
            with_labels (bool, optional): Accepted for mmseg's signature;
                the panel has no labels. Defaults to True.
        """
        img_a, img_b = image
        pred = gt = None
        if data_sample is not None:
            if draw_pred:
                pred = pixel_data(sample_field(data_sample, 'pred_sem_seg'))
            if draw_gt:
                gt = pixel_data(sample_field(data_sample, 'gt_sem_seg'))
        if pred is None:  # nothing predicted to draw: the gt's change, if any
            pred = np.zeros(img_b.shape[:2]) if gt is None else gt == 1
            gt = None
        panel = compose_change_panel(
            img_a,
            img_b,
            pred,
            gt,
            alpha=self.alpha,
            ignore_index=self.ignore_index)

        if show:
            self.show(panel, win_name=name, wait_time=wait_time)
        if out_file is not None:
            write_rgb(out_file, panel)
        else:
            self.add_image(name, panel, step)
