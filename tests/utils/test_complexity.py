"""Official-convention parameter/FLOP counts (REFERENCE §4)."""
import pytest
import torch
import torch.nn as nn

from hrnet_train.utils.complexity import count_complexity


def test_conv_and_linear_counts_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Flatten(),
                          nn.Linear(8 * 4 * 5, 10))
    c = count_complexity(model, torch.zeros(1, 3, 8, 10))
    assert c.flops == 8 * 3 * 3 * 3 * 4 * 5 + 10 * 160
    assert c.params == 8 * 27 + 8 + 160 * 10 + 10


def test_rejects_batches():
    with pytest.raises(ValueError, match=r'\(1, C, H, W\)'):
        count_complexity(nn.Conv2d(3, 3, 1), torch.zeros(2, 3, 4, 4))
