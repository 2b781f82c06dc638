"""tools/analysis/plot_curves.py and the scalars-log parsing behind it
(hrnet_train/visualization/curves.py), on hand-written logs in mmengine 0.10.7's format."""
import importlib.util
import json
import struct
import sys
from pathlib import Path

import pytest

from hrnet_train.engine.launch import run_tool
from hrnet_train.utils.errors import DataError
from hrnet_train.visualization.curves import find_scalars_log, parse_scalars, select_panels

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('plot_curves_tool',
                                               ROOT / 'tools/analysis/plot_curves.py')
PC = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = PC
_spec.loader.exec_module(PC)

# An epoch-based run as LoggerHook writes it: 3 iterations per epoch, logger interval 2, so the
# lines are at iterations 2, 3 (end of epoch 1), 5, 6, 8, 9; validation after epochs 2 and 3
# (step = epoch, no 'iter').
EPOCH_LOG = [
    dict(lr=0.001, data_time=0.1, loss=0.50, loss_kpt=0.50, acc_pose=0.1, time=0.3,
         epoch=1, iter=2, step=2),
    dict(lr=0.002, data_time=0.1, loss=0.40, loss_kpt=0.40, acc_pose=0.2, time=0.3,
         epoch=1, iter=3, step=3),
    dict(lr=0.003, data_time=0.1, loss=0.30, loss_kpt=0.30, acc_pose=0.3, time=0.3,
         epoch=2, iter=5, step=5),
    dict(lr=0.003, data_time=0.1, loss=0.25, loss_kpt=0.25, acc_pose=0.4, time=0.3,
         epoch=2, iter=6, step=6),
    {'coco/AP': 0.30, 'coco/AR': 0.35, 'data_time': 0.05, 'time': 0.2, 'step': 2},
    dict(lr=0.0003, data_time=0.1, loss=0.20, loss_kpt=0.20, acc_pose=0.5, time=0.3,
         epoch=3, iter=8, step=8),
    dict(lr=0.0003, data_time=0.1, loss=0.15, loss_kpt=0.15, acc_pose=0.6, time=0.3,
         epoch=3, iter=9, step=9),
    {'coco/AP': 0.50, 'coco/AR': 0.55, 'data_time': 0.05, 'time': 0.2, 'step': 3},
]
# An iteration-based run (log_processor by_epoch=False, log_metric_by_epoch=False): no 'epoch';
# validation step = iteration.
ITER_LOG = [
    dict(lr=0.01, loss=2.0, decode_loss_ce=2.0, time=0.5, data_time=0.1, iter=5, step=5),
    dict(lr=0.005, loss=1.5, decode_loss_ce=1.5, time=0.5, data_time=0.1, iter=10, step=10),
    dict(aAcc=50.0, mIoU=10.0, mAcc=20.0, data_time=0.1, time=0.4, step=10),
]


def _lines(rows):
    return [json.dumps(r) for r in rows]


def _write_run(work_dir: Path, stamp: str, rows) -> Path:
    path = work_dir / stamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(_lines(rows)) + '\n')
    return path


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and data[12:16] == b'IHDR'
    return struct.unpack('>II', data[16:24])


def test_epoch_log_split_values_and_iteration_axis():
    log = parse_scalars(_lines(EPOCH_LOG))
    assert log.val_step == 'epoch'
    assert sorted(log.train) == ['acc_pose', 'loss', 'loss_kpt', 'lr']  # meta keys dropped
    assert log.train['loss'].x == [2, 3, 5, 6, 8, 9]
    assert log.train['loss'].y == [0.5, 0.4, 0.3, 0.25, 0.2, 0.15]
    assert log.train['lr'].y == [0.001, 0.002, 0.003, 0.003, 0.0003, 0.0003]
    assert sorted(log.val) == ['coco/AP', 'coco/AR']
    # validation after epoch 2 sits at its last iteration (6), after epoch 3 at 9
    assert log.val['coco/AP'].x == [6, 9] and log.val['coco/AP'].y == [0.3, 0.5]
    assert log.val['coco/AR'].y == [0.35, 0.55]


def test_epoch_without_training_line_falls_back_to_last_logged_iteration():
    rows = EPOCH_LOG[:4] + [{'coco/AP': 0.4, 'step': 5}]  # epoch 5: no line logged in it
    log = parse_scalars(_lines(rows))
    assert log.val['coco/AP'].x == [6]


def test_iter_log_and_forced_val_step():
    log = parse_scalars(_lines(ITER_LOG))
    assert log.val_step == 'iter'
    assert log.val['mIoU'].x == [10] and log.val['mIoU'].y == [10.0]
    assert log.train['decode_loss_ce'].y == [2.0, 1.5]
    # forcing 'iter' on the epoch log keeps the raw step (epoch number) as x
    raw = parse_scalars(_lines(EPOCH_LOG), val_step='iter')
    assert raw.val['coco/AP'].x == [2, 3]


def test_default_panels_and_key_selection():
    log = parse_scalars(_lines(EPOCH_LOG))
    panels = select_panels(log)
    assert [p.title for p in panels] == ['loss', 'lr', 'validation']
    assert [s.key for s in panels[0].series] == ['loss', 'loss_kpt']
    assert [s.key for s in panels[2].series] == ['coco/AP', 'coco/AR'] and panels[2].markers
    picked = select_panels(log, ['acc_pose', 'coco/AP'])
    assert [(p.title, [s.key for s in p.series]) for p in picked] == [
        ('training', ['acc_pose']), ('validation', ['coco/AP'])]
    with pytest.raises(DataError, match="no key 'coco/APX'"):
        select_panels(log, ['coco/APX'])


def test_malformed_and_unplottable_logs():
    with pytest.raises(DataError, match=r'log.json:2: not a JSON line'):
        parse_scalars(['{"iter": 1, "loss": 1.0}', '{"iter": 2,'], source='log.json')
    with pytest.raises(DataError, match=r":1: a line with neither 'iter'"):
        parse_scalars(['{"loss": 1.0}'])
    only_time = parse_scalars(['{"time": 0.3, "data_time": 0.1, "iter": 1, "step": 1}'])
    with pytest.raises(DataError, match='nothing to plot'):
        select_panels(only_time)


def test_find_latest_or_chosen_run(tmp_path):
    old = _write_run(tmp_path, '20250101_000000', ITER_LOG)
    new = _write_run(tmp_path, '20260101_000000', EPOCH_LOG)
    (tmp_path / '20270101_000000').mkdir()  # a newer run without a scalars log is skipped
    assert find_scalars_log(str(tmp_path)) == str(new)
    assert find_scalars_log(str(tmp_path), '20250101_000000') == str(old)
    assert find_scalars_log(str(new)) == str(new)
    with pytest.raises(DataError, match="no run '2024'"):
        find_scalars_log(str(tmp_path), '2024')


def test_cli_writes_png_of_expected_size(tmp_path, capsys):
    _write_run(tmp_path / 'wd', '20260101_000000', EPOCH_LOG)
    out = tmp_path / 'curves.png'
    assert run_tool(PC.main, [str(tmp_path / 'wd'), '--out', str(out)]) == 0
    assert _png_size(out) == (3 * 400, 300)  # 3 panels of 4 x 3 inches at 100 dpi
    assert '3 panels (loss, lr, validation)' in capsys.readouterr().out
    out4 = tmp_path / 'four.png'
    argv = [str(tmp_path / 'wd'), '--out', str(out4), '--keys', 'loss', 'lr', 'acc_pose',
            'coco/AP']
    assert run_tool(PC.main, argv) == 0
    assert _png_size(out4) == (4 * 400, 300)


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    assert run_tool(PC.main, [str(tmp_path / 'empty')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and 'no scalars log' in err and '\n' not in err
    _write_run(tmp_path / 'timing', '20260101_000000',
               [dict(time=0.3, data_time=0.1, iter=1, step=1)])
    assert run_tool(PC.main, [str(tmp_path / 'timing'), '--out', str(tmp_path / 'x.png')]) == 2
    err = capsys.readouterr().err.strip()
    assert 'nothing to plot' in err and '\n' not in err
    assert not (tmp_path / 'x.png').exists()
