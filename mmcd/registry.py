"""mmcd's place in the OpenMMLab registry tree.

mmcd components register straight into MMSegmentation's registries (import
them from here), so an mmseg-scoped config with
``custom_imports=dict(imports=['mmcd'])`` can use ``type='LightSiamese'``.

For configs whose scope is ``mmcd`` (mmcd's own configs set
``default_scope='mmcd'``, and mmengine sets ``_scope_='mmcd'`` on anything
inherited through ``_base_ = 'mmcd::...'``), this module also hangs an empty
``mmcd`` child under every mmseg registry: lookups there fall through to
mmseg (and mmengine), so everything resolves without registry warnings.
"""
import os.path as osp

from mmengine.config import config as _config_module
from mmengine.config import utils as _config_utils
from mmengine.registry import Registry
from mmseg import registry as _mmseg_registry
from mmseg.registry import (DATASETS, HOOKS, METRICS, MODELS,  # noqa: F401
                            TRANSFORMS, VISUALIZERS)



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

# A child's lookups fall through to the parent's *registered* modules, but
# only the child's own locations are imported on demand: list mmseg's too.
MMCD_SCOPE_REGISTRIES = {
    name: Registry(reg.name, parent=reg, scope='mmcd',
                   locations=['mmcd'] + list(reg._locations))
    for name, reg in vars(_mmseg_registry).items()
    if isinstance(reg, Registry) and reg.scope == 'mmseg'
}
