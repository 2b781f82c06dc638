"""tools/dataset_converters/make_cls_tiny.py reproduces the committed data/cls_tiny."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from hrnet_train.datasets.transforms.loading import read_image
from hrnet_train.engine.launch import run_tool

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / 'data' / 'cls_tiny'


def _tool():
    name = '_tool_make_cls_tiny'
    spec = importlib.util.spec_from_file_location(
        name, ROOT / 'tools' / 'dataset_converters' / 'make_cls_tiny.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob('*') if p.is_file())


@pytest.fixture(scope='module')
def tool():
    return _tool()


def _run(tool, out, *extra):
    return run_tool(tool.main, ['--out', str(out), '--coco-root', str(ROOT / 'data/coco_tiny'),
                                '--cityscapes-root', str(ROOT / 'data/cityscapes_tiny'),
                                *extra])


def test_rerun_reproduces_the_committed_files(tool, tmp_path, capsys):
    out = tmp_path / 'cls_tiny'
    assert _run(tool, out) == 0
    printed = capsys.readouterr().out
    assert 'train: building 24, person 27, road 20' in printed
    assert 'val: building 7, person 9, road 6' in printed
    committed = [f for f in _files(COMMITTED) if f.endswith('.jpg')]
    assert _files(out) == committed
    assert len(committed) == 93
    for rel in committed:
        new, old = read_image(str(out / rel)), read_image(str(COMMITTED / rel))
        assert new.shape == old.shape, rel
        # the same JPEG encoder gives the same bytes; allow another libjpeg build's rounding
        assert np.abs(new.astype(int) - old.astype(int)).mean() < 1.0, rel
    total = sum((COMMITTED / f).stat().st_size for f in committed)
    assert total < 150 * 1024


def test_split_has_no_source_in_both_halves():
    def sources(split, cls):
        names = [p.name for p in (COMMITTED / split / cls).iterdir()]
        # person: <image>_ann<id>_cut<j>.jpg -> the box; windows are disjoint by construction
        return {n.rsplit('_cut', 1)[0] for n in names} if cls == 'person' else set(names)

    for cls in ('building', 'person', 'road'):
        assert not sources('train', cls) & sources('val', cls), cls
    assert len(sources('val', 'person')) == 3  # boxes 3, 7 and 11 of the 12


def test_refuses_to_overwrite_without_the_flag(tool, tmp_path, capsys):
    out = tmp_path / 'cls'
    (out / 'train').mkdir(parents=True)
    (out / 'train' / 'stale.jpg').write_bytes(b'x')
    capsys.readouterr()
    assert _run(tool, out) == 2
    assert 'already holds train/ or val/; pass --overwrite' in capsys.readouterr().err
    assert _run(tool, out, '--overwrite') == 0
    assert not (out / 'train' / 'stale.jpg').exists()
    assert len(_files(out)) == 93
