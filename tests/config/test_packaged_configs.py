"""The wheel carries configs/ as hrnet_train/_configs, and the yacs importer works from an
installed wheel, outside the repository."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from hrnet_train.config import config_root

ROOT = Path(__file__).resolve().parents[2]
YAML = ROOT / 'tests' / 'data' / 'yacs' / 'w32_256x192_adam_lr1e-3.yaml'
TIMEOUT = 900  # seconds; pip on a shared machine
# What `pip wheel` reads: the package, the configs, and the packaging files.
_SOURCES = ('hrnet_train', 'configs', 'setup.py', 'pyproject.toml', 'MANIFEST.in', 'README.md')


def test_source_checkout_reads_the_repository_configs():
    assert config_root() == ROOT / 'configs'


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources, so that the checkout gets no build/ or egg-info."""
    src = tmp_path / 'src'
    src.mkdir()
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '*.egg-info', '_configs')
    for name in _SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    out = subprocess.run([sys.executable, '-m', 'pip', 'wheel', str(src), '--no-deps',
                          '--no-build-isolation', '-w', str(tmp_path / 'wheels')],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (wheel,) = (tmp_path / 'wheels').glob('hrnet_train-*.whl')
    return wheel


def test_wheel_ships_the_configs_and_converts_a_yaml(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {p.relative_to(ROOT / 'configs').as_posix()
               for p in (ROOT / 'configs').rglob('*.py') if '__pycache__' not in p.parts}
    assert {'_base_/default_runtime.py', '_base_/models/hrnet-w32_topdown.py'} <= configs
    assert {f'hrnet_train/_configs/{c}' for c in configs} <= names
    assert 'hrnet_train/config/yacs_import/_common.py' in names

    unpacked = tmp_path / 'site'
    zipfile.ZipFile(wheel).extractall(unpacked)
    elsewhere = tmp_path / 'elsewhere'  # no configs/ next to the working directory
    elsewhere.mkdir()
    script = (
        'import json, hrnet_train\n'
        'from hrnet_train.config import config_root, yacs_to_config\n'
        f'cfg = yacs_to_config({str(YAML)!r})\n'
        'print(json.dumps(dict(package=hrnet_train.__file__, root=str(config_root()),\n'
        '                      model=cfg.model.type, arch=cfg.model.backbone.arch,\n'
        '                      width=cfg.model.head.in_channels,\n'
        '                      sampler=cfg.train_dataloader.sampler.type)))\n')
    env = dict(os.environ, PYTHONPATH=str(unpacked))
    out = subprocess.run([sys.executable, '-c', script], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result['package'].startswith(str(unpacked))  # the wheel, not the editable checkout
    assert result['root'] == str(unpacked / 'hrnet_train' / '_configs')
    assert (result['model'], result['arch'], result['width']) == ('TopdownPoseEstimator', None, 32)
