"""mmcd: remote-sensing change detection on MMSegmentation 1.x.

Importing mmcd (directly, or through ``custom_imports=dict(imports=['mmcd'])``)
1. checks the installed OpenMMLab stack against the supported versions,
2. supplies the pure-PyTorch ``mmcv.ops`` stand-in when mmcv-lite is used,
3. allow-lists mmengine's checkpoint contents for torch's weights-only loading,
4. registers every mmcd component into MMSegmentation's registries and makes
   ``mmcd::`` config inheritance and the ``mmcd`` scope resolvable.
"""
import warnings

# mmengine 0.10 resolves `pkg::` configs through pkg_resources, whose
# deprecation warning (setuptools >= 80) says nothing a user can act on.
warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated', category=UserWarning)

from .version import __version__  # noqa: E402
from .utils.mmcv_compat import install as _install_mmcv_ops_standin  # noqa
from .utils.version_check import check_versions as _check_versions  # noqa

_check_versions()
MMCV_OPS_STANDIN = _install_mmcv_ops_standin()

from .utils.checkpoint_safety import allow_mmengine_checkpoints  # noqa: E402

allow_mmengine_checkpoints()

from . import registry  # noqa: E402,F401
from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401,E501

__all__ = ['__version__', 'MMCV_OPS_STANDIN']
