"""Official-convention parameter/FLOP counts (REFERENCE §4)."""
import pytest
import torch
import torch.nn as nn

from hrnet_train.models.backbones.hrnet import HRNet
from hrnet_train.utils.complexity import count_complexity


def test_conv_and_linear_counts_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Flatten(),
                          nn.Linear(8 * 4 * 5, 10))
    c = count_complexity(model, torch.zeros(1, 3, 8, 10))
    assert c.flops == 8 * 3 * 3 * 3 * 4 * 5 + 10 * 160
    assert c.params == 8 * 27 + 8 + 160 * 10 + 10


class _Pose(nn.Module):
    def __init__(self, arch, width):
        super().__init__()
        self.backbone = HRNet(arch, multi_scale_output=False)
        self.final_layer = nn.Conv2d(width, 17, 1)

    def forward(self, x):
        return self.final_layer(self.backbone(x)[0])


@pytest.mark.parametrize('arch,width,hw,mparams,gflops', [
    ('w32', 32, (256, 192), 28.5, 7.1), ('w32', 32, (384, 288), 28.5, 16.0),
    ('w48', 48, (256, 192), 63.6, 14.6), ('w48', 48, (384, 288), 63.6, 32.9)])
def test_pose_table(arch, width, hw, mparams, gflops):
    """leoxiaobin/deep-high-resolution-net.pytorch README: params / GFLOPs of the pose models."""
    c = count_complexity(_Pose(arch, width), torch.zeros(1, 3, *hw))
    assert round(c.mparams, 1) == mparams
    assert round(c.gflops, 1) == gflops


def test_rejects_batches():
    with pytest.raises(ValueError, match=r'\(1, C, H, W\)'):
        count_complexity(nn.Conv2d(3, 3, 1), torch.zeros(2, 3, 4, 4))
