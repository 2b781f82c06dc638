"""tools/deploy/export_onnx.py and run_onnx.py end to end, and their one-line errors."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')

from hrnet_train.engine.launch import run_tool  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COCO_IMG = 'data/coco_tiny/val2017/000000000785.jpg'
CITY_IMG = 'data/cityscapes_tiny/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png'
CLS_IMG = 'data/cls_tiny/val/person'


def _tool(name):
    spec = importlib.util.spec_from_file_location(f'_deploy_{name}',
                                                  ROOT / 'tools' / 'deploy' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tools():
    return _tool('export_onnx'), _tool('run_onnx')


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize('task,extra,image', [
    ('pose', ['--flip-test'], COCO_IMG),
    ('seg', ['--probs'], CITY_IMG),
    ('cls', ['--topk', '2'], None),
])
def test_export_then_run(tools, tiny_checkpoints, tmp_path, capsys, task, extra, image):
    export, run = tools
    config, ckpt = tiny_checkpoints[task]
    onnx_path = tmp_path / f'{task}.onnx'
    assert run_tool(export.main, [config, ckpt, '--out', str(onnx_path), *extra]) == 0
    assert onnx_path.is_file()
    if image is None:
        image = str(sorted(Path(CLS_IMG).iterdir())[0])
    argv = [str(onnx_path), config, image, '--out-dir', str(tmp_path / 'out')]
    if task == 'pose':
        argv += ['--bbox', '280.79', '44.73', '499.49', '391.41']
    assert run_tool(run.main, argv) == 0, capsys.readouterr().err
    stem = Path(image).stem
    result = json.loads((tmp_path / 'out' / f'{stem}.json').read_text())
    assert result['task'] == task
    if task == 'pose':
        assert (tmp_path / 'out' / f'{stem}_pose.png').is_file()
        kpts = np.array(result['keypoints'])
        assert kpts.shape == (17, 2)
        assert (kpts[:, 0] > 200).all() and (kpts[:, 0] < 560).all()  # inside the padded box
    elif task == 'seg':
        assert (tmp_path / 'out' / f'{stem}.png').is_file()
        assert (tmp_path / 'out' / f'{stem}_overlay.png').is_file()
        assert result['shape'] == [128, 256]
        assert sum(result['pixels'].values()) == 128 * 256
    else:
        assert len(result['topk_indices']) == 2 and result['topk_scores'][0] >= \
            result['topk_scores'][1]
        assert set(result['topk_classes']) <= {'building', 'person', 'road'}


def test_bad_inputs_give_one_line(tools, tiny_checkpoints, tmp_path, capsys):
    export, run = tools
    pose_cfg, pose_ckpt = tiny_checkpoints['pose']
    seg_cfg, seg_ckpt = tiny_checkpoints['seg']
    # a checkpoint of another task at export time
    assert run_tool(export.main, [pose_cfg, seg_ckpt, '--out', str(tmp_path / 'x.onnx')]) == 2
    line = _error_line(capsys)
    assert 'holds a seg model (decode_head.* keys)' in line
    assert 'TopdownPoseEstimator (pose)' in line
    # an unreadable image
    onnx_path = tmp_path / 'pose.onnx'
    assert run_tool(export.main, [pose_cfg, pose_ckpt, '--out', str(onnx_path)]) == 0
    capsys.readouterr()
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'not an image')
    assert run_tool(run.main, [str(onnx_path), pose_cfg, str(bad), '--out-dir',
                               str(tmp_path)]) == 2
    line = _error_line(capsys)
    assert line.startswith('error: ') and 'broken.jpg' in line
    assert run_tool(run.main, [str(onnx_path), pose_cfg, str(tmp_path / 'missing.jpg'),
                               '--out-dir', str(tmp_path)]) == 2
    assert 'image file not found' in _error_line(capsys)
    # a seg image resized larger than the fixed ONNX input
    small = tmp_path / 'seg_small.onnx'
    assert run_tool(export.main, [seg_cfg, seg_ckpt, '--out', str(small),
                                  '--input-size', '128', '64']) == 0
    capsys.readouterr()
    assert run_tool(run.main, [str(small), seg_cfg, CITY_IMG, '--out-dir', str(tmp_path)]) == 2
    line = _error_line(capsys)
    assert 'resizes the image to 256x128' in line and '--input-size 256 128' in line
    # a bad option
    assert run_tool(export.main, [tiny_checkpoints['cls'][0], tiny_checkpoints['cls'][1],
                                  '--out', str(tmp_path / 'c.onnx'), '--topk', '9']) == 2
    assert '--topk must be in [1, 3]' in _error_line(capsys)


def test_wrong_array_into_fixed_model(tiny_checkpoints, tmp_path):
    from hrnet_train.apis import init_model
    from hrnet_train.deploy import export_onnx
    from hrnet_train.deploy.runtime import load_session, run_image
    from hrnet_train.utils.errors import DataError
    config, ckpt = tiny_checkpoints['cls']
    model = init_model(config, ckpt)
    session = load_session(export_onnx(model, str(tmp_path / 'c.onnx'), input_shape=(64, 64),
                                       topk=1))
    with pytest.raises(DataError, match=r'image must be \(H, W, 3\) uint8 RGB'):
        run_image(session, model.cfg, np.zeros((64, 64, 4), np.uint8))
    with pytest.raises(DataError, match='could not load ONNX model'):
        bad = tmp_path / 'bad.onnx'
        bad.write_bytes(b'junk')
        load_session(str(bad))


def test_missing_onnx_packages_name_the_install(tools, tiny_checkpoints, tmp_path, capsys,
                                                monkeypatch):
    export, run = tools
    pose_cfg, pose_ckpt = tiny_checkpoints['pose']
    onnx_path = tmp_path / 'pose.onnx'
    assert run_tool(export.main, [pose_cfg, pose_ckpt, '--out', str(onnx_path)]) == 0
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, 'onnx', None)  # import onnx raises ImportError
    assert run_tool(export.main, [pose_cfg, pose_ckpt, '--out', str(tmp_path / 'x.onnx')]) == 2
    line = _error_line(capsys)
    assert line.startswith('error: ONNX export needs the onnx package')
    assert line.endswith('pip install -e ".[export]" (or pip install onnx)')
    assert 'loaded' not in capsys.readouterr().out  # refused before the model was loaded
    assert not (tmp_path / 'x.onnx').exists()
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    assert run_tool(run.main, [str(onnx_path), pose_cfg, COCO_IMG, '--out-dir',
                               str(tmp_path / 'out')]) == 2
    line = _error_line(capsys)
    assert 'running an ONNX model needs the onnxruntime package' in line
    assert 'unexpected' not in line
