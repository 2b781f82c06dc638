"""Enabling TensorBoard from the command line on a short toy training: ``--tensorboard`` adds the
backend next to the local one; ``--cfg-options visualizer.vis_backends.0.type=...`` replaces it."""
import importlib.util
import os.path as osp
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOY_DIR = ROOT / 'tests' / 'engine'
TOY = TOY_DIR / '_toy_config.py'


@pytest.fixture
def train(monkeypatch):
    pytest.importorskip('tensorboard')
    monkeypatch.syspath_prepend(str(TOY_DIR))  # custom_imports=['_toy']
    monkeypatch.setenv('LOCAL_RANK', '0')
    spec = importlib.util.spec_from_file_location('_tool_train_tb', ROOT / 'tools' / 'train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scalars(work_dir: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    (events,) = work_dir.rglob('events.out.tfevents.*')
    acc = EventAccumulator(str(events.parent))
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


def _run(train, work_dir, name, flags=(), options=()):
    return train.main([str(TOY), '--work-dir', str(work_dir), *flags, '--cfg-options',
                       'train_cfg.max_iters=3', 'train_cfg.val_begin=1000', 'log_level=WARNING',
                       f'experiment_name={name}', *options])


def test_tensorboard_switch_keeps_the_local_backend(train, tmp_path):
    runner = _run(train, tmp_path, 'tb_switch', flags=['--tensorboard'])
    types = [b['type'] for b in runner.cfg.visualizer.vis_backends]
    assert types == ['LocalVisBackend', 'TensorboardVisBackend']
    assert _scalars(tmp_path)['loss'] == [1, 2, 3]  # logger interval 1 in the toy config
    assert list(tmp_path.rglob('scalars.json'))  # LocalVisBackend still writes


def test_cfg_options_can_replace_the_local_backend(train, tmp_path):
    _run(train, tmp_path, 'tb_replace',
         options=['visualizer.vis_backends.0.type=TensorboardVisBackend'])
    assert _scalars(tmp_path)['loss'] == [1, 2, 3]
    assert not list(tmp_path.rglob('scalars.json'))
    assert osp.isfile(tmp_path / 'iter_3.pth')
