"""The exported seg runtime's probability maps -> label map at the image size."""
import cv2
import numpy as np

from hrnet_train.deploy.runtime import _seg_to_image


def _numpy_reference(probs: np.ndarray, img_hw, ori_hw) -> np.ndarray:
    probs = probs[:, :img_hw[0], :img_hw[1]]
    probs = np.stack([cv2.resize(p, (ori_hw[1], ori_hw[0]), interpolation=cv2.INTER_LINEAR)
                      for p in probs])
    return probs.argmax(0)


def test_probs_are_cropped_resized_and_reduced_as_numpy_does():
    rng = np.random.default_rng(0)
    probs = rng.random((5, 1, 40, 64), dtype=np.float32)  # (C, ...) after the batch index
    probs = probs.transpose(1, 0, 2, 3)  # (1, C, 40, 64), padded beyond 32x48
    out = _seg_to_image({'probs': probs}, dict(img_shape=(32, 48), ori_shape=(67, 101)))
    assert out.shape == (67, 101) and out.dtype == np.int64
    np.testing.assert_array_equal(out, _numpy_reference(probs[0], (32, 48), (67, 101)))


def test_ties_give_the_first_class_as_numpy_argmax():
    probs = np.zeros((1, 4, 6, 8), np.float32)
    probs[0, 1:, :3] = 0.5  # classes 1-3 tie in the top half, class 0 is lower
    probs[0, 2:, 3:] = 0.7  # classes 2-3 tie in the bottom half
    out = _seg_to_image({'probs': probs}, dict(img_shape=(6, 8), ori_shape=(6, 8)))
    expected = np.where(np.arange(6)[:, None] < 3, 1, 2) * np.ones((1, 8), np.int64)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out, probs[0].argmax(0))
