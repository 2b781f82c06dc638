"""to_numpy: tensors of any dtype the models emit, including AMP's bfloat16."""
import numpy as np
import torch

from hrnet_train.utils.arrays import to_numpy


def test_tensors_arrays_and_lists():
    t = torch.tensor([[1.5, 2.0]], requires_grad=True)
    out = to_numpy(t * 2)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[3.0, 4.0]])
    np.testing.assert_array_equal(to_numpy([1, 2]), np.array([1, 2]))
    assert to_numpy(torch.tensor([1, 2])).dtype == np.int64


def test_bfloat16_becomes_float32():
    out = to_numpy(torch.tensor([0.5, 1.25, -3.0], dtype=torch.bfloat16))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.5, 1.25, -3.0])  # exactly representable
    assert to_numpy(torch.tensor([0.5], dtype=torch.float16)).dtype == np.float16
