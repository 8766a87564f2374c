"""mmcd: remote-sensing change detection for MMSegmentation 1.x.

mmcv is deliberately not an install requirement: the default install
(`pip install -r requirements.txt`) adds mmcv-lite, and users with full mmcv
(compiled ops) keep theirs; listing either here would make pip install one
over the other. `import mmcd` checks that a supported mmcv is present.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_requirements(name):
    with open(osp.join(HERE, 'requirements', name)) as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip()]


def version():
    scope = {}
    with open(osp.join(HERE, 'mmcd', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


class BuildWithMim(build_py):
    """Copy configs/, tools/ and model-index.yml into mmcd/.mim of the built
    package.

    mmengine resolves ``_base_ = 'mmcd::lsnet/x.py'`` through
    ``<installed mmcd>/.mim/configs``; ``mim train/test mmcd`` run
    ``<installed mmcd>/.mim/tools/{train,test}.py`` and read
    ``.mim/model-index.yml``. In the repository (editable installs)
    ``mmcd/.mim`` holds symlinks to the top-level files; a regular install
    gets real copies.
    """

    def run(self):
        super().run()
        target = osp.join(self.build_lib, 'mmcd', '.mim')
        if osp.lexists(target):
            shutil.rmtree(target) if not osp.islink(target) else os.remove(
                target)
        os.makedirs(target)
        for name in MIM_FILES:
            src = osp.join(HERE, name)
            if osp.isdir(src):
                shutil.copytree(
                    src,
                    osp.join(target, name),
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            else:
                shutil.copyfile(src, osp.join(target, name))


setup(
    name='mmcd',
    version=version(),
    description='Remote-sensing change detection (LSNet, DASNet, BiSeNetV2-CD) '
    'on MMSegmentation 1.x',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    include_package_data=False,
    python_requires='>=3.8',
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    cmdclass={'build_py': BuildWithMim},
    zip_safe=False,
    license='Apache-2.0',
)
