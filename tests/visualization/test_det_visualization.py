"""draw_detections pixels and DetVisualizationHook with a stand-in runner."""
import logging
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement, InstanceData

from hrnet_train.datasets.coco_detection import make_palette
from hrnet_train.registry import HOOKS
from hrnet_train.visualization.det import draw_detections
from hrnet_train.visualization.det_vis_hook import DetVisualizationHook

RED, BLUE = (255, 0, 0), (0, 0, 255)


def test_box_outline_on_the_pixels_the_box_covers():
    img = np.full((60, 80, 3), 7, np.uint8)
    # continuous [10, 30) x [20, 45): pixel columns 10..29, rows 20..44
    out = draw_detections(img, np.array([[10., 20., 30., 45.]]), np.array([1]), np.array([0.9]),
                          ('cat', 'dog'), palette=[RED, BLUE], thickness=1)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (img == 7).all()  # input untouched
    for x, y in [(10, 20), (29, 20), (10, 44), (29, 44), (10, 32), (29, 32), (20, 44)]:
        assert out[y, x].tolist() == list(BLUE), (x, y)
    for x, y in [(9, 32), (30, 32), (20, 45), (11, 32), (28, 32), (20, 30)]:  # just outside/in
        assert out[y, x].tolist() == [7, 7, 7], (x, y)
    # the 'dog 0.90' label sits on a blue rectangle just above the box, from its left edge
    (text_w, text_h), baseline = cv2.getTextSize('dog 0.90', cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    label = out[20 - text_h - baseline:20, 10:10 + text_w]
    assert label.shape[:2] == (text_h + baseline, text_w)
    # white text anti-aliased on blue: every pixel is (v, v, 255), mostly pure blue
    assert (label[..., 2] == 255).all() and (label[..., 0] == label[..., 1]).all()
    assert (label[..., 0] > 200).any() and (label == BLUE).all(-1).mean() > 0.5
    assert out[20 - text_h - baseline - 1, 12].tolist() == [7, 7, 7]
    assert out[10, 10 + text_w].tolist() == [7, 7, 7]


def test_score_threshold_palette_default_and_label_inside_at_the_top():
    img = np.zeros((40, 40, 3), np.uint8)
    boxes = np.array([[0., 0., 20., 30.], [22., 22., 38., 38.]])
    out = draw_detections(img, torch.tensor(boxes), torch.tensor([0, 0]),
                          torch.tensor([0.95, 0.25]), ('person',), thickness=1)
    color = list(make_palette(1)[0])
    assert out[25, 0].tolist() == color  # left edge of box 0, below its label
    assert not out[22:, 22:].any()  # score 0.25 is below score_thr 0.3
    # no room above a box at y = 0: the label fills the top rows inside it
    assert out[1, 1].tolist() in (color, [255, 255, 255]) and out[1, 1].any()
    shown = draw_detections(img, boxes, [0, 0], [0.95, 0.25], ('person',), score_thr=0.2)
    assert shown[22:, 22:].any()


def test_bad_input():
    img = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match='img'):
        draw_detections(img.astype(np.float32), np.zeros((0, 4)), [], [], ('a',))
    with pytest.raises(ValueError, match='labels: 2 is outside'):
        draw_detections(img, [[0, 0, 5, 5]], [2], [1.0], ('a', 'b'))
    with pytest.raises(ValueError, match='disagree'):
        draw_detections(img, [[0, 0, 5, 5]], [0, 0], [1.0], ('a',))
    with pytest.raises(ValueError, match='palette'):
        draw_detections(img, [[0, 0, 5, 5]], [1], [1.0], ('a', 'b'), palette=[RED])
    assert (draw_detections(img, np.zeros((0, 4)), [], [], ('a',)) == 0).all()


# ---------------------------------------------------------------------------- the hook
def _image(tmp_path, name='frame.png', folder='imgs'):
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((50, 70, 3), 40, np.uint8))
    return str(path)


def _runner(work_dir, meta=None):
    meta = dict(classes=('cat', 'dog'), palette=[RED, BLUE]) if meta is None else meta
    loader = SimpleNamespace(dataset=SimpleNamespace(metainfo=meta))
    return SimpleNamespace(work_dir=str(work_dir), iter=0, epoch=3, _train_loop=None,
                           logger=logging.getLogger('test_det_vis_hook'),
                           val_dataloader=loader, test_dataloader=loader)


def _sample(path, boxes=((5., 6., 25., 36.),), labels=(0,), scores=(0.8,)):
    pred = InstanceData(bboxes=torch.tensor(boxes), labels=torch.tensor(labels),
                        scores=torch.tensor(scores))
    return BaseDataElement(metainfo=dict(img_path=path, img_id=1), pred_instances=pred)


def _run(hook, runner, phase, batches):
    getattr(hook, f'before_{phase}_epoch')(runner)
    for i, batch in enumerate(batches):
        getattr(hook, f'after_{phase}_iter')(runner, i, None, batch)
    getattr(hook, f'after_{phase}_epoch')(runner, {})


def test_hook_writes_the_drawn_predictions(tmp_path):
    path = _image(tmp_path)
    hook = HOOKS.build(dict(type='DetVisualizationHook', score_thr=0.5))
    _run(hook, _runner(tmp_path), 'test', [[_sample(path)]])
    out = tmp_path / 'vis' / 'test' / 'frame.png'
    assert hook.last_out_dir == str(tmp_path / 'vis' / 'test')
    written = cv2.imread(str(out))[..., ::-1]
    expected = draw_detections(np.full((50, 70, 3), 40, np.uint8), [[5., 6., 25., 36.]], [0],
                               [0.8], ('cat', 'dog'), palette=[RED, BLUE])
    np.testing.assert_array_equal(written, expected)
    assert written[20, 5].tolist() == list(RED)  # left edge of the box, class 0 colour


def test_hook_tags_limits_and_repeated_names(tmp_path):
    from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
    a, b = _image(tmp_path, folder='x'), _image(tmp_path, folder='y')  # same file name
    runner = _runner(tmp_path)
    runner._train_loop = EpochBasedTrainLoop.__new__(EpochBasedTrainLoop)  # type is what counts
    hook = DetVisualizationHook(max_images=3, phases=('val',))
    _run(hook, runner, 'val', [[_sample(a), _sample(b)], [_sample(a), _sample(b)]])
    names = sorted(p.name for p in (tmp_path / 'vis' / 'val_epoch3').iterdir())
    assert names == ['frame.png', 'frame_1.png', 'frame_2.png']  # first 3 images only
    runner._train_loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    runner.iter = 500
    _run(hook, runner, 'val', [[_sample(a)]])
    assert (tmp_path / 'vis' / 'val_iter500' / 'frame.png').is_file()
    _run(hook, runner, 'test', [[_sample(a)]])  # not in phases
    assert not (tmp_path / 'vis' / 'test').exists()


def test_hook_without_classes_or_images_writes_nothing(tmp_path, monkeypatch):
    path = _image(tmp_path)
    _run(DetVisualizationHook(), _runner(tmp_path, meta={}), 'test', [[_sample(path)]])
    _run(DetVisualizationHook(max_images=0), _runner(tmp_path), 'test', [[_sample(path)]])
    assert not (tmp_path / 'vis').exists()
    import hrnet_train.visualization.eval_image_hook as module
    monkeypatch.setattr(module, 'is_main_process', lambda: False)  # another rank
    _run(DetVisualizationHook(), _runner(tmp_path), 'test', [[_sample(path)]])
    assert not (tmp_path / 'vis').exists()
    with pytest.raises(ValueError, match='phases'):
        DetVisualizationHook(phases=('train',))
