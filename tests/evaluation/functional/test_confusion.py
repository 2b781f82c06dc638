"""intersect_and_union / summarize_areas on cases worked out by hand."""
import numpy as np
import pytest

from hrnet_train.evaluation.functional.confusion import intersect_and_union, summarize_areas


def _metrics(pred, label, num_classes, **kwargs):
    areas = intersect_and_union(np.array(pred), np.array(label), num_classes, **kwargs)
    return areas, summarize_areas(*areas)


def test_perfect_prediction_and_ignore():
    label = [[0, 0, 1], [1, 2, 255]]
    pred = [[0, 0, 1], [1, 2, 3]]  # the 255 pixel is skipped whatever is predicted there
    (inter, union, area_pred, area_label), m = _metrics(pred, label, 4)
    assert inter.tolist() == [2, 2, 1, 0] and union.tolist() == [2, 2, 1, 0]
    assert area_pred.tolist() == area_label.tolist() == [2, 2, 1, 0]
    np.testing.assert_array_equal(m['IoU'], [1, 1, 1, np.nan])  # class 3 absent from both: NaN
    assert m['mIoU'] == 1.0 and m['mAcc'] == 1.0 and m['aAcc'] == 1.0 and m['mDice'] == 1.0


def test_all_one_class_prediction():
    label = [[0, 0, 1, 1], [2, 2, 2, 2]]
    pred = np.full((2, 4), 2)
    (inter, union, area_pred, area_label), m = _metrics(pred, label, 3)
    assert inter.tolist() == [0, 0, 4] and area_pred.tolist() == [0, 0, 8]
    assert area_label.tolist() == [2, 2, 4] and union.tolist() == [2, 2, 8]
    np.testing.assert_allclose(m['IoU'], [0, 0, 0.5])
    np.testing.assert_allclose(m['Acc'], [0, 0, 1])
    np.testing.assert_allclose(m['Dice'], [0, 0, 2 / 3])
    assert m['mIoU'] == pytest.approx(1 / 6)
    assert m['mAcc'] == pytest.approx(1 / 3)
    assert m['mDice'] == pytest.approx(2 / 9)
    assert m['aAcc'] == 0.5


def test_prediction_shifted_one_column():
    label = np.zeros((4, 4), int)
    label[:, 2:] = 1  # columns 0-1 class 0, 2-3 class 1
    pred = np.zeros((4, 4), int)
    pred[:, 3:] = 1  # the boundary moved one column right
    (inter, union, _, _), m = _metrics(pred, label, 2)
    # class 0: 8 correct of 12 predicted / 8 labelled -> 8 / 12; class 1: 4 / (4 + 8 - 4)
    assert inter.tolist() == [8, 4] and union.tolist() == [12, 8]
    np.testing.assert_allclose(m['IoU'], [2 / 3, 1 / 2])
    np.testing.assert_allclose(m['Acc'], [1, 1 / 2])
    np.testing.assert_allclose(m['Dice'], [16 / 20, 8 / 12])
    assert m['mIoU'] == pytest.approx(7 / 12)
    assert m['aAcc'] == pytest.approx(12 / 16)


def test_absent_classes_are_nan_and_left_out_of_the_means():
    label = [[0, 1]]
    pred = [[0, 4]]  # class 4 predicted but not labelled, classes 2 and 3 absent from both
    _, m = _metrics(pred, label, 5)
    np.testing.assert_array_equal(m['IoU'], [1, 0, np.nan, np.nan, 0])
    np.testing.assert_array_equal(m['Acc'], [1, 0, np.nan, np.nan, np.nan])
    assert m['mIoU'] == pytest.approx(1 / 3)  # (1 + 0 + 0) / 3, not / 5
    assert m['mAcc'] == pytest.approx(1 / 2)
    assert m['mDice'] == pytest.approx(1 / 3)


def test_nothing_labelled_gives_nan():
    _, m = _metrics([[0, 1]], [[255, 255]], 2)
    assert np.isnan(m['mIoU']) and np.isnan(m['aAcc'])


def test_errors():
    with pytest.raises(ValueError, match=r'label holds class ids \[7\]'):
        intersect_and_union(np.zeros((1, 2), int), np.array([[0, 7]]), 5)
    with pytest.raises(ValueError, match=r'pred holds class ids \[-1\]'):
        intersect_and_union(np.array([[0, -1]]), np.zeros((1, 2), int), 5)
    with pytest.raises(ValueError, match='shape'):
        intersect_and_union(np.zeros((2, 2), int), np.zeros((2, 3), int), 5)
