"""ONNX parity on the bundled real images: the exported graph (BN folded, decoding inside) gives
PyTorch's predictions."""
import copy
import json
import warnings

import numpy as np
import pytest
import torch

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')

from hrnet_train.apis import inference_topdown, init_model  # noqa: E402
from hrnet_train.datasets.transforms.loading import read_image  # noqa: E402
from hrnet_train.deploy import build_export_module, export_onnx  # noqa: E402
from hrnet_train.deploy.runtime import (  # noqa: E402
    load_session,
    prepare_input,
    run_image,
    run_session,
)
from hrnet_train.utils.errors import ConfigError, DataError  # noqa: E402

COCO_IMG = 'data/coco_tiny/val2017/000000000785.jpg'
COCO_BOX = (280.79, 44.73, 280.79 + 218.7, 44.73 + 346.68)  # its annotated person, xyxy
CITY_IMG = 'data/cityscapes_tiny/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png'
CLS_IMG_DIR = 'data/cls_tiny/val'


def _field(result, *names):
    """The first of ``names`` that ``result`` (an apis result object) has, as numpy."""
    for name in names:
        if hasattr(result, name):
            value = getattr(result, name)
            return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)
    raise AttributeError(f'{type(result).__name__} has none of {names}')


def _pose_batch(model, session):
    """The crops of the four annotated people of the first two images, (4, 3, 128, 96)."""
    with open('data/coco_tiny/annotations/test_coco.json') as f:
        coco = json.load(f)
    files = {im['id']: im['file_name'] for im in coco['images']}
    crops, boxes = [], []
    for ann in coco['annotations'][:4]:
        x, y, w, h = ann['bbox']
        img = read_image(f"data/coco_tiny/val2017/{files[ann['image_id']]}")
        batch, info = prepare_input(session, model.cfg, img, bbox=(x, y, x + w, y + h))
        crops.append(batch)
        boxes.append(info['warp_matrix'])
    return np.concatenate(crops), boxes


@pytest.fixture(scope='module')
def pose_model(tiny_checkpoints):
    config, ckpt = tiny_checkpoints['pose']
    return init_model(config, ckpt)


@pytest.mark.parametrize('codec', ['msra', 'dark', 'udp'])
@pytest.mark.parametrize('flip_test', [False, True])
def test_pose_keypoints_match_pytorch_decode(pose_model, tmp_path, codec, flip_test):
    model = copy.deepcopy(pose_model)
    if codec != 'msra':
        from hrnet_train.codecs import MSRAHeatmap, UDPHeatmap
        c = model.codec
        model.codec = (MSRAHeatmap(c.input_size, c.heatmap_size, c.sigma, unbiased=True)
                       if codec == 'dark' else UDPHeatmap(c.input_size, c.heatmap_size, c.sigma))
    model.test_cfg['flip_test'] = flip_test
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        path = export_onnx(model, str(tmp_path / 'pose.onnx'), input_shape=(128, 96),
                           dynamic_batch=True, flip_test=flip_test)
    assert not [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    session = load_session(path)
    crops, _ = _pose_batch(model, session)
    out = run_session(session, crops)
    assert out['keypoints'].shape == (4, 17, 2) and out['scores'].shape == (4, 17)
    inputs = model.data_preprocessor({'inputs': list(torch.from_numpy(crops))}, False)['inputs']
    heatmaps = model.predict_heatmaps(inputs, model.dataset_meta['flip_indices'])
    ref_kpts, ref_scores = model.codec.decode_batch(heatmaps.numpy())
    err = np.abs(out['keypoints'] - ref_kpts).max(-1)  # (N, K) input pixels
    if codec == 'msra':  # argmax + quarter steps: exact everywhere
        assert err.max() < 0.01, err.max()
    else:
        # The random-init heatmaps are nearly flat, where the DARK/UDP Newton step is
        # ill-conditioned: numpy's own decode moves by 2e-3 px when the heatmaps change by
        # 4e-9 (BN folding), with steps up to 6 heatmap px. Compare where the step is that of a
        # peak (<= 1 heatmap px); MSRA above and tests/deploy/test_decode_graph.py cover the rest.
        idx = heatmaps.flatten(2).argmax(2).numpy()  # (N, K), heatmaps are 32 x 24
        argmax = np.stack([idx % 24, idx // 24], -1)
        step = np.abs(ref_kpts / model.codec.stride - argmax).max(-1)
        peak = step <= 1.0
        assert peak.mean() > 0.3
        assert err[peak].max() < 0.01, err[peak].max()
    np.testing.assert_allclose(out['scores'], ref_scores, atol=1e-4, rtol=1e-3)


def test_pose_runtime_matches_inference_topdown_in_image_pixels(pose_model, tmp_path):
    model = copy.deepcopy(pose_model)  # test_cfg flip_test=True, as the quickstart config
    path = export_onnx(model, str(tmp_path / 'pose.onnx'), input_shape=(128, 96),
                       flip_test=True)
    result = run_image(load_session(path), model.cfg, COCO_IMG, bbox=COCO_BOX)
    ref = inference_topdown(model, COCO_IMG, [COCO_BOX])[0]
    ref_kpts, ref_scores = (_field(ref, 'keypoints', 'pred_keypoints'),
                            _field(ref, 'keypoint_scores', 'pred_keypoint_scores'))
    err = np.abs(result['keypoints'] - ref_kpts).max()
    assert err < 0.01, err
    np.testing.assert_allclose(result['scores'], ref_scores, atol=1e-4)
    # keypoints lie in the box region (padding 1.25), not at the crop origin
    assert (result['keypoints'][:, 0] > COCO_BOX[0] - 60).all()


def test_dynamic_batch_equals_single_runs(pose_model, tmp_path):
    path = export_onnx(pose_model, str(tmp_path / 'pose.onnx'), input_shape=(128, 96),
                       dynamic_batch=True)
    session = load_session(path)
    crops, _ = _pose_batch(pose_model, session)
    both = run_session(session, crops[:2])
    for i in range(2):
        single = run_session(session, crops[i:i + 1])
        np.testing.assert_allclose(both['keypoints'][i], single['keypoints'][0], atol=1e-5)
        np.testing.assert_allclose(both['scores'][i], single['scores'][0], atol=1e-6)
    static = load_session(export_onnx(pose_model, str(tmp_path / 'static.onnx'),
                                      input_shape=(128, 96)))
    with pytest.raises(DataError, match='fixed batch 1'):
        run_session(static, crops[:2])
    with pytest.raises(DataError, match='fixed height 128'):
        run_session(static, crops[:1, :, :100])
    with pytest.raises(DataError, match='fixed channels 3'):
        run_session(static, crops[:1, :1])


def test_seg_labels_match_pytorch(tiny_checkpoints, tmp_path):
    config, ckpt = tiny_checkpoints['seg']
    model = init_model(config, ckpt)
    path = export_onnx(model, str(tmp_path / 'seg.onnx'), input_shape=(128, 256),
                       with_probs=True)
    session = load_session(path)
    batch, info = prepare_input(session, model.cfg, read_image(CITY_IMG))
    assert info['img_shape'] == (128, 256)  # the bundled frame is already at the test size
    out = run_session(session, batch)
    assert out['labels'].shape == (1, 128, 256) and out['labels'].dtype == np.int64
    with torch.no_grad():
        x = model.data_preprocessor({'inputs': list(torch.from_numpy(batch))}, False)['inputs']
        logits = model.inference(x)[0]  # (C, H, W)
    top2 = logits.topk(2, dim=0).values
    decided = (top2[0] - top2[1] > 1e-4).numpy()
    assert decided.mean() > 0.99
    ref = logits.argmax(0).numpy()
    assert (out['labels'][0][decided] == ref[decided]).all()
    assert len(np.unique(ref)) > 1  # not a constant map
    np.testing.assert_allclose(out['probs'][0], logits.softmax(0).numpy(), atol=1e-3)
    # the runner's label map at the image size equals the PyTorch prediction
    from hrnet_train.apis import inference_segmentor
    pred = np.asarray(_field(inference_segmentor(model, CITY_IMG), 'seg_map', 'pred_seg_map'))
    result = run_image(session, model.cfg, CITY_IMG)
    assert (result['labels'][decided] == pred[decided]).all()


def test_cls_topk_match_pytorch(tiny_checkpoints, tmp_path):
    import glob
    config, ckpt = tiny_checkpoints['cls']
    model = init_model(config, ckpt)
    path = export_onnx(model, str(tmp_path / 'cls.onnx'), input_shape=(64, 64), topk=3,
                       dynamic_batch=True)
    session = load_session(path)
    files = sorted(glob.glob(f'{CLS_IMG_DIR}/*/*'))[::5][:4]
    batch = np.concatenate([prepare_input(session, model.cfg, read_image(f))[0]
                            for f in files])
    out = run_session(session, batch)
    with torch.no_grad():
        x = model.data_preprocessor({'inputs': list(torch.from_numpy(batch))}, False)['inputs']
        probs = model.predict(x)
    ref = torch.stack([p.pred_score for p in probs])  # (N, C)
    ref_scores, ref_idx = ref.topk(3, dim=1)
    np.testing.assert_array_equal(out['topk_indices'], ref_idx.numpy())
    np.testing.assert_allclose(out['topk_scores'], ref_scores.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(out['topk_scores'].sum(1), 1.0, atol=1e-5)  # 3 of 3 classes


def test_export_errors(tiny_checkpoints, tmp_path):
    config, ckpt = tiny_checkpoints['cls']
    model = init_model(config, ckpt)
    with pytest.raises(ConfigError, match=r'--topk must be in \[1, 3\]'):
        build_export_module(model, topk=5)
    with pytest.raises(ConfigError, match='cannot export a Linear'):
        build_export_module(torch.nn.Linear(2, 2))


def test_detection_dispatch(monkeypatch):
    from hrnet_train.deploy import export as export_mod
    model = init_model('configs/det/faster-rcnn_hrnetv2p-w18-small_coco-tiny_quickstart.py')
    monkeypatch.setattr(export_mod, '_DET_EXPORT', '/nonexistent/det_export.py')
    with pytest.raises(ConfigError, match='detection export is provided by '
                       'hrnet_train/deploy/det_export.py'):
        build_export_module(model)
    monkeypatch.undo()
    if export_mod.os.path.isfile(export_mod._DET_EXPORT):  # the detection helper's module
        module = build_export_module(model, score_thr=0.3, max_per_img=10)
        assert type(module).__name__ == 'DetExportModule' and module.task == 'det'
