import pytest
import torch

from hrnet_train.models.heads.heatmap_head import HeatmapHead


def test_official_keys_shapes_and_init():
    torch.manual_seed(0)
    head = HeatmapHead(32, 17)
    assert set(head.state_dict()) == {'final_layer.weight', 'final_layer.bias'}
    assert tuple(head.final_layer.weight.shape) == (17, 32, 1, 1)
    assert abs(head.final_layer.weight.std().item() - 0.001) < 2e-4
    out = head([torch.randn(2, 32, 16, 12), torch.randn(2, 64, 8, 6)])
    assert tuple(out.shape) == (2, 17, 16, 12)
    head3 = HeatmapHead(8, 5, final_conv_kernel=3)
    assert tuple(head3(torch.randn(1, 8, 4, 4)).shape) == (1, 5, 4, 4)


def test_errors():
    with pytest.raises(ValueError, match='final_conv_kernel'):
        HeatmapHead(8, 5, final_conv_kernel=5)
    with pytest.raises(ValueError, match='expects 8 input channels, got 4'):
        HeatmapHead(8, 5)(torch.randn(1, 4, 4, 4))
