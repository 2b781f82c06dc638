"""draw_legend: a black box top-left with one text row (and swatch) per entry."""
import numpy as np
import pytest

from hrnet_train.visualization import draw_legend


def test_legend_box_swatches_and_untouched_input():
    img = np.full((100, 200, 3), 128, np.uint8)
    out = draw_legend(img, ['road', 'car'], [(255, 0, 0), (0, 0, 255)], margin=4)
    assert (img == 128).all()  # a copy
    # font 0.4: cv2.getTextSize('Ag') is 11 px high + 3 baseline, so rows are 11 + 3 + 4 = 18 px
    # apart; the swatch is text-high (11 px) at x = 4..14, rows at y = 4 and 22; the box is
    # 4 + 2 * 18 = 40 px high
    np.testing.assert_array_equal(out[4, 4], (255, 0, 0))
    np.testing.assert_array_equal(out[14, 14], (255, 0, 0))
    np.testing.assert_array_equal(out[22, 4], (0, 0, 255))
    np.testing.assert_array_equal(out[32, 14], (0, 0, 255))
    np.testing.assert_array_equal(out[0, 0], (0, 0, 0))  # the box background
    np.testing.assert_array_equal(out[39, 0], (0, 0, 0))
    assert (out[40:, :] == 128).all() and (out[:, 60:] == 128).all()  # only the box changed
    assert (out[4:15, 19:47] == 255).any()  # white text right of the swatch


def test_legend_cuts_rows_that_do_not_fit_and_checks_arguments():
    img = np.full((40, 120, 3), 128, np.uint8)
    out = draw_legend(img, [f'class {i}' for i in range(10)])  # room for (40 - 4) // 18 rows
    np.testing.assert_array_equal(out, draw_legend(img, ['class 0', '+9 more']))
    assert (out != 128).any()
    assert draw_legend(img, []).tolist() == img.tolist()
    with pytest.raises(ValueError, match='expected 2 colours'):
        draw_legend(img, ['a', 'b'], [(1, 2, 3)])
    with pytest.raises(ValueError, match=r'expected \(H, W, 3\) uint8'):
        draw_legend(np.zeros((4, 4), np.uint8), ['a'])
