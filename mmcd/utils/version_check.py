"""Check installed torch / mmengine / mmcv / mmseg against mmcd's ranges."""
from packaging.version import Version

# name -> (import name, minimum inclusive, maximum exclusive)
SUPPORTED = {
    'torch': ('torch', '2.0.0', None),
    'mmengine': ('mmengine', '0.10.0', '0.11.0'),
    'mmcv': ('mmcv', '2.0.0rc4', '2.2.0'),
    'mmsegmentation': ('mmseg', '1.2.0', '1.3.0'),
}

INSTALL_HINT = (
    'From the mmcd repository, `pip install -r requirements.txt` installs a '
    'supported CPU stack (torch 2.13.0, mmengine 0.10.7, mmcv-lite 2.1.0, '
    'mmsegmentation 1.2.2); GPU users install mmcv 2.1.0 with compiled ops '
    'from the OpenMMLab wheels first (see README, "Full mmcv").')


def _installed_version(module_name):
    module = __import__(module_name)
    return getattr(module, '__version__', None)


def check_versions():
    """Raise ImportError naming every missing or unsupported package."""
    problems = []
    for package, (module_name, low, high) in SUPPORTED.items():
        try:
            found = _installed_version(module_name)
        except ImportError as e:
            problems.append(f'{package} is not installed ({e})')
            continue
        version = Version(found.split('+')[0])
        if version < Version(low) or (high and version >= Version(high)):
            wanted = f'>={low}' + (f',<{high}' if high else '')
            problems.append(f'{package} {found} is installed, mmcd needs '
                            f'{package}{wanted}')
    if problems:
        raise ImportError('mmcd cannot run with this environment:\n  - ' +
                          '\n  - '.join(problems) + '\n' + INSTALL_HINT)
