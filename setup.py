"""Build step that packages the repository's configs/ into the wheel as hrnet_train/_configs.

The metadata lives in pyproject.toml. ``configs/`` stays the one source of truth: it is copied
at build time (as mmdet's setup.py does with ``mmdet/.mim``), never committed twice.
``hrnet_train.config.config_root()`` reads the packaged copy when it exists and the
repository's ``configs/`` otherwise (editable installs and source checkouts).
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithConfigs(build_py):
    """``build_py`` that also copies ``configs/`` to ``<build_lib>/hrnet_train/_configs``."""

    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads <repo>/configs in place
            return
        source = os.path.join(HERE, 'configs')
        if not os.path.isdir(source):
            raise FileNotFoundError(f'{source} is missing: hrnet_train/_configs cannot be '
                                    'packaged (an sdist needs `graft configs` in MANIFEST.in)')
        target = os.path.join(self.build_lib, 'hrnet_train', '_configs')
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


setup(cmdclass={'build_py': BuildPyWithConfigs})
