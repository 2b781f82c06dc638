"""Every tool answers a mistake with one line ``error: ...`` on stderr and a documented exit code
(docs/errors.md): 2 for bad input, 1 for a diverged training, 130 for a second Ctrl-C; the
traceback only with ``--debug`` / ``HRNET_DEBUG=1``.

Most cases call the real tool's ``main`` through ``run_tool`` in this process (as ``python
tools/X.py`` does); the ones that need a real process (signals, DataLoader workers, exact stderr)
run the tool as a subprocess.
"""
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hrnet_train.engine.launch import error_message, exit_code, run_tool
from hrnet_train.utils.errors import ConfigError, DataError, TrainingDivergedError

ROOT = Path(__file__).resolve().parents[2]
TOY_DIR = ROOT / 'tests' / 'engine'
TOY = TOY_DIR / '_toy_config.py'
POSE = ROOT / 'configs' / 'pose' / 'hrnet-w18-small_coco-tiny-128x96_quickstart.py'
SEG = ROOT / 'configs' / 'seg' / 'hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py'
TIMEOUT = 600  # seconds; the machine is shared


def _tool(relpath):
    name = '_tool_' + relpath.replace('/', '_').replace('.py', '')
    spec = importlib.util.spec_from_file_location(name, ROOT / 'tools' / relpath)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in benchmark.py look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def train():
    return _tool('train.py')


@pytest.fixture(autouse=True)
def _local_rank(monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '0')  # train.py sets it; undone after each test
    monkeypatch.delenv('HRNET_DEBUG', raising=False)


def _call(tool, argv, capsys):
    """(exit code, stderr) of ``python tools/<tool>.py argv``, in this process."""
    capsys.readouterr()
    try:
        code = run_tool(tool.main, [str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


def _one_line(err, *expected):
    assert err.endswith('\n') and err.count('\n') == 1, err
    assert err.startswith('error: ') and 'Traceback' not in err, err
    for text in expected:
        assert text in err, err


def _subprocess(argv, cwd=ROOT, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(TOY_DIR))
    env.pop('HRNET_DEBUG', None)
    env.pop('LOCAL_RANK', None)
    return subprocess.run([sys.executable, *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, **kwargs)


# ------------------------------------------------------------------------------ config mistakes
@pytest.mark.parametrize('option, expected', [
    ('model.backbone.archh=w48',
     "model.backbone.archh: HRNet has no argument 'archh'; did you mean 'arch'?"),
    ('train_cfg.max_epoch=3',
     "train_cfg.max_epoch: EpochBasedTrainLoop has no argument 'max_epoch'; "
     "did you mean 'max_epochs'?"),
    ('trian_dataloader.batch_size=2', "did you mean 'train_dataloader'?"),
    ('model.backbone.type=HRNett',
     "model.backbone.type: 'HRNett' is not a registered model; did you mean 'HRNet'?"),
    ('batch_size=2', "did you mean 'train_dataloader.batch_size'?"),
    ('train_dataloader.dataset.dataset.pipeline.5.encoder.sigmaa=2',
     "MSRAHeatmap has no argument 'sigmaa'; did you mean 'sigma'?"),
    ('custom_hooks.3.type=X', 'custom_hooks has 1 entries'),
    ('codec.sigma=3', "'codec' is a variable of the config file; its value was copied where it "
                      'is used when the file was read, so this changes nothing'),
])
def test_train_config_mistakes_are_one_line(train, capsys, tmp_path, option, expected):
    code, err = _call(train, [POSE, '--work-dir', tmp_path, '--cfg-options', option], capsys)
    assert code == 2
    _one_line(err, expected, option.split('=')[0].split('.')[0])
    assert not (tmp_path / 'last_checkpoint').exists()  # nothing was built


def test_cfg_options_without_equals_is_an_argparse_error(train, capsys):
    code, err = _call(train, [POSE, '--cfg-options', 'batch_size'], capsys)
    assert code == 2
    _one_line(err, "'batch_size' is not KEY=VALUE", '--cfg-options')
    code, err = _call(train, [POSE, '--cfg-options', 'a=[1,2'], capsys)
    assert code == 2
    _one_line(err, "'a=[1,2' has unbalanced brackets")


def test_unreadable_config_files(train, capsys, tmp_path):
    code, err = _call(train, [tmp_path / 'nope.py'], capsys)
    assert code == 2
    _one_line(err, 'config file not found:', 'nope.py')

    bad = tmp_path / 'bad.py'
    bad.write_text('model = dict(\n    type="HRNet",\nx = (\n')
    code, err = _call(train, [bad], capsys)
    assert code == 2
    _one_line(err, 'bad.py, line')

    base = tmp_path / 'base.py'
    base.write_text("_base_ = ['missing_base.py']\n")
    code, err = _call(train, [base], capsys)
    assert code == 2
    _one_line(err, 'base.py: file not found:', 'missing_base.py')


def test_yaml_mistake(train, capsys, tmp_path):
    yaml = tmp_path / 'exp.yaml'
    yaml.write_text('MODEL:\n  NAME: pose_resnet\n')
    code, err = _call(train, [yaml], capsys)
    assert code == 2
    _one_line(err, "exp.yaml: MODEL.NAME 'pose_resnet' is not supported")


def test_test_tool(capsys, tmp_path):
    test = _tool('test.py')
    code, err = _call(test, [SEG, tmp_path / 'missing.pth'], capsys)
    assert code == 2
    _one_line(err, 'checkpoint file not found:', 'missing.pth')
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    code, err = _call(test, [SEG, ckpt, '--cfg-options', 'model.decode_head.num_clases=3'],
                      capsys)
    assert code == 2
    _one_line(err, "model.decode_head.num_clases: SegHead has no argument 'num_clases'; "
                   "did you mean 'num_classes'?")


def test_debug_prints_the_traceback(train, capsys, monkeypatch):
    argv = [POSE, '--cfg-options', 'model.backbone.archh=w48']
    code, err = _call(train, argv + ['--debug'], capsys)
    assert code == 2 and err.startswith('Traceback') and 'ConfigError' in err
    monkeypatch.setenv('HRNET_DEBUG', '1')
    code, err = _call(train, argv, capsys)
    assert code == 2 and err.startswith('Traceback')


def test_other_tools(capsys, tmp_path):
    code, err = _call(_tool('analysis/get_flops.py'),
                      [POSE, '--cfg-options', 'model.head.num_keypoint=3'], capsys)
    assert code == 2
    _one_line(err, "model.head.num_keypoint: HeatmapHead has no argument 'num_keypoint'")

    code, err = _call(_tool('misc/yacs_to_config.py'), [tmp_path / 'x.yaml', tmp_path / 'x.py'],
                      capsys)
    assert code == 2
    _one_line(err, 'x.yaml: yacs experiment file not found')

    code, err = _call(_tool('dataset_converters/cityscapes.py'), [tmp_path], capsys)
    assert code == 2
    _one_line(err, 'label folder not found:', 'gtFine')

    bad = tmp_path / 'bench.json'
    bad.write_text('[]')
    code, err = _call(_tool('analysis/benchmark.py'), ['--compare', bad, bad], capsys)
    assert code == 2
    _one_line(err, 'bench.json: expected the JSON written by --out')

    code, err = _call(_tool('analysis/coco_eval.py'), ['a.json', 'b.json', '--iou-type', 'bbox',
                                                        '--sigmas', '0.1'], capsys)
    assert code == 2
    _one_line(err, '--sigmas applies only to --iou-type keypoints')


def test_demo_tool(capsys, tmp_path):
    """Through hrnet_train.apis.init_model, which reads the config with
    hrnet_train.config.load_config."""
    code, err = _call(_tool('demo.py'), [tmp_path / 'c.py', 'x.pth', 'x.jpg', '--out-dir',
                                         tmp_path], capsys)
    assert code == 2
    _one_line(err, 'config file not found:', 'c.py')


# ------------------------------------------------------------------------------ real processes
def test_subprocess_one_line_and_debug():
    argv = ['tools/train.py', POSE, '--cfg-options', 'model.backbone.archh=w48']
    out = _subprocess(argv)
    assert out.returncode == 2
    assert out.stderr == ("error: model.backbone.archh: HRNet has no argument 'archh'; "
                          "did you mean 'arch'?\n")
    out = _subprocess(argv + ['--debug'])
    assert out.returncode == 2 and 'Traceback (most recent call last)' in out.stderr
    out = _subprocess(['tools/train.py', POSE, '--cfg-options', 'batch_size'])
    assert out.returncode == 2 and out.stderr.count('\n') == 1
    assert "'batch_size' is not KEY=VALUE" in out.stderr


def test_diverged_training_exits_1(tmp_path):
    out = _subprocess(['tools/train.py', TOY, '--work-dir', tmp_path, '--cfg-options',
                       'model.nan_at_iter=2', 'train_cfg.max_iters=4', 'log_level=WARNING'])
    assert out.returncode == 1, out.stderr
    _one_line(out.stderr, 'iteration 2', 'loss_mse')


def test_dataloader_worker_error_is_the_original_message(tmp_path):
    (tmp_path / '_broken_data.py').write_text(
        'from mmengine.registry import DATASETS, Registry\n'
        'from torch.utils.data import Dataset\n'
        "BROKEN = Registry('dataset', parent=DATASETS, scope='hrnet_broken')\n\n\n"
        '@BROKEN.register_module()\n'
        'class BrokenDataset(Dataset):\n'
        '    def __len__(self):\n'
        '        return 10\n\n'
        '    def __getitem__(self, idx):\n'
        "        raise ValueError(f'data/broken/{idx}.jpg: truncated JPEG; expected a whole "
        "image')\n")
    config = tmp_path / 'broken.py'
    config.write_text(
        f'_base_ = [{str(TOY)!r}]\n'
        "custom_imports = dict(imports=['_toy', '_broken_data'], allow_failed_imports=False)\n"
        'train_dataloader = dict(num_workers=1, persistent_workers=False,\n'
        "                        dataset=dict(_delete_=True, type='hrnet_broken.BrokenDataset'))\n")
    env_path = os.pathsep.join([str(TOY_DIR), str(tmp_path)])
    out = subprocess.run([sys.executable, 'tools/train.py', str(config), '--work-dir',
                          str(tmp_path / 'wd'), '--cfg-options', 'log_level=WARNING'],
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=env_path),
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 2, out.stderr
    _one_line(out.stderr, 'data/broken/', '.jpg: truncated JPEG; expected a whole image')
    assert 'DataLoader worker' not in out.stderr


def test_second_ctrl_c_exits_130_naming_the_last_checkpoint(tmp_path):
    progress = tmp_path / 'progress'
    work_dir = tmp_path / 'wd'
    env = dict(os.environ, PYTHONPATH=str(TOY_DIR))
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', str(TOY), '--work-dir', str(work_dir),
         '--cfg-options', 'model.sleep=1.5', f'model.progress_file={progress}',
         'default_hooks.checkpoint.interval=2', 'train_cfg.max_iters=40',
         'train_cfg.val_begin=1000', 'log_level=WARNING'],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + TIMEOUT
        while not (progress.exists() and int(progress.read_text() or 0) >= 3):
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
            time.sleep(0.05)
        time.sleep(0.4)  # inside the sleep of iteration 4; iter_2.pth is written
        proc.send_signal(signal.SIGINT)  # first: stop after this iteration ...
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)  # ... second: abort at once
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    _one_line(err, 'interrupted: no checkpoint was written for the current iteration',
              str(work_dir / 'iter_2.pth'))
    assert not (work_dir / 'iter_4.pth').exists()


# ------------------------------------------------------------------------------ the helpers
def test_exit_codes_and_messages():
    assert exit_code(ConfigError('x')) == exit_code(DataError('x')) == 2
    assert exit_code(KeyError('x')) == exit_code(FileNotFoundError('x')) == 2
    assert exit_code(TrainingDivergedError('x')) == exit_code(FloatingPointError('x')) == 1
    assert exit_code(RuntimeError('x')) == 1 and exit_code(KeyboardInterrupt()) == 130
    assert error_message(KeyError('HRNett is not in the model registry')) == \
        'HRNett is not in the model registry'
    # mmengine / mmcv wrap a builder's error with the class that failed: kept on one line
    wrapped = TypeError('class `HRNet` in hrnet_train/models/backbones/hrnet.py: '
                        "__init__() got an unexpected keyword argument 'archh'")
    assert error_message(wrapped) == str(wrapped)
    assert error_message(ValueError('first\n  second\n')) == 'first second'
    # what torch's ExceptionWrapper.reraise builds in the main process
    worker = DataError(
        'Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call '
        'last):\n  File "/x/worker.py", line 349, in _worker_loop\n    data = fetcher.fetch(index)'
        '\n  File "/x/coco.py", line 10, in __getitem__\n    raise DataError(msg)\n'
        'hrnet_train.utils.errors.DataError: data/coco/val2017/1.jpg: cannot decode the image\n')
    assert error_message(worker) == 'data/coco/val2017/1.jpg: cannot decode the image'


def test_run_tool_results(capsys):
    assert run_tool(lambda argv: 3, []) == 3
    assert run_tool(lambda argv: object(), []) == 0

    def boom(argv):
        raise RuntimeError('cuda out of memory')
    assert run_tool(boom, []) == 1
    _one_line(capsys.readouterr().err, 'RuntimeError: cuda out of memory', '--debug')

    def diverged(argv):
        raise TrainingDivergedError('loss spike at iteration 7: loss 1e9 > 1000 x median')
    assert run_tool(diverged, []) == 1
    assert capsys.readouterr().err == \
        'error: loss spike at iteration 7: loss 1e9 > 1000 x median\n'

    def interrupted(argv):
        raise KeyboardInterrupt
    assert run_tool(interrupted, []) == 130
    _one_line(capsys.readouterr().err, 'no checkpoint was written for the current iteration')
