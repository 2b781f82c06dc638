"""Box conventions: COCO xywh round trip, IoU by hand (numpy and torch), clip, flip."""
import numpy as np
import pytest
import torch

from hrnet_train.structures import (
    box_area,
    box_iou,
    boxes_to_center_scale,
    clip_boxes,
    flip_boxes,
    flip_keypoints,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def test_xywh_xyxy_round_trip():
    xywh = np.array([[10., 20., 30., 40.], [0., 0., 0.5, 0.25]], np.float32)
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_allclose(xyxy, [[10., 20., 40., 60.], [0., 0., 0.5, 0.25]])
    np.testing.assert_allclose(xyxy_to_xywh(xyxy), xywh)
    t = xywh_to_xyxy(torch.tensor(xywh))
    assert torch.is_tensor(t) and torch.allclose(t, torch.tensor(xyxy))
    with pytest.raises(ValueError, match=r'\(\.\.\., 4\)'):
        xywh_to_xyxy(np.zeros((2, 3)))


def test_box_iou_by_hand_numpy_and_torch():
    a = np.array([[0., 0., 10., 10.], [5., 5., 15., 15.]])
    b = np.array([[0., 0., 10., 10.], [10., 10., 20., 20.], [2., 2., 2., 8.]])
    expected = np.array([[1., 0., 0.], [25. / 175., 25. / 175., 0.]])
    np.testing.assert_allclose(box_iou(a, b), expected)
    t = box_iou(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(t.numpy(), expected)
    # an empty union gives 0, not NaN
    assert box_iou(np.zeros((1, 4)), np.zeros((1, 4)))[0, 0] == 0.0
    assert box_iou(torch.zeros(1, 4), torch.zeros(1, 4))[0, 0].item() == 0.0
    np.testing.assert_allclose(box_area(a), [100., 100.])


def test_clip_and_flip_boxes():
    boxes = np.array([[-5., 2., 30., 50.]], np.float32)
    np.testing.assert_allclose(clip_boxes(boxes, (20, 40)), [[0., 2., 20., 40.]])
    flipped = flip_boxes(boxes, 100)
    np.testing.assert_allclose(flipped, [[70., 2., 105., 50.]])  # x -> W - x, edges swapped
    np.testing.assert_allclose(flip_boxes(flipped, 100), boxes)
    center, scale = boxes_to_center_scale(np.array([10., 20., 40., 60.]), 1.25)
    np.testing.assert_allclose(center, [25., 40.])
    np.testing.assert_allclose(scale, [37.5, 50.])


def test_flip_keypoints_pixel_centre_convention():
    kpts = np.array([[0., 1.], [9., 2.], [3., 3.]], np.float32)
    out, vis = flip_keypoints(kpts, 10, flip_indices=[1, 0, 2], visible=np.array([1., 0., 1.]))
    # pixel 0 <-> pixel 9 of a 10-wide image; channels 0 and 1 swap
    np.testing.assert_allclose(out, [[0., 2.], [9., 1.], [6., 3.]])
    np.testing.assert_allclose(vis, [0., 1., 1.])
    with pytest.raises(ValueError, match='flip_indices has 2 entries'):
        flip_keypoints(kpts, 10, flip_indices=[1, 0])
