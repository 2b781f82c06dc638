"""tools/demo.py on the bundled images, a folder, a glob and a short generated video."""
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from hrnet_train.engine.launch import run_tool

ROOT = Path(__file__).resolve().parents[2]
POSE_CFG = ROOT / 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py'
SEG_CFG = ROOT / 'configs/seg/hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py'
DET_CFG = ROOT / 'configs/det/faster-rcnn_hrnetv2p-w18-small_coco-tiny_quickstart.py'
CLS_CFG = ROOT / 'configs/cls/hrnet-w18-small-v1_cls-tiny_quickstart.py'
COCO = ROOT / 'data/coco_tiny/val2017'
DETS = ROOT / 'data/coco_tiny/person_detection_results/test_coco_det_AP_H_56.json'
FRAME = ROOT / ('data/cityscapes_tiny/leftImg8bit/val/frankfurt/'
                'frankfurt_000000_000294_leftImg8bit.png')


def _tool():
    spec = importlib.util.spec_from_file_location('_tool_demo', ROOT / 'tools/demo.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules['_tool_demo'] = module
    spec.loader.exec_module(module)
    return module


DEMO = _tool()


def _save_random(cfg_path, path, dataset_meta=None):
    from hrnet_train.registry import MODELS
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model_cfg = Config.fromfile(str(cfg_path)).model
    model_cfg.backbone.pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=0.05)
    meta = {'epoch': 1}
    if dataset_meta is not None:
        meta['dataset_meta'] = dataset_meta
    torch.save({'meta': meta, 'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp('demo_ckpts')
    return dict(pose=_save_random(POSE_CFG, d / 'pose.pth'),
                seg=_save_random(SEG_CFG, d / 'seg.pth'),
                det=_save_random(DET_CFG, d / 'det.pth', dict(classes=('person',))),
                cls=_save_random(CLS_CFG, d / 'cls.pth',
                                 dict(classes=('building', 'person', 'road'))))


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _run(argv, capsys):
    capsys.readouterr()
    try:
        code = run_tool(DEMO.main, [str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _video(path, n=5, size=(160, 120)):
    img = cv2.resize(cv2.imread(str(COCO / '000000196141.jpg')), size)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 5, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.roll(img, 3 * i, axis=1))
    writer.release()
    return path


def _in_bounds(kpts, w, h, margin):
    k = np.asarray(kpts)
    return (k[:, 0] >= -margin * w).all() and (k[:, 0] <= (1 + margin) * w).all() and \
        (k[:, 1] >= -margin * h).all() and (k[:, 1] <= (1 + margin) * h).all()


def test_pose_on_a_folder_with_a_det_file(ckpts, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(DEMO, 'show_progress', lambda: True)  # as on a terminal
    out = tmp_path / 'out'
    code, stdout, err = _run([POSE_CFG, ckpts['pose'], COCO, '--out-dir', out,
                              '--det-file', DETS, '--det-score-thr', 0.9], capsys)
    assert code == 0, err
    assert 'pose: 4 image(s)' in stdout and '4/4' in err  # the progress bar
    dets = json.loads(DETS.read_text())
    for img in sorted(COCO.glob('*.jpg')):
        assert (out / (img.stem + '.jpg')).is_file()
        rec = json.loads((out / (img.stem + '.json')).read_text())
        # matched by image id = the number in the file name
        want = [d for d in dets if d['image_id'] == int(img.stem) and d['score'] >= 0.9]
        assert len(rec['people']) == len(want) > 0
        for person, det in zip(rec['people'], want):
            x, y, w, h = det['bbox']
            np.testing.assert_allclose(person['bbox'], [x, y, x + w, y + h], atol=0.01)
            assert len(person['keypoints']) == 17 and len(person['keypoint_scores']) == 17
        drawn = cv2.imread(str(out / (img.stem + '.jpg')))
        assert drawn.shape[:2] == (rec['height'], rec['width'])


def test_pose_on_a_video_with_the_whole_image(ckpts, tmp_path, capsys):
    video = _video(tmp_path / 'clip.avi')
    out = tmp_path / 'out'
    code, stdout, err = _run([POSE_CFG, ckpts['pose'], video, '--out-dir', out,
                              '--whole-image', '--batch-size', 2], capsys)
    assert code == 0, err
    rec = json.loads((out / 'clip.json').read_text())
    assert rec['num_frames'] == 5 and [f['frame'] for f in rec['frames']] == list(range(5))
    assert (rec['width'], rec['height']) == (160, 120)
    for frame in rec['frames']:
        (person,) = frame['people']
        assert person['bbox'] == [0, 0, 160, 120]
        # the whole image, padded by 1.25 and widened to 3:4: the keypoints stay within it
        assert _in_bounds(person['keypoints'], 160, 120, 0.7)
    cap = cv2.VideoCapture(str(out / 'clip.avi'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    ok, frame = cap.read()
    assert ok and frame.shape == (120, 160, 3)
    cap.release()


def test_two_stage_pose_on_one_image(ckpts, tmp_path, capsys):
    from hrnet_train.apis import inference_detector, init_model
    img = COCO / '000000040083.jpg'
    det = inference_detector(init_model(str(DET_CFG), ckpts['det']), str(img))
    thr = float(det.scores[4] + det.scores[5]) / 2  # five persons pass
    out = tmp_path / 'out'
    code, _, err = _run([POSE_CFG, ckpts['pose'], img, '--out-dir', out, '--det-config',
                         DET_CFG, '--det-checkpoint', ckpts['det'], '--det-score-thr', thr],
                        capsys)
    assert code == 0, err
    rec = json.loads((out / '000000040083.json').read_text())
    assert len(rec['people']) == int((det.scores >= thr).sum()) == 5
    np.testing.assert_allclose([p['bbox'] for p in rec['people']], det.bboxes[:len(rec['people'])],
                               atol=0.01)


def test_seg_det_cls_on_an_image_and_a_glob(ckpts, tmp_path, capsys):
    out = tmp_path / 'seg'
    code, _, err = _run([SEG_CFG, ckpts['seg'], FRAME, '--out-dir', out], capsys)
    assert code == 0, err
    stem = FRAME.stem
    rec = json.loads((out / f'{stem}.json').read_text())
    labels = cv2.imread(str(out / f'{stem}_labels.png'), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (128, 256) and (out / f'{stem}.png').is_file()
    ids, counts = np.unique(labels, return_counts=True)
    assert [p['label'] for p in rec['present']] == ids.tolist()
    assert [p['pixels'] for p in rec['present']] == counts.tolist()
    assert rec['class_names'][0] == 'road'

    images = tmp_path / 'imgs'
    images.mkdir()
    for name in ('000000000785.jpg', '000000040083.jpg'):
        shutil.copy(COCO / name, images / name)
    from hrnet_train.apis import inference_detector, init_model
    scores = inference_detector(init_model(str(DET_CFG), ckpts['det']),
                                str(images / '000000000785.jpg')).scores
    thr = float(scores[2] + scores[3]) / 2  # three boxes pass
    out = tmp_path / 'det'
    code, _, err = _run([DET_CFG, ckpts['det'], images / '*.jpg', '--out-dir', out,
                         '--score-thr', thr], capsys)
    assert code == 0, err
    rec = json.loads((out / '000000000785.json').read_text())
    assert len(rec['scores']) == int((scores >= thr).sum()) == 3
    assert min(rec['scores']) >= round(thr, 5) and set(rec['names']) == {'person'}
    assert all(0 <= b[0] <= b[2] <= 640 and 0 <= b[1] <= b[3] <= 425 for b in rec['bboxes'])
    assert (out / '000000040083.jpg').is_file()

    out = tmp_path / 'cls'
    code, _, err = _run([CLS_CFG, ckpts['cls'], images, '--out-dir', out, '--topk', 2], capsys)
    assert code == 0, err
    rec = json.loads((out / '000000000785.json').read_text())
    assert len(rec['names']) == 2 and set(rec['names']) <= {'building', 'person', 'road'}
    assert rec['scores'][0] >= rec['scores'][1]


def test_bad_input_is_one_line(ckpts, tmp_path, capsys):
    out = tmp_path / 'out'
    pose = [POSE_CFG, ckpts['pose']]

    def one_line(argv, *parts):
        code, _, err = _run(argv, capsys)
        assert code == 2 and err.count('\n') == 1 and err.startswith('error: '), err
        for part in parts:
            assert part in err, err

    one_line(pose + [COCO, '--out-dir', out], 'exactly one person-box source')
    one_line(pose + [COCO, '--out-dir', out, '--whole-image', '--det-file', DETS],
             'got --det-file, --whole-image')
    one_line([SEG_CFG, ckpts['seg'], FRAME, '--out-dir', out, '--whole-image'],
             '--whole-image is for top-down pose configs')
    one_line(pose + [tmp_path / 'nothing.jpg', '--out-dir', out, '--whole-image'],
             'input not found:', 'nothing.jpg')
    (tmp_path / 'empty').mkdir()
    one_line(pose + [tmp_path / 'empty', '--out-dir', out, '--whole-image'],
             'has no image files')
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'\xff\xd8 not a jpeg')
    one_line(pose + [bad, '--out-dir', out, '--whole-image'], 'broken.jpg')
    fake = tmp_path / 'fake.avi'
    fake.write_bytes(b'not a video')
    one_line(pose + [fake, '--out-dir', out, '--whole-image'], 'could not open video file',
             'fake.avi')
    one_line(pose + [COCO, '--out-dir', out, '--det-file', tmp_path / 'none.json'],
             'none.json: file not found')
    one_line([POSE_CFG, ckpts['seg'], COCO, '--out-dir', out, '--whole-image'],
             'seg.pth does not fit TopdownPoseEstimator')


@pytest.mark.slow
def test_train_summary_then_demo_on_the_trained_checkpoint(tmp_path, capsys):
    """tools/train.py for one epoch: its summary, and its checkpoint names the classes."""
    spec = importlib.util.spec_from_file_location('_tool_train_demo', ROOT / 'tools/train.py')
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    work = tmp_path / 'work'
    train.main([str(CLS_CFG), '--work-dir', str(work), '--cfg-options', 'train_cfg.max_epochs=1',
                'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1',
                'param_scheduler.1.T_max=1', 'param_scheduler.1.end=1'])
    log = next(work.glob('*/*.log')).read_text()
    summary = log[log.index('training done'):].splitlines()
    assert summary[1].startswith('  best accuracy/top1: ')
    assert summary[1].endswith(f'({work}/best_accuracy_top1_epoch_1.pth)')
    assert summary[2] == f'  last checkpoint: {work}/epoch_1.pth'
    assert summary[3].startswith('  wall time: 0:0')
    out = tmp_path / 'out'
    code, _, err = _run([CLS_CFG, work / 'epoch_1.pth', COCO / '000000196141.jpg', '--out-dir',
                         out, '--topk', 3], capsys)
    assert code == 0, err
    rec = json.loads((out / '000000196141.json').read_text())
    assert sorted(rec['names']) == ['building', 'person', 'road']  # from meta.dataset_meta


def test_det_file_by_frame_index_and_by_file_name(ckpts, tmp_path, capsys):
    """Video frames match image_id = frame index; an entry's file_name matches the file name;
    other categories and low scores are dropped; .mp4 input gives .mp4 output."""
    video = tmp_path / 'clip.mp4'
    img = cv2.resize(cv2.imread(str(COCO / '000000196141.jpg')), (160, 120))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 5, (160, 120))
    if not writer.isOpened():
        pytest.skip('no mp4v encoder in this OpenCV build')
    for _ in range(3):
        writer.write(img)
    writer.release()
    dets = [dict(image_id=0, bbox=[10, 20, 50, 80], score=0.9, category_id=1),
            dict(image_id=2, bbox=[30, 10, 40, 60], score=0.8, category_id=1),
            dict(image_id=2, bbox=[0, 0, 40, 60], score=0.8, category_id=2),  # not a person
            dict(image_id=2, bbox=[0, 0, 40, 60], score=0.1, category_id=1)]  # below 0.5
    det_file = tmp_path / 'dets.json'
    det_file.write_text(json.dumps(dets))
    out = tmp_path / 'out'
    code, _, err = _run([POSE_CFG, ckpts['pose'], video, '--out-dir', out, '--det-file',
                         det_file], capsys)
    assert code == 0, err
    rec = json.loads((out / 'clip.json').read_text())
    assert rec['num_frames'] == 3 and (out / 'clip.mp4').is_file()
    assert [[p['bbox'] for p in f['people']] for f in rec['frames']] == [
        [[10, 20, 60, 100]], [], [[30, 10, 70, 70]]]

    frame = tmp_path / 'frame.png'
    cv2.imwrite(str(frame), img)
    det_file.write_text(json.dumps([dict(file_name='some/dir/frame.png', bbox=[5, 5, 20, 40],
                                         score=0.7)]))
    code, _, err = _run([POSE_CFG, ckpts['pose'], frame, '--out-dir', out, '--det-file',
                         det_file], capsys)
    assert code == 0, err
    (person,) = json.loads((out / 'frame.json').read_text())['people']
    assert person['bbox'] == [5, 5, 25, 45] and person['bbox_score'] == 0.7
    assert (out / 'frame.jpg').is_file()
