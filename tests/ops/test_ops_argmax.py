"""hrnet_train.ops.argmax against torch.argmax: the same indices, ties and NaN included."""
import pytest
import torch

from hrnet_train.ops import argmax


@pytest.mark.parametrize('shape,dim', [((2, 19, 16, 24), 1), ((19, 16, 24), 0), ((7, 5), 1),
                                       ((3, 4, 5), -1), ((1, 1), 0)])
def test_same_indices_as_torch_argmax_with_ties_and_nan(shape, dim):
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        x = torch.randint(0, 3, shape, generator=g).float()  # many ties
        if trial % 4 == 0:
            flat = x.view(-1)
            flat[torch.randint(0, flat.numel(), (3,), generator=g)] = float('nan')
        got = argmax(x, dim)
        assert got.dtype == torch.int64 and got.shape == torch.argmax(x, dim).shape
        assert torch.equal(got, torch.argmax(x, dim)), (shape, dim, trial)


def test_first_maximum_on_ties_and_nan_wins():
    x = torch.tensor([[1.0, 3.0, 3.0], [2.0, float('nan'), float('nan')], [5.0, 5.0, 5.0]])
    assert argmax(x, 1).tolist() == [1, 1, 0]
    assert argmax(x.t(), 0).tolist() == [1, 1, 0]  # a non-contiguous input, outer dimension
