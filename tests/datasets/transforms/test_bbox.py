import numpy as np
import pytest

from hrnet_train.datasets.transforms import GetBBoxCenterScale


def test_center_and_padded_scale():
    out = GetBBoxCenterScale(padding=1.25)(dict(bbox=np.array([10., 20., 110., 220.])))
    np.testing.assert_allclose(out['bbox_center'], [60., 120.])
    np.testing.assert_allclose(out['bbox_scale'], [125., 250.])
    assert out['bbox_center'].dtype == np.float32 and out['bbox_scale'].dtype == np.float32


def test_bad_bbox_shape():
    with pytest.raises(ValueError, match=r'bbox must have shape \(4,\)'):
        GetBBoxCenterScale()(dict(bbox=np.zeros((1, 4))))
