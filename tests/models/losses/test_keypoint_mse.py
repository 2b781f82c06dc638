import pytest
import torch

from hrnet_train.models.losses.keypoint_mse import KeypointMSELoss, KeypointOHKMMSELoss


def test_mse_matches_official_joints_mse_loss():
    """Official lib/core/loss.py JointsMSELoss: sum_j 0.5 * MSE(pred_j * w_j, gt_j * w_j) / J."""
    torch.manual_seed(0)
    pred, gt = torch.rand(3, 4, 5, 6), torch.rand(3, 4, 5, 6)
    w = torch.tensor([[1., 0., 1., 1.], [1., 1., 1., 0.], [0., 0., 1., 1.]])
    crit = torch.nn.MSELoss(reduction='mean')
    ref = 0
    for j in range(4):
        ref += 0.5 * crit(pred[:, j].reshape(3, -1) * w[:, j:j + 1],
                          gt[:, j].reshape(3, -1) * w[:, j:j + 1])
    ref = ref / 4
    assert torch.allclose(KeypointMSELoss()(pred, gt, w), ref)
    no_w = KeypointMSELoss(use_target_weight=False)(pred, gt, w)
    assert torch.allclose(no_w, 0.5 * ((pred - gt) ** 2).mean())


def test_ohkm_keeps_topk_hardest():
    pred = torch.zeros(1, 3, 2, 2)
    gt = torch.zeros(1, 3, 2, 2)
    gt[0, 0] = 1.0  # per-keypoint loss 0.5
    gt[0, 1] = 2.0  # 2.0
    loss = KeypointOHKMMSELoss(topk=2)(pred, gt, torch.ones(1, 3))
    assert loss.item() == pytest.approx((0.5 + 2.0) / 2)
    with pytest.raises(ValueError, match='topk=4 exceeds'):
        KeypointOHKMMSELoss(topk=4)(pred, gt, torch.ones(1, 3))
