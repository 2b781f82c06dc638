"""The inference API on the bundled real images, with tiny randomly initialised checkpoints.

The checkpoints are written as ``tools/train.py`` writes them (``state_dict`` + ``meta``, with
``meta.dataset_meta`` for the detector and the classifier, whose configs do not name their
classes), so ``init_model`` goes through the one checkpoint loader.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from hrnet_train.apis import (
    ClsResult,
    DetResult,
    PoseResult,
    SegResult,
    inference,
    inference_classifier,
    inference_detector,
    inference_segmentor,
    inference_topdown,
    init_model,
    model_task,
)
from hrnet_train.registry import DATASETS, MODELS
from hrnet_train.utils.errors import CheckpointError, DataError

ROOT = Path(__file__).resolve().parents[2]
POSE_CFG = ROOT / 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py'
SEG_CFG = ROOT / 'configs/seg/hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py'
DET_CFG = ROOT / 'configs/det/faster-rcnn_hrnetv2p-w18-small_coco-tiny_quickstart.py'
CLS_CFG = ROOT / 'configs/cls/hrnet-w18-small-v1_cls-tiny_quickstart.py'
COCO = ROOT / 'data/coco_tiny/val2017'
IMG_785 = str(COCO / '000000000785.jpg')  # 640 x 425
IMG_40083 = str(COCO / '000000040083.jpg')  # 500 x 333
FRAME = str(ROOT / 'data/cityscapes_tiny/leftImg8bit/val/frankfurt/'
            'frankfurt_000000_000294_leftImg8bit.png')  # 256 x 128
CLS_CLASSES = ('building', 'person', 'road')


def _save_random(cfg_path, path, dataset_meta=None, std=0.05):
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model_cfg = Config.fromfile(str(cfg_path)).model
    model_cfg.backbone.pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    with torch.no_grad():
        for p in model.parameters():  # O(1) weights so predictions are not flat
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=std)
    meta = {'epoch': 1}
    if dataset_meta is not None:
        meta['dataset_meta'] = dataset_meta
    torch.save({'meta': meta, 'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp('ckpts')
    return dict(
        pose=_save_random(POSE_CFG, d / 'pose.pth'),
        seg=_save_random(SEG_CFG, d / 'seg.pth'),
        det=_save_random(DET_CFG, d / 'det.pth', dict(classes=('person',),
                                                      palette=[(220, 20, 60)])),
        cls=_save_random(CLS_CFG, d / 'cls.pth', dict(classes=CLS_CLASSES)))


def _inference_module():
    """hrnet_train.apis.inference, the module (the package exports a function of that name)."""
    import sys
    return sys.modules['hrnet_train.apis.inference']


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the configs' data_root is relative


# ------------------------------------------------------------------------------ init_model
@pytest.mark.parametrize('cfg_value, arg, called', [
    (None, None, True),  # default_runtime.py's key (on)
    (False, None, False), (True, False, False), (False, True, True)])
def test_init_model_keeps_freed_memory_as_the_config_says(ckpts, monkeypatch, cfg_value, arg,
                                                         called):
    """init_model applies ``keep_freed_memory`` as the runner does for tools/train.py and
    test.py: the config's key unless the argument says otherwise (the effect itself is tested in
    tests/utils/test_malloc.py, in a child process)."""
    inference_mod = _inference_module()
    assert Config.fromfile(str(POSE_CFG)).keep_freed_memory is True
    calls = []
    monkeypatch.setattr(inference_mod, '_keep_freed_memory', lambda: calls.append(1) or True)
    options = None if cfg_value is None else dict(keep_freed_memory=cfg_value)
    init_model(str(POSE_CFG), str(ckpts['pose']), cfg_options=options, keep_freed_memory=arg)
    assert calls == ([1] if called else [])


def test_init_model_rejects_a_checkpoint_of_another_task(ckpts):
    with pytest.raises(CheckpointError, match=r"seg.pth does not fit TopdownPoseEstimator .*"
                                              r"missing from the file: head.final_layer.weight.*"
                                              r"the file holds decode_head.\* \(segmentation\)"):
        init_model(str(POSE_CFG), str(ckpts['seg']))
    with pytest.raises(CheckpointError) as info:
        init_model(str(CLS_CFG), str(ckpts['det']))
    assert '\n' not in str(info.value) and 'det.pth' in str(info.value)


def test_init_model_loads_an_official_pose_release_strictly(ckpts, tmp_path):
    """Released pose_hrnet_*.pth: a plain dict of bare backbone keys + final_layer.*."""
    from hrnet_train.utils.safe_load import safe_torch_load
    ours = safe_torch_load(ckpts['pose'])['state_dict']
    official = {k.split('.', 1)[1]: v for k, v in ours.items()}
    path = tmp_path / 'pose_hrnet_w18_small.pth'
    torch.save(official, path)
    ref = init_model(str(POSE_CFG), str(ckpts['pose']))
    model = init_model(str(POSE_CFG), str(path))
    for k, v in ours.items():
        assert torch.equal(model.state_dict()[k], v), k
    x = torch.randn(1, 3, 128, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)
    assert model.dataset_meta['flip_indices'] == ref.dataset_meta['flip_indices']


def test_init_model_takes_dataset_meta_from_the_checkpoint(ckpts):
    det = init_model(str(DET_CFG), str(ckpts['det']))
    assert det.dataset_meta['classes'] == ('person',)
    assert model_task(det) == 'det'
    # without a checkpoint, the classes of a folder dataset are unknown: class_<i>
    assert inference_classifier(init_model(str(CLS_CFG)), IMG_785).names[0].startswith('class_')


# ------------------------------------------------------------------------------ pose
def test_inference_topdown_equals_dataset_path(ckpts):
    model = init_model(str(POSE_CFG), str(ckpts['pose']))
    assert model.dataset_meta['flip_indices'][1] == 2
    ds = DATASETS.build(model.cfg.test_dataloader.dataset)
    sample = ds[0]
    ref = model.val_step(pseudo_collate([sample]))[0]
    path = sample['data_samples'].metainfo['img_path']
    box = np.asarray(sample['data_samples'].metainfo['bbox'], np.float32).reshape(4)
    out = inference_topdown(model, path, [box], bbox_scores=[0.7])
    assert len(out) == 1 and isinstance(out[0], PoseResult)
    np.testing.assert_allclose(out[0].keypoints, ref.pred_keypoints.reshape(-1, 2), atol=1e-4)
    np.testing.assert_allclose(out[0].keypoint_scores, ref.pred_keypoint_scores.reshape(-1),
                               atol=1e-6)
    np.testing.assert_array_equal(out[0].bbox, box)
    assert out[0].pred_keypoints is out[0].keypoints  # the earlier API's names
    assert out[0].pred_keypoint_scores is out[0].keypoint_scores
    assert out[0].bbox_score == pytest.approx(0.7)
    x1, y1, x2, y2 = box
    out2 = inference_topdown(model, path, [[x1, y1, x2 - x1, y2 - y1]], bbox_format='xywh')
    np.testing.assert_allclose(out2[0].keypoints, out[0].keypoints, atol=1e-4)
    # the same image as a BGR array (cv2.imread) gives the same poses
    bgr = cv2.imread(path)
    out3 = inference_topdown(model, bgr, [box], channel_order='bgr')
    np.testing.assert_allclose(out3[0].keypoints, out[0].keypoints, atol=1e-4)


def test_inference_topdown_batched_equals_one_by_one(ckpts):
    model = init_model(str(POSE_CFG), str(ckpts['pose']))
    boxes = [np.array([[280, 45, 500, 380], [0, 0, 200, 300]], np.float32), None]
    batched = inference_topdown(model, [IMG_785, IMG_40083], boxes)
    assert [len(b) for b in batched] == [2, 1]
    for img, bxs, got in zip([IMG_785, IMG_40083], boxes, batched):
        alone = inference_topdown(model, img, bxs, batch_size=1)
        for a, b in zip(alone, got):
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4)
            np.testing.assert_allclose(a.keypoint_scores, b.keypoint_scores, atol=1e-5)
    whole = batched[1][0]  # the whole 500 x 333 image as one box
    np.testing.assert_array_equal(whole.bbox, [0, 0, 500, 333])
    assert whole.keypoints.shape == (17, 2) and whole.keypoint_scores.shape == (17,)
    # The model sees the box padded by 1.25 and widened to the 96 x 128 input's aspect ratio:
    # centre (250, 166.5), w = 1.25 * 500 = 625, h = 625 / 0.75 = 833.3, so the keypoints lie
    # within x in [-62.5, 562.5], y in [-250.2, 583.2].
    x, y = whole.keypoints[:, 0], whole.keypoints[:, 1]
    assert (x >= -62.5 - 1e-3).all() and (x <= 562.5 + 1e-3).all()
    assert (y >= -250.2).all() and (y <= 583.2).all()
    assert inference_topdown(model, IMG_785, np.zeros((0, 4))) == []


@pytest.mark.parametrize('fuse_bn', [True, 'onednn'])
@pytest.mark.parametrize('cfg_name', ['pose', 'seg', 'cls'])
def test_init_model_speed_switches_keep_the_results(ckpts, cfg_name, fuse_bn):
    """fuse_bn (or 'onednn') + channels_last (the eager speed switches) predict what the plain
    model does."""
    from hrnet_train.models.layers.onednn_conv import OneDNNConv2d, onednn_available
    from hrnet_train.models.utils import count_batchnorms
    if fuse_bn == 'onednn' and not onednn_available()[0]:
        pytest.skip(f'no fused oneDNN kernel: {onednn_available()[1]}')
    cfg = dict(pose=POSE_CFG, seg=SEG_CFG, cls=CLS_CFG)[cfg_name]
    plain = init_model(str(cfg), str(ckpts[cfg_name]))
    fast = init_model(str(cfg), str(ckpts[cfg_name]), fuse_bn=fuse_bn, channels_last=True)
    assert count_batchnorms(plain) > 0 and count_batchnorms(fast) == 0
    packed = sum(isinstance(m, OneDNNConv2d) for m in fast.modules())
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in plain.modules())
    assert packed == (convs if fuse_bn == 'onednn' else 0)
    assert next(fast.backbone.parameters()).is_contiguous(memory_format=torch.channels_last)
    if cfg_name == 'pose':
        boxes = np.array([[280, 45, 500, 380]], np.float32)
        a, = inference_topdown(plain, IMG_785, boxes)
        b, = inference_topdown(fast, IMG_785, boxes)
        np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-3)
        np.testing.assert_allclose(b.keypoint_scores, a.keypoint_scores, rtol=1e-4, atol=1e-6)
    elif cfg_name == 'seg':
        a, b = inference_segmentor(plain, FRAME), inference_segmentor(fast, FRAME)
        assert (a.label_map == b.label_map).mean() > 0.999
    else:
        a = inference_classifier(plain, IMG_785)
        b = inference_classifier(fast, IMG_785)
        np.testing.assert_allclose(b.scores, a.scores, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('fuse_bn', [False, True, 'onednn'])
def test_init_model_logs_what_the_speed_switch_did(ckpts, monkeypatch, fuse_bn):
    """The folding / packing line tools/test.py logs comes from init_model too (the demo's
    only confirmation of --fuse-bn / --onednn), and nothing without a switch."""
    from hrnet_train.models.layers.onednn_conv import OneDNNConv2d, onednn_available
    from hrnet_train.models.utils import count_batchnorms
    if fuse_bn == 'onednn' and not onednn_available()[0]:
        pytest.skip(f'no fused oneDNN kernel: {onednn_available()[1]}')
    lines = []
    monkeypatch.setattr(_inference_module(), 'print_log', lambda msg, **kw: lines.append(msg))
    model = init_model(str(POSE_CFG), str(ckpts['pose']), fuse_bn=fuse_bn)
    if fuse_bn is False:
        assert lines == []
        return
    norms = count_batchnorms(init_model(str(POSE_CFG), str(ckpts['pose'])))
    assert len(lines) == 1 and lines[0].startswith(f'fuse_bn: folded {norms}/{norms} BatchNorm')
    packed = sum(isinstance(m, OneDNNConv2d) for m in model.modules())
    assert (f'onednn: {packed} convolutions prepacked' in lines[0]) == (fuse_bn == 'onednn')
    assert (packed > 0) == (fuse_bn == 'onednn')


def test_inference_errors_are_one_line(ckpts, tmp_path):
    with pytest.raises(ValueError, match="fuse_bn='onednn' and compile are two ways"):
        init_model(str(POSE_CFG), str(ckpts['pose']), fuse_bn='onednn', compile=True)
    with pytest.raises(ValueError, match="fuse_bn must be True, False or 'onednn', got 'on'"):
        init_model(str(POSE_CFG), str(ckpts['pose']), fuse_bn='on')
    model = init_model(str(POSE_CFG), str(ckpts['pose']))
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8 RGB array, got float32 \(5, 5\)'):
        inference_topdown(model, np.zeros((5, 5), np.float32))
    with pytest.raises(DataError, match='image file not found: .*nope.jpg'):
        inference_topdown(model, str(tmp_path / 'nope.jpg'))
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'not an image')
    with pytest.raises(DataError, match=r'could not decode image file .*bad.jpg'):
        inference_topdown(model, [IMG_785, str(bad)])
    with pytest.raises(ValueError, match='inference_segmentor needs a seg model, got '
                                         'TopdownPoseEstimator'):
        inference_segmentor(model, IMG_785)


# ------------------------------------------------------------------------------ seg
def test_inference_segmentor_on_the_real_frame(ckpts):
    model = init_model(str(SEG_CFG), str(ckpts['seg']))
    out = inference_segmentor(model, FRAME)
    assert isinstance(out, SegResult)
    assert out.label_map.shape == (128, 256) and out.label_map.dtype == np.int64
    assert out.class_names[:2] == ('road', 'sidewalk') and len(out.class_names) == 19
    assert 0 <= out.label_map.min() and out.label_map.max() < 19
    assert sum(out.class_pixels().values()) == 128 * 256
    assert torch.equal(out.pred_seg_map, torch.from_numpy(out.label_map))  # earlier API
    # a 2x upsampled copy: the label map comes back at the input size
    big = cv2.resize(cv2.imread(FRAME), (512, 256), interpolation=cv2.INTER_LINEAR)
    assert inference_segmentor(model, big, channel_order='bgr').label_map.shape == (256, 512)
    batched = inference_segmentor(model, [FRAME, FRAME[:]])
    for b in batched:
        np.testing.assert_array_equal(b.label_map, out.label_map)
    d = out.to_dict()
    assert d['height'] == 128 and sum(p['pixels'] for p in d['present']) == 128 * 256


# ------------------------------------------------------------------------------ det
def test_inference_detector_on_real_images(ckpts):
    model = init_model(str(DET_CFG), str(ckpts['det']))
    out = inference_detector(model, IMG_785)
    assert isinstance(out, DetResult) and out.class_names == ('person',)
    n = len(out.scores)
    assert n > 0 and out.bboxes.shape == (n, 4) and out.labels.shape == (n,)
    assert (np.diff(out.scores) <= 0).all()  # best first
    assert set(out.names) == {'person'}
    # xyxy in original pixels of the 640 x 425 image (the model saw it at 482 x 320)
    assert (out.bboxes[:, 0] >= 0).all() and (out.bboxes[:, 2] <= 640 + 1e-3).all()
    assert (out.bboxes[:, 1] >= 0).all() and (out.bboxes[:, 3] <= 425 + 1e-3).all()
    assert (out.bboxes[:, 2] >= out.bboxes[:, 0]).all()
    rgb = cv2.cvtColor(cv2.imread(IMG_785), cv2.COLOR_BGR2RGB)
    # Rescaled back to the original pixels: the image resized as the pipeline does (to 482 x 320,
    # which the pipeline then keeps) gives the same boxes in its own pixels.
    small = cv2.resize(rgb, (482, 320), interpolation=cv2.INTER_LINEAR)
    got = inference_detector(model, small)
    scale = np.array([640 / 482, 425 / 320] * 2, np.float32)
    np.testing.assert_allclose(got.bboxes * scale, out.bboxes, rtol=1e-3, atol=0.05)
    batched = inference_detector(model, [IMG_785, rgb])  # same size: same padding
    for b in batched:
        np.testing.assert_allclose(b.bboxes, out.bboxes, atol=1e-3)
        np.testing.assert_allclose(b.scores, out.scores, atol=1e-5)


# ------------------------------------------------------------------------------ cls
def test_inference_classifier_top_k(ckpts):
    model = init_model(str(CLS_CFG), str(ckpts['cls']))
    crops = sorted(str(p) for p in (ROOT / 'data/cls_tiny/val').glob('*/*'))[:3]
    out = inference_classifier(model, crops, topk=2)
    assert len(out) == 3 and all(isinstance(r, ClsResult) for r in out)
    for path, r in zip(crops, out):
        assert r.indices.shape == (2,) and r.scores.shape == (2,)
        assert r.names == [CLS_CLASSES[i] for i in r.indices]
        assert r.scores[0] >= r.scores[1] > 0
        full = inference_classifier(model, path, topk=10)  # topk above C: all 3 classes
        assert sorted(full.indices.tolist()) == [0, 1, 2]
        assert full.scores.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(full.scores[:2], r.scores, atol=1e-5)  # batched == alone
    assert inference(model, crops[0], topk=1).names == out[0].names[:1]
