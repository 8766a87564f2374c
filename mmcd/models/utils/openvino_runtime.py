"""OpenVINO execution of exported change segmentor graphs (CPU)."""
import collections
from typing import Optional

import numpy as np
import torch
from torch import Tensor

#: OpenVINO inference precision of each fast-path precision it runs.
OPENVINO_PRECISIONS = dict(fp32='f32', bf16='bf16')


def import_openvino():
    """Import openvino, or say how to install it."""
    try:
        import openvino
    except ImportError as e:
        raise ImportError(
            'this fast path backend needs openvino: `pip install openvino` '
            '(or `pip install -r requirements/tests.txt`); the '
            "'onnxruntime' backend or --no-fast run without it") from e
    return openvino


class OpenVINOLogits:
    """An exported graph compiled by OpenVINO, called like the module it was
    exported from.

    The graph is compiled for each input size it meets (at batch 1: static
    shapes run about twice as fast as a dynamic-shape compilation; the last
    ``max_compiled_sizes`` sizes are kept). A single sample runs on one
    request with all ``num_threads`` threads; a batch runs as single-sample
    requests on ``num_threads`` single-threaded streams side by side.
    Subnormal floats are flushed to zero.

    ``precision`` is OpenVINO's inference precision, set explicitly:
    OpenVINO's own default on CPUs with bfloat16 instructions is bf16,
    which this class never takes silently. ``'bf16'`` raises when the CPU
    has no bfloat16 support (OpenVINO would run f32 instead).

    Args:
        onnx_path (str): The exported graph (one input ``(N, C, H, W)``,
            one output); read once, so the file may be removed afterwards.
        num_threads (int, optional): Threads. Default: None, meaning
            ``torch.get_num_threads()``.
        precision (str): ``'fp32'`` or ``'bf16'``. Default: ``'fp32'``.
        max_compiled_sizes (int): Input sizes kept compiled. Default: 8.
    """

    def __init__(self,
                 onnx_path: str,
                 num_threads: Optional[int] = None,
                 precision: str = 'fp32',
                 max_compiled_sizes: int = 8):
        if precision not in OPENVINO_PRECISIONS:
            raise ValueError(f'OpenVINO precision must be one of '
                             f'{tuple(OPENVINO_PRECISIONS)}, got '
                             f'{precision!r}')
        self._ov = import_openvino()
        self.core = self._ov.Core()
        self.model = self.core.read_model(onnx_path)
        self.num_threads = num_threads or torch.get_num_threads()
        self.precision = precision
        self.max_compiled_sizes = max_compiled_sizes
        self._compiled = collections.OrderedDict()  # shape -> (one, queue)
        if precision == 'bf16':
            capabilities = self.core.get_property('CPU',
                                                  'OPTIMIZATION_CAPABILITIES')
            if 'BF16' not in capabilities:
                raise RuntimeError(
                    'precision bf16: this CPU has no bfloat16 support '
                    f'(OpenVINO reports {capabilities}); use fp32')

    def _config(self, threads: int, streams: int) -> dict:
        return {
            'INFERENCE_NUM_THREADS': threads,
            'NUM_STREAMS': streams,
            'INFERENCE_PRECISION_HINT': OPENVINO_PRECISIONS[self.precision],
            'CPU_DENORMALS_OPTIMIZATION': True,
        }

    def _compile(self, shape: tuple):
        """(compiled model for one sample, async queue for batches)."""
        if shape in self._compiled:
            self._compiled.move_to_end(shape)
            return self._compiled[shape]
        model = self.model.clone()
        model.reshape([1, *shape])
        single = self.core.compile_model(model, 'CPU',
                                         self._config(self.num_threads, 1))
        queue = None
        if self.num_threads > 1:
            streams = self.core.compile_model(
                model, 'CPU', self._config(self.num_threads,
                                           self.num_threads))
            queue = self._ov.AsyncInferQueue(streams, self.num_threads)
        self._compiled[shape] = (single, queue)
        while len(self._compiled) > self.max_compiled_sizes:
            self._compiled.popitem(last=False)
        return single, queue

    def __call__(self, inputs: Tensor) -> Tensor:
        """Run the graph on a CPU float ``(N, C, H, W)`` tensor."""
        array = np.ascontiguousarray(
            inputs.detach().to('cpu', torch.float32).numpy())
        single, queue = self._compile(tuple(array.shape[1:]))
        if len(array) == 1 or queue is None:
            outs = [single(array[i:i + 1])[0] for i in range(len(array))]
        else:
            outs = [None] * len(array)

            def keep(request, index):
                outs[index] = request.get_output_tensor(0).data.copy()

            queue.set_callback(keep)
            for i in range(len(array)):
                queue.start_async({0: array[i:i + 1]}, i)
            queue.wait_all()
        return torch.from_numpy(
            outs[0] if len(outs) == 1 else np.concatenate(outs))
