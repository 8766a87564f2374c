"""mmcd's registries: children of MMSegmentation's, in the ``mmcd`` scope.

As in mmseg (``mmseg/registry/registry.py``) and open-cd, every registry has
the ``locations`` its modules are imported from on first use. A lookup in
mmcd's scope (mmcd's configs set ``default_scope='mmcd'``; mmengine sets
``_scope_='mmcd'`` on anything inherited through ``_base_ = 'mmcd::...'``)
finds mmcd's types first, then mmseg's and mmengine's. Since a child only
imports its *own* locations, each one also lists the mmseg modules its
parent would import, so mmseg's types resolve without an ``import mmseg``.

From another scope, name mmcd's types with the scope prefix
(``type='mmcd.LightSiamese'``), or build a whole model in mmcd's scope with
``_scope_='mmcd'`` in its dict (after ``custom_imports=dict(imports=['mmcd'])``
in an mmseg-scoped config).
"""
import os.path as osp

from mmengine.config import config as _config_module
from mmengine.config import utils as _config_utils
from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import EVALUATOR as MMSEG_EVALUATOR
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import INFERENCERS as MMSEG_INFERENCERS
from mmseg.registry import LOG_PROCESSORS as MMSEG_LOG_PROCESSORS
from mmseg.registry import LOOPS as MMSEG_LOOPS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODEL_WRAPPERS as MMSEG_MODEL_WRAPPERS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import OPTIMIZERS as MMSEG_OPTIMIZERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import RUNNER_CONSTRUCTORS as MMSEG_RUNNER_CONSTRUCTORS
from mmseg.registry import RUNNERS as MMSEG_RUNNERS
from mmseg.registry import TASK_UTILS as MMSEG_TASK_UTILS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS

# mmcd adds no runner, loop or sampler; a location is still needed, else
# mmengine falls back to a `mmcd.utils.register_all_modules` that mmcd lacks
RUNNERS = Registry('runner', parent=MMSEG_RUNNERS, locations=['mmcd.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=MMSEG_RUNNER_CONSTRUCTORS,
    locations=['mmcd.engine'])
LOOPS = Registry('loop', parent=MMSEG_LOOPS, locations=['mmcd.engine'])
HOOKS = Registry(
    'hook',
    parent=MMSEG_HOOKS,
    locations=['mmcd.engine.hooks', 'mmseg.engine.hooks'])
DATASETS = Registry(
    'dataset',
    parent=MMSEG_DATASETS,
    locations=['mmcd.datasets', 'mmseg.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMSEG_DATA_SAMPLERS, locations=['mmcd.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=MMSEG_TRANSFORMS,
    locations=['mmcd.datasets.transforms', 'mmseg.datasets.transforms'])
MODELS = Registry(
    'model', parent=MMSEG_MODELS, locations=['mmcd.models', 'mmseg.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=MMSEG_MODEL_WRAPPERS,
    locations=['mmcd.models', 'mmseg.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMSEG_WEIGHT_INITIALIZERS,
    locations=['mmseg.models'])
OPTIMIZERS = Registry(
    'optimizer',
    parent=MMSEG_OPTIMIZERS,
    locations=['mmseg.engine.optimizers'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMSEG_OPTIM_WRAPPERS,
    locations=['mmseg.engine.optimizers'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMSEG_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmseg.engine.optimizers'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMSEG_PARAM_SCHEDULERS,
    locations=['mmseg.engine.schedulers'])
METRICS = Registry(
    'metric',
    parent=MMSEG_METRICS,
    locations=['mmcd.evaluation', 'mmseg.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMSEG_EVALUATOR, locations=['mmseg.evaluation'])
TASK_UTILS = Registry(
    'task util', parent=MMSEG_TASK_UTILS, locations=['mmseg.models'])
VISUALIZERS = Registry(
    'visualizer',
    parent=MMSEG_VISUALIZERS,
    locations=['mmcd.visualization', 'mmseg.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMSEG_VISBACKENDS,
    locations=['mmseg.visualization'])
LOG_PROCESSORS = Registry(
    'log_processor',
    parent=MMSEG_LOG_PROCESSORS,
    locations=['mmseg.visualization'])
INFERENCERS = Registry(
    'inferencer', parent=MMSEG_INFERENCERS, locations=['mmcd.apis'])


def _enable_mmcd_config_inheritance():
    """Let ``_base_ = 'mmcd::lsnet/x.py'`` resolve to ``mmcd/.mim/configs``.

    mmengine 0.10 only accepts packages listed in ``MODULE2PACKAGE``, and
    finds their files through ``pkg_resources``' distribution location, which
    is site-packages (not the repository) for PEP 660 editable installs. For
    'mmcd' the answer is the directory of this imported package, whatever
    the install mode; every other package resolves as before.
    """
    _config_utils.MODULE2PACKAGE.setdefault('mmcd', 'mmcd')
    original = _config_module.get_installed_path
    if getattr(original, '__mmcd__', False):
        return

    def get_installed_path(package):
        if package == 'mmcd':
            return osp.dirname(osp.abspath(__file__))
        return original(package)

    get_installed_path.__mmcd__ = True
    _config_module.get_installed_path = get_installed_path


_enable_mmcd_config_inheritance()
