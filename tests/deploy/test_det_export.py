"""ONNX export of Faster / Cascade R-CNN with post-processing in the graph
(hrnet_train/deploy/det_export.py): onnxruntime against ``model.predict`` on the bundled real
COCO images, the in-graph NMS and RoiAlign against hrnet_train.ops, and the empty case."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import BaseDataElement

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')

from hrnet_train.deploy.det_export import (  # noqa: E402
    DetExportModule,
    _RoiAlignOp,
    batched_nms_graph,
    export_detector_onnx,
    map_roi_levels_graph,
    run_detector_onnx,
)
from hrnet_train.models.roi_heads.roi_extractor import map_roi_levels  # noqa: E402
from hrnet_train.ops import batched_nms, roi_align  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / 'configs/det/faster-rcnn_hrnetv2p-w18-small_coco-tiny_quickstart.py'
CASCADE_BASE = ROOT / 'configs/_base_/models/cascade-rcnn_hrnetv2p-w32.py'
IMAGES = ['000000000785.jpg', '000000040083.jpg', '000000196141.jpg', '000000197388.jpg']
HW = (320, 512)  # the quickstart test pipeline's Resize(scale=(512, 320), keep_ratio=True) fits


def _session(path):
    return ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])


def _spread_heads(model, seed=0):
    """Random init gives objectness / class scores all ~0.5 (std 0.01 heads); wider weights
    spread them, so the kept set does not hinge on 1e-6 score differences."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = model.rpn_head.rpn_cls.weight
        w.copy_(torch.randn(w.shape, generator=gen))
        for head in model.bbox_heads:
            w = head.fc_cls.weight
            w.copy_(torch.randn(w.shape, generator=gen) * 0.3)
    return model.eval()


def _build(cfg_model):
    from hrnet_train.registry import MODELS
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    return _spread_heads(MODELS.build(cfg_model))


@pytest.fixture(scope='module')
def faster():
    return _build(Config.fromfile(str(QUICKSTART)).model)


@pytest.fixture(scope='module')
def coco_inputs():
    """The four images through the quickstart's LoadImage + Resize, on a (320, 512) canvas."""
    from hrnet_train.registry import TRANSFORMS
    from hrnet_train.utils import register_all_modules
    register_all_modules()
    load = TRANSFORMS.build(dict(type='LoadImage'))
    resize = TRANSFORMS.build(dict(type='Resize', scale=(512, 320), keep_ratio=True))
    out = []
    for name in IMAGES:
        res = resize(load(dict(img_path=str(ROOT / 'data/coco_tiny/val2017' / name))))
        img = res['img']
        canvas = torch.zeros(1, 3, *HW)
        canvas[0, :, :img.shape[0], :img.shape[1]] = torch.from_numpy(
            np.ascontiguousarray(img.transpose(2, 0, 1))).float()
        out.append(canvas)
    return out


def _predict(model, image, score_thr, max_per_img=100):
    """``model.predict`` on (1, 3, H, W) RGB 0..255 through the model's data preprocessor."""
    h, w = image.shape[-2:]
    model.roi_head.test_cfg.update(score_thr=score_thr, max_per_img=max_per_img)
    sample = BaseDataElement(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                           scale_factor=(1.0, 1.0)))
    data = model.data_preprocessor(dict(inputs=[image[0]], data_samples=[sample]), False)
    pred = model.predict(data['inputs'], data['data_samples'])[0].pred_instances
    return pred.bboxes.numpy(), pred.scores.numpy(), pred.labels.numpy()


def _iou(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def _assert_same_detections(onnx_out, torch_out):
    """Same kept set (count, labels; matched by IoU > 0.999 within a label), boxes within
    1e-3 px, scores within 1e-4."""
    (ob, os_, ol), (tb, ts, tl) = onnx_out, torch_out
    assert ob.shape == tb.shape and os_.shape == ts.shape and ol.shape == tl.shape
    assert ob.dtype == np.float32 and os_.dtype == np.float32 and ol.dtype == np.int64
    assert np.all(np.diff(os_) <= 0)  # by decreasing score
    if len(tb) == 0:
        return
    iou = np.where(tl[:, None] == ol[None], _iou(tb, ob), -1.0)
    match = iou.argmax(axis=1)
    assert len(set(match.tolist())) == len(tb)
    assert np.all(iou[np.arange(len(tb)), match] > 0.999)
    assert np.abs(ob[match] - tb).max() < 1e-3
    assert np.abs(os_[match] - ts).max() < 1e-4


def _op_types(path):
    import onnx
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_faster_rcnn_onnx_matches_predict_on_coco_images(faster, coco_inputs, tmp_path):
    path = export_detector_onnx(faster, tmp_path / 'faster.onnx', input_hw=HW, score_thr=0.3,
                                max_per_img=100, opset=17)
    ops = _op_types(path)
    assert {'NonMaxSuppression', 'RoiAlign', 'TopK'} <= ops
    assert 'EmbeddingBag' not in ops and 'Loop' not in ops
    sess = _session(path)
    counts = []
    for image in coco_inputs:
        onnx_out = run_detector_onnx(sess, image)
        torch_out = _predict(faster, image, 0.3)
        _assert_same_detections(onnx_out, torch_out)
        counts.append(len(torch_out[0]))
        boxes = onnx_out[0]
        assert np.all(boxes >= 0) and np.all(boxes[:, 2] <= HW[1]) and np.all(boxes[:, 3] <= HW[0])
        assert np.all(onnx_out[2] == 0)  # one class
    assert min(counts) > 10  # the comparison is not vacuous


def test_export_module_matches_predict_in_pytorch(faster, coco_inputs):
    """The export-only path itself (eager, before ONNX) gives predict's numbers exactly."""
    image = coco_inputs[0]
    with torch.no_grad():
        boxes, scores, labels = DetExportModule(faster, score_thr=0.3, max_per_img=100)(image)
    tb, ts, tl = _predict(faster, image, 0.3)
    assert len(tb) > 10
    np.testing.assert_array_equal(boxes.numpy(), tb)
    np.testing.assert_array_equal(scores.numpy(), ts)
    np.testing.assert_array_equal(labels.numpy(), tl)


def test_no_detection_gives_empty_outputs(faster, coco_inputs, tmp_path):
    path = export_detector_onnx(faster, tmp_path / 'strict.onnx', input_hw=HW, score_thr=0.9999,
                                max_per_img=100)
    boxes, scores, labels = run_detector_onnx(_session(path), coco_inputs[1])
    assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)
    assert boxes.dtype == np.float32 and labels.dtype == np.int64
    assert _predict(faster, coco_inputs[1], 0.9999)[0].shape == (0, 4)


def _candidates(model, image, score_thr):
    """Number of (RoI, class) pairs above ``score_thr`` before the R-CNN NMS."""
    mod = DetExportModule(model, score_thr=score_thr)
    with torch.no_grad():
        feats = model.extract_feat(mod.preprocess(image))
        boxes = mod.proposals(feats, HW)
        cls_score, _ = model.bbox_heads[0](mod.roi_features(0, feats, boxes))
    return int((cls_score.softmax(-1)[:, :-1] > score_thr).sum())


@pytest.mark.slow
def test_multiclass_faster_rcnn_both_nms_strategies(coco_inputs, tmp_path):
    """4 classes: > 1000 candidates (one NMS per class) and <= 1000 (offset trick), and an RPN
    with <= 1000 candidates (nms_pre 100 on 5 levels: offset trick over the levels)."""
    cfg = Config.fromfile(str(QUICKSTART)).model
    cfg.roi_head.bbox_head.num_classes = 4
    model = _build(cfg)
    image = coco_inputs[2]
    assert _candidates(model, image, 0.0) > 1000 and _candidates(model, image, 0.2) <= 1000
    for thr in (0.0, 0.2):
        path = export_detector_onnx(model, tmp_path / f'four_{thr}.onnx', input_hw=HW,
                                    score_thr=thr, max_per_img=300)
        onnx_out = run_detector_onnx(_session(path), image)
        torch_out = _predict(model, image, thr, 300)
        _assert_same_detections(onnx_out, torch_out)
        assert len(torch_out[0]) > 20 and len(set(torch_out[2].tolist())) >= 2
    model.rpn_head.test_cfg['nms_pre'] = 100
    path = export_detector_onnx(model, tmp_path / 'rpn100.onnx', input_hw=HW, score_thr=0.2,
                                max_per_img=100)
    torch_out = _predict(model, image, 0.2)
    assert len(torch_out[0]) > 20
    _assert_same_detections(run_detector_onnx(_session(path), image), torch_out)


def test_cascade_rcnn_onnx_matches_predict(coco_inputs, tmp_path):
    cfg = Config.fromfile(str(CASCADE_BASE)).model
    cfg.backbone.update(arch='w18-small-v1', init_cfg=None)
    cfg.neck.out_channels = 64
    cfg.rpn_head.feat_channels = 64
    cfg.roi_head.bbox_roi_extractor.out_channels = 64
    for head in cfg.roi_head.bbox_head:
        head.update(in_channels=64, fc_out_channels=256, num_classes=3)
    cfg.test_cfg.rpn.update(nms_pre=500, max_per_img=300)
    model = _build(cfg)
    assert type(model).__name__ == 'CascadeRCNN' and len(model.bbox_heads) == 3
    path = export_detector_onnx(model, tmp_path / 'cascade.onnx', input_hw=HW, score_thr=0.2,
                                max_per_img=100)
    sess = _session(path)
    for image in coco_inputs[:2]:
        torch_out = _predict(model, image, 0.2)
        assert len(torch_out[0]) > 10
        _assert_same_detections(run_detector_onnx(sess, image), torch_out)


class _NMSModule(torch.nn.Module):
    def __init__(self, num_groups):
        super().__init__()
        self.num_groups = num_groups

    def forward(self, boxes, scores, idxs):
        return batched_nms_graph(boxes, scores, idxs, self.num_groups, 0.5)


def _random_boxes(n, gen):
    xy = torch.rand(n, 2, generator=gen) * 200
    wh = torch.rand(n, 2, generator=gen) * 60 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_batched_nms_graph_matches_ops_in_both_regimes(tmp_path):
    """One graph, dynamic N: 300 boxes take the offset trick, 1500 one NMS per group, as
    hrnet_train.ops.batched_nms (same kept indices, same order)."""
    gen = torch.Generator().manual_seed(0)
    n0 = 300
    args = (_random_boxes(n0, gen), torch.rand(n0, generator=gen),
            torch.randint(0, 3, (n0,), generator=gen))
    path = tmp_path / 'nms.onnx'
    torch.onnx.export(_NMSModule(3), args, str(path), input_names=['boxes', 'scores', 'idxs'],
                      output_names=['keep'], opset_version=17, dynamo=False,
                      dynamic_axes={'boxes': {0: 'n'}, 'scores': {0: 'n'}, 'idxs': {0: 'n'},
                                    'keep': {0: 'd'}})
    sess = _session(path)
    for n in (0, 7, 300, 1500):
        boxes, scores = _random_boxes(n, gen), torch.rand(n, generator=gen)
        idxs = torch.randint(0, 3, (n,), generator=gen)
        expected = batched_nms(boxes, scores, idxs, 0.5)
        eager = batched_nms_graph(boxes, scores, idxs, 3, 0.5)
        (got,) = sess.run(None, dict(boxes=boxes.numpy(), scores=scores.numpy(),
                                     idxs=idxs.numpy()))
        np.testing.assert_array_equal(eager.numpy(), expected.numpy())
        np.testing.assert_array_equal(got, expected.numpy())
        assert n < 300 or 0 < len(got) < n  # something suppressed, something kept


class _RoiAlignModule(torch.nn.Module):
    def __init__(self, sampling_ratio, aligned):
        super().__init__()
        self.sampling_ratio, self.aligned = sampling_ratio, aligned

    def forward(self, feat, boxes, batch_indices):
        return _RoiAlignOp.apply(feat, boxes, batch_indices, (7, 7), 0.25, self.sampling_ratio,
                                 self.aligned)


@pytest.mark.parametrize('sampling_ratio,aligned', [(0, True), (2, True), (2, False), (0, False)])
def test_onnx_roi_align_matches_ops(tmp_path, sampling_ratio, aligned):
    """onnxruntime RoiAlign (half_pixel / output_half_pixel, adaptive sampling_ratio=0) against
    hrnet_train.ops.roi_align, RoIs partly or wholly outside the map, smaller than a feature
    pixel, and empty."""
    gen = torch.Generator().manual_seed(1)
    feat = torch.randn(2, 5, 20, 24, generator=gen)
    xy = torch.rand(40, 2, generator=gen) * 110 - 10
    wh = torch.rand(40, 2, generator=gen) * torch.tensor([80.0, 60.0])
    wh[:5] = torch.rand(5, 2, generator=gen) * 3  # under one feature pixel
    wh[5, 0] = 0.0  # empty: no sample with the adaptive grid when aligned
    xy[6] = torch.tensor([-60.0, 150.0])  # wholly outside the map
    boxes = torch.cat([xy, xy + wh], dim=1)
    batch = torch.randint(0, 2, (40,), generator=gen)
    path = tmp_path / 'roi.onnx'
    torch.onnx.export(_RoiAlignModule(sampling_ratio, aligned), (feat, boxes, batch), str(path),
                      input_names=['feat', 'boxes', 'batch'], output_names=['out'],
                      opset_version=16, dynamo=False,
                      dynamic_axes={'boxes': {0: 'k'}, 'batch': {0: 'k'}, 'out': {0: 'k'}})
    (got,) = _session(path).run(None, dict(feat=feat.numpy(), boxes=boxes.numpy(),
                                           batch=batch.numpy()))
    expected = roi_align(feat, torch.cat([batch[:, None].float(), boxes], 1), 7,
                         spatial_scale=0.25, sampling_ratio=sampling_ratio, aligned=aligned)
    assert got.shape == (40, 5, 7, 7)
    np.testing.assert_allclose(got, expected.numpy(), rtol=0, atol=1e-5)


def test_map_roi_levels_graph():
    # sqrt(w h) 111.9 / 112 / 223.9 / 224 / 448 / 5000 -> 0, 1, 1, 2, 3, 3 (finest_scale 56)
    sides = torch.tensor([111.9, 112.0, 223.9, 224.0, 448.0, 5000.0])
    boxes = torch.stack([torch.zeros(6), torch.zeros(6), sides, sides], dim=1)
    assert map_roi_levels_graph(boxes, 4, finest_scale=56).tolist() == [0, 1, 1, 2, 3, 3]
    gen = torch.Generator().manual_seed(2)
    boxes = _random_boxes(2000, gen) * 5
    rois = torch.cat([torch.zeros(2000, 1), boxes], dim=1)
    for legacy in (False, True):
        np.testing.assert_array_equal(
            map_roi_levels_graph(boxes, 4, finest_scale=56, legacy=legacy).numpy(),
            map_roi_levels(rois, 4, finest_scale=56, legacy=legacy).numpy())
