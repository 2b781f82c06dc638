"""colorize_seg_map / overlay."""
import numpy as np
import pytest

from hrnet_train.datasets.cityscapes import CITYSCAPES_PALETTE
from hrnet_train.visualization.seg import colorize_seg_map, overlay


def test_colorize_uses_the_palette_and_blacks_out_unknown_ids():
    seg = np.array([[0, 13], [255, 18]])
    out = colorize_seg_map(seg, CITYSCAPES_PALETTE)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [128, 64, 128]  # road
    assert out[0, 1].tolist() == [0, 0, 142]  # car
    assert out[1, 0].tolist() == [0, 0, 0]  # ignore
    assert out[1, 1].tolist() == [119, 11, 32]  # bicycle


def test_overlay_blends_labelled_pixels_only():
    img = np.full((1, 3, 3), 100, np.uint8)
    seg = np.array([[0, 1, 255]])
    palette = [(200, 0, 0), (0, 0, 51)]
    out = overlay(img, seg, palette, alpha=0.5)
    assert out.tolist() == [[[150, 50, 50], [50, 50, 76], [100, 100, 100]]]  # 75.5 rounds to 76
    assert overlay(img, seg, palette, alpha=0.0).tolist() == img.tolist()
    assert overlay(img, seg, palette, alpha=1.0)[0, :2].tolist() == [[200, 0, 0], [0, 0, 51]]


def test_errors():
    with pytest.raises(ValueError, match='palette'):
        colorize_seg_map(np.zeros((2, 2), int), [(0, 0)])
    with pytest.raises(ValueError, match='alpha'):
        overlay(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), int), [(0, 0, 0)], alpha=2)
    with pytest.raises(ValueError, match='img'):
        overlay(np.zeros((2, 3, 3), np.uint8), np.zeros((2, 2), int), [(0, 0, 0)])
