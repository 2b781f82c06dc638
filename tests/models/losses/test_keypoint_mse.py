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


def test_weighted_mse_without_weighted_copies_equals_the_official_form():
    """keypoint_mse scales the (N, K) means by w**2 instead of weighting two heatmap copies:
    the same values and gradients as 0.5 * mean((pred * w - gt * w) ** 2) for real weights
    (the dataset joint weights make them non-binary, e.g. 1.5)."""
    from hrnet_train.models.losses.keypoint_mse import keypoint_mse
    torch.manual_seed(1)
    pred = torch.rand(4, 17, 8, 6, dtype=torch.float64, requires_grad=True)
    gt = torch.rand(4, 17, 8, 6, dtype=torch.float64)
    w = torch.rand(4, 17, dtype=torch.float64) * 1.5
    w[0, :3] = 0
    ref = 0.5 * ((pred * w[..., None, None] - gt * w[..., None, None]) ** 2).flatten(2).mean(-1)
    got = keypoint_mse(pred, gt, w)
    assert got.shape == (4, 17)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    g_ref, = torch.autograd.grad(ref.sum(), pred)
    g_got, = torch.autograd.grad(got.sum(), pred)
    torch.testing.assert_close(g_got, g_ref, rtol=1e-12, atol=1e-18)
    assert g_got[0, :3].abs().max() == 0  # zero-weight keypoints get no gradient
