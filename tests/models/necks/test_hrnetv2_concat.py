import pytest
import torch
import torch.nn.functional as F

from hrnet_train.models.necks import HRNetV2Concat
from hrnet_train.registry import MODELS


def _feats(n=2, channels=(4, 8, 16, 32), h=25, w=38):
    torch.manual_seed(0)
    sizes = [(h, w)]
    for _ in channels[1:]:  # stride-2 3x3 convs with padding 1: ceil(x / 2)
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    return [torch.randn(n, c, *s) for c, s in zip(channels, sizes)]


def test_concat_shapes_and_values():
    neck = MODELS.build(dict(type='HRNetV2Concat', in_channels=(4, 8, 16, 32)))
    assert neck.out_channels == 60
    feats = _feats()  # odd sizes: 25x38, 13x19, 7x10, 4x5
    out = neck(feats)
    assert out.shape == (2, 60, 25, 38)
    assert torch.equal(out[:, :4], feats[0])  # the stride-4 branch passes through
    ref = F.interpolate(feats[2], size=(25, 38), mode='bilinear', align_corners=False)
    torch.testing.assert_close(out[:, 12:28], ref)


def test_align_corners_changes_result():
    feats = _feats()
    a = HRNetV2Concat((4, 8, 16, 32))(feats)
    b = HRNetV2Concat((4, 8, 16, 32), align_corners=True)(feats)
    ref = F.interpolate(feats[3], size=(25, 38), mode='bilinear', align_corners=True)
    torch.testing.assert_close(b[:, 28:], ref)
    assert not torch.allclose(a[:, 28:], b[:, 28:])


def test_official_widths():
    # REFERENCE 1.4: 15C channels (W48 720, small-v1 240).
    assert HRNetV2Concat((48, 96, 192, 384)).out_channels == 720
    assert HRNetV2Concat((16, 32, 64, 128)).out_channels == 240


def test_wrong_branch_count_raises():
    with pytest.raises(ValueError, match='expected 4 branches, got 3'):
        HRNetV2Concat((4, 8, 16, 32))(_feats()[:3])
