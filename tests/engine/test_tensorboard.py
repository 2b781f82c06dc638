"""The TensorBoard backend named in configs/_base_/default_runtime.py writes event files."""
from pathlib import Path

import pytest


def test_tensorboard_backend_writes_events(tmp_path):
    pytest.importorskip('tensorboard')
    from hrnet_train.registry import VISUALIZERS
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    vis = VISUALIZERS.build(dict(type='Visualizer', name='tb_test', save_dir=str(tmp_path),
                                 vis_backends=[dict(type='LocalVisBackend'),
                                               dict(type='TensorboardVisBackend')]))
    for step in range(3):
        vis.add_scalars({'loss': 1.0 / (step + 1), 'coco/AP': 0.1 * step}, step=step)
    vis.close()
    events = list(Path(tmp_path).rglob('events.out.tfevents.*'))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert [round(e.value, 4) for e in acc.Scalars('loss')] == [1.0, 0.5, 0.3333]
