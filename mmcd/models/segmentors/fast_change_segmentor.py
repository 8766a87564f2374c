import functools
import logging
import os.path as osp
import tempfile
import weakref
from typing import Callable, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from mmcd.models.utils.onnx_export import (ChangeLogits, OnnxRuntimeLogits,
                                           export_onnx, fast_path_problem,
                                           pair_channels, quantize_int8)
from mmcd.models.utils.openvino_runtime import (OpenVINOLogits,
                                                import_nncf, import_openvino,
                                                quantize_int8_openvino)
from mmcd.registry import MODEL_WRAPPERS, MODELS


#: Precisions of the fast path.
PRECISIONS = ('fp32', 'bf16', 'int8')
#: Backends of the fast path ('auto': OpenVINO where it is installed and
#: runs the precision, else ONNX Runtime).
BACKENDS = ('auto', 'openvino', 'onnxruntime')


def choose_backend(backend: str, precision: str) -> str:
    """The backend that runs ``precision`` for the ``backend`` asked for.

    ``'auto'`` is OpenVINO where it is installed (for int8 also nncf, its
    quantiser), else ONNX Runtime; bf16 needs OpenVINO.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got '
                         f'{backend!r}')
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got '
                         f'{precision!r}')
    if backend == 'onnxruntime' and precision not in ('fp32', 'int8'):
        raise ValueError(f"precision {precision!r} needs the 'openvino' "
                         'backend')
    if backend != 'auto' or precision == 'bf16':
        return 'openvino' if backend == 'auto' else backend
    try:
        import_openvino()
        if precision == 'int8':
            import_nncf()
    except ImportError:
        return 'onnxruntime'
    return 'openvino'


def _forget_export(wrapper_ref, *args) -> None:
    """Load-state-dict pre-hook of the wrapped segmentor: the graph holds
    the old weights, export again at the next inference."""
    wrapper = wrapper_ref()
    if wrapper is not None:
        wrapper.reset()


@MODELS.register_module()
@MODEL_WRAPPERS.register_module()
class FastChangeSegmentor(BaseModel):
    """A change segmentor whose network runs in OpenVINO or ONNX Runtime
    on CPU.

    Wraps a change segmentor for inference, as mmseg's ``tta_model`` wraps
    ``model`` (``tools/test.py`` sets ``cfg.fast_model.module = cfg.model``
    unless ``--no-fast``). At the first inference,
    ``decode_head.forward(extract_feat(inputs))`` is exported to ONNX from
    the segmentor's current weights (:func:`export_onnx`: a copy with PReLU
    as a ReLU mix and one backbone pass per date; dynamic batch and size)
    and run by :class:`OpenVINOLogits` (``backend='auto'`` where openvino is
    installed; compiled once per input size) or :class:`OnnxRuntimeLogits`;
    loading weights into the
    segmentor (``load_state_dict``, the Runner's ``load_from``) exports
    again at the next inference. The segmentor itself is never modified.
    The data preprocessor, whole/slide inference, ``predict_by_feat`` and
    ``postprocess_result`` are mmseg's ``EncoderDecoder`` code, run with
    this model's :meth:`encode_decode`; in fp32 the logits equal the eager
    model's within 1e-4.

    ``precision='bf16'`` runs the graph in OpenVINO with bfloat16
    arithmetic (CPUs with bfloat16 instructions; others raise).
    ``precision='int8'`` quantises the exported graph statically, with
    ranges calibrated on the inputs given to :meth:`calibrate` (e.g. pairs
    of the training split): in OpenVINO by NNCF
    (:func:`~mmcd.models.utils.openvino_runtime.quantize_int8_openvino`),
    in ONNX Runtime by its QDQ quantiser (:func:`quantize_int8`). Their
    logits differ from
    fp32 by the rounding or quantisation error, so neither is ever chosen
    implicitly: ``tools/test.py --fast bf16`` / ``--fast int8`` reports the
    change F1 of that graph and of the fp32 graph side by side.

    When the fast path is impossible (:func:`fast_path_problem`: the
    backend not installed, a model on GPU or one overriding mmseg's inference
    methods), it logs why and runs the segmentor eagerly, or raises with
    ``strict=True``. The choice is made at the first inference after
    construction or after a weight load; :attr:`runtime` then names it.

    It is also a registered model wrapper (``is_model_wrapper`` is True),
    so the Runner loads checkpoints into ``module`` and saves ``module``'s
    weights: checkpoints of the plain model fit. The Runner does not move a
    model wrapper to the device or revert SyncBN; build it on CPU. It is
    for inference only (``test_step``, ``val_step``, ``predict``,
    ``forward`` in ``'predict'`` or ``'tensor'`` mode): ``loss`` and
    ``train_step`` raise; train ``module``.

    Args:
        module (dict | nn.Module): The change segmentor
            (e.g. :class:`SiameseEncoderDecoder`) or its config.
        precision (str): ``'fp32'`` (the exported graph as it is),
            ``'bf16'`` (OpenVINO's bfloat16 inference) or ``'int8'``
            (statically quantised; call :meth:`calibrate` before the first
            inference). Default: ``'fp32'``.
        backend (str): ``'openvino'``, ``'onnxruntime'`` or ``'auto'``
            (:func:`choose_backend`: OpenVINO where it is installed, for
            int8 with nncf). Default: ``'auto'``.
        calibrate_method (str): int8 in ONNX Runtime: how activation ranges
            are taken from the calibration runs (:func:`quantize_int8`;
            NNCF has its own): ``'minmax'``,
            ``'percentile'`` or ``'entropy'``. Default: ``'percentile'``
            (on LSNet about half the F1 loss of min/max, at 2-3x the
            calibration time).
        num_threads (int, optional): Threads of the backend.
            Default: None (``torch.get_num_threads()``).
        max_pixels_per_run (int): ONNX Runtime: most pixels (batch x height
            x width) per graph run. Default: 32768.
        strict (bool): Raise when the fast path is impossible instead of
            running the segmentor eagerly. Default: False.
        data_preprocessor (dict, optional): Set in ``module``'s config when
            it has none (the Runner passes the config's top-level
            ``data_preprocessor`` here, as it does to a plain model).
            Inputs are always preprocessed by ``module``'s data
            preprocessor. Default: None.
    """

    # mmseg's inference code, run with this model's encode_decode
    forward = BaseSegmentor.forward
    inference = EncoderDecoder.inference
    slide_inference = EncoderDecoder.slide_inference
    whole_inference = EncoderDecoder.whole_inference
    postprocess_result = EncoderDecoder.postprocess_result

    def __init__(self,
                 module: Union[dict, nn.Module],
                 precision: str = 'fp32',
                 backend: str = 'auto',
                 calibrate_method: str = 'percentile',
                 num_threads: Optional[int] = None,
                 max_pixels_per_run: int = 2**15,
                 strict: bool = False,
                 data_preprocessor: Optional[dict] = None):
        if isinstance(module, dict):
            if data_preprocessor is not None:
                module.setdefault('data_preprocessor', data_preprocessor)
            module = MODELS.build(module)
        super().__init__(
            data_preprocessor=getattr(module, 'data_preprocessor', None))
        self.module = module
        choose_backend(backend, precision)  # a bad pair fails here
        self.precision = precision
        self.backend = backend
        self.calibrate_method = calibrate_method
        self.calibration_inputs = None
        self.num_threads = num_threads
        self.max_pixels_per_run = max_pixels_per_run
        self.strict = strict
        self.reset()
        module._register_load_state_dict_pre_hook(
            functools.partial(_forget_export, weakref.ref(self)))

    # what mmseg's inference code reads from the segmentor
    test_cfg = property(lambda self: self.module.test_cfg)
    out_channels = property(lambda self: self.module.out_channels)
    align_corners = property(lambda self: self.module.align_corners)
    decode_head = property(lambda self: self.module.decode_head)
    # and what inferencers read (classes and palette of the checkpoint)
    dataset_meta = property(
        lambda self: getattr(self.module, 'dataset_meta', None))

    def reset(self) -> None:
        """Drop the exported graph; the next inference exports again."""
        self._fast_logits = None
        #: str: ``'ONNX Runtime (fp32, N threads)'`` (or int8) or
        #: ``'eager PyTorch'``, what runs the network; None until the first
        #: inference after construction or a weight load.
        self.runtime = None

    def calibrate(self, inputs: Sequence[Tensor]) -> None:
        """Set the calibration inputs of ``precision='int8'``.

        Args:
            inputs (Sequence[Tensor]): Preprocessed ``(N, 2C, H, W)``
                batches, as the data preprocessor gives them (one graph run
                each); pairs of the training split, not of the test set.
        """
        self.calibration_inputs = list(inputs)
        self.reset()

    def fast_logits(self) -> Optional[Callable[[Tensor], Tensor]]:
        """The compiled graph of the current weights (:class:`OpenVINOLogits`
        or :class:`OnnxRuntimeLogits`), exported on the first call; None
        when the fast path is impossible (``strict`` False). Called like
        ``decode_head.forward(extract_feat(inputs))``."""
        if self.runtime is not None:
            return self._fast_logits
        backend = choose_backend(self.backend, self.precision)
        problem = fast_path_problem(self.module, backend)
        if problem is not None:
            if self.strict:
                raise RuntimeError(f'no fast inference path: {problem}')
            self.runtime = 'eager PyTorch'
            print_log(f'fast inference off, running the eager model: '
                      f'{problem}', logger='current', level=logging.WARNING)
            return None
        if self.precision == 'int8' and not self.calibration_inputs:
            raise RuntimeError(
                "precision='int8' needs calibration inputs: call "
                'FastChangeSegmentor.calibrate(batches) first (tools/test.py '
                '--fast int8 takes them from the training split)')
        sample = torch.zeros(1, pair_channels(self.module), 64, 64)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(
                ChangeLogits(self.module), [sample],
                osp.join(tmp, 'change_logits.onnx'), ['inputs'], ['logits'])
            runner = dict(openvino=self._openvino_runner,
                          onnxruntime=self._onnxruntime_runner)[backend]
            self._fast_logits, method = runner(path, tmp)
        precision = self.precision
        if precision == 'int8':
            pairs = sum(len(x) for x in self.calibration_inputs)
            precision = f'int8, calibrated on {pairs} pairs, {method}'
        name = dict(openvino='OpenVINO', onnxruntime='ONNX Runtime')[backend]
        self.runtime = (f'{name} ({precision}, '
                        f'{self._fast_logits.num_threads} threads)')
        print_log(f'fast inference: {self.runtime}, graph exported from the '
                  f'current weights of {type(self.module).__name__}',
                  logger='current')
        return self._fast_logits

    def _openvino_runner(self, path: str, tmp: str):
        """(:class:`OpenVINOLogits` of the graph at ``path``, quantised by
        NNCF for int8; the name of the int8 calibration)."""
        model = path
        if self.precision == 'int8':
            model = quantize_int8_openvino(path, self.calibration_inputs)
        return OpenVINOLogits(model, self.num_threads, self.precision), 'NNCF'

    def _onnxruntime_runner(self, path: str, tmp: str):
        """(:class:`OnnxRuntimeLogits` of the graph at ``path``, quantised
        to QDQ int8 in ``tmp`` for int8; the int8 calibration method)."""
        if self.precision == 'int8':
            path = quantize_int8(path, osp.join(tmp, 'int8.onnx'),
                                 self.calibration_inputs,
                                 self.calibrate_method)
        return (OnnxRuntimeLogits(path, self.num_threads,
                                  self.max_pixels_per_run),
                self.calibrate_method)

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """``EncoderDecoder.encode_decode`` with the compiled graph."""
        fast_logits = self.fast_logits()
        if fast_logits is None:
            return self.module.encode_decode(inputs, batch_img_metas)
        return self.decode_head.predict_by_feat(
            fast_logits(inputs), batch_img_metas)

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """``EncoderDecoder.predict`` with the ONNX Runtime graph (or the
        segmentor's own ``predict`` when the fast path is impossible)."""
        if self.fast_logits() is None:
            return self.module.predict(inputs, data_samples)
        return EncoderDecoder.predict(self, inputs, data_samples)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """``decode_head.forward(extract_feat(inputs))``: the logits."""
        fast_logits = self.fast_logits()
        if fast_logits is None:
            return self.module._forward(inputs, data_samples)
        return fast_logits(inputs)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Not supported: the fast path is for inference."""
        raise NotImplementedError(
            f'{type(self).__name__} is for inference (test_step, val_step, '
            'predict); train the wrapped segmentor (cfg.model) instead')
