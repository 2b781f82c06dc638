"""tools/dist_{train,test}.sh (torchrun) with 2 CPU processes (gloo): training works and the
distributed evaluation equals the single-process one (mmengine's collect_results gathers and
de-pads across ranks)."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import _toy
import pytest

from hrnet_train.utils import safe_torch_load

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_script(script, *args, timeout=240, check=True):
    """Run tools/dist_{train,test}.sh with 2 processes (`python` = this interpreter); returns
    the output (and the exit code when not ``check``)."""
    env = dict(os.environ, PYTHONPATH=osp.dirname(osp.abspath(__file__)), OMP_NUM_THREADS='1',
               PORT=str(_free_port()),
               PATH=osp.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    env.pop('LOCAL_RANK', None)
    cmd = ['bash', osp.join(ROOT, 'tools', script), *args]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    if not check:
        return proc.returncode, proc.stdout + proc.stderr
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def test_torchrun_two_cpu_processes_train_and_evaluate(tmp_path, monkeypatch):
    work_dir = tmp_path / 'dist'
    log = _dist_script('dist_train.sh', _toy.CONFIG, '2', '--work-dir', str(work_dir),
                       '--cfg-options', 'train_cfg.max_iters=4', 'train_cfg.val_begin=1000')
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    ckpt = safe_torch_load(work_dir / 'iter_4.pth')
    assert ckpt['meta']['iter'] == 4
    assert 'module.' not in ''.join(ckpt['state_dict'])  # unwrapped from DDP before saving

    dist_out = tmp_path / 'dist_metrics.json'
    _dist_script('dist_test.sh', _toy.CONFIG, str(work_dir / 'iter_4.pth'), '2',
                 '--work-dir', str(tmp_path / 'dist_test'), '--out', str(dist_out))
    dist_metrics = json.loads(dist_out.read_text())

    # the same checkpoint, one process, through tools/test.py's main()
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    test_main = _load_tool('test')
    single = test_main([_toy.CONFIG, str(work_dir / 'iter_4.pth'), '--work-dir',
                        str(tmp_path / 'single_test'), '--cfg-options', 'log_level=WARNING'])
    assert dist_metrics['toy/num_samples'] == single['toy/num_samples'] == 10  # no padding dup
    assert dist_metrics['toy/mae'] == pytest.approx(single['toy/mae'], rel=1e-6)


def test_torchrun_refused_work_dir_stops_every_rank(tmp_path):
    """Rank 0 finds an earlier run's checkpoints; its verdict reaches rank 1, so both exit at
    once (instead of rank 1 training alone until a collective times out)."""
    work_dir = tmp_path / 'used'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_4.pth'))
    code, log = _dist_script('dist_train.sh', _toy.CONFIG, '2', '--work-dir', str(work_dir),
                             '--cfg-options', 'train_cfg.max_iters=4', 'train_cfg.val_begin=1000',
                             timeout=180, check=False)
    assert code != 0, log[-4000:]
    assert log.count(f'work_dir {work_dir} holds checkpoints of an earlier training') >= 2, \
        log[-4000:]  # both ranks raised it
    assert not list(work_dir.glob('*.pth')) and not (work_dir / 'train.lock').exists()


def _load_tool(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'_tool_{name}',
                                                  osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_torchrun_pose_on_bundled_coco_images(tmp_path, monkeypatch):
    """2 gloo processes train the pose quickstart on the real images in data/coco_tiny; the
    distributed test gives exactly the single-process COCO keypoint stats."""
    config = osp.join(ROOT, 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py')
    work_dir = tmp_path / 'pose'
    opts = ['--cfg-options', 'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
            'train_dataloader.dataset.times=1', 'train_dataloader.batch_size=3',
            'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1']
    log = _dist_script('dist_train.sh', config, '2', '--work-dir', str(work_dir), *opts)
    assert 'Distributed training: True' in log
    assert 'loss_kpt' in log and 'coco/AP' in log
    ckpt = work_dir / 'epoch_2.pth'
    assert safe_torch_load(ckpt)['meta']['epoch'] == 2
    # rank 0 gathered every rank's poses: all four images drawn
    assert len(os.listdir(work_dir / 'vis' / 'val_epoch2')) == 4

    dist_out = tmp_path / 'dist.json'
    _dist_script('dist_test.sh', config, str(ckpt), '2', '--work-dir', str(tmp_path / 'dt'),
                 '--out', str(dist_out))
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    monkeypatch.chdir(ROOT)
    single = _load_tool('test')([config, str(ckpt), '--work-dir', str(tmp_path / 'st'),
                                 '--cfg-options', 'log_level=WARNING'])
    dist_metrics = json.loads(dist_out.read_text())
    assert sorted(dist_metrics) == sorted(k for k in single if k.startswith('coco/'))
    for key, value in dist_metrics.items():
        assert value == pytest.approx(single[key], abs=1e-12), key
