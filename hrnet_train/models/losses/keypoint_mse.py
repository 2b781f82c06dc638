"""Heatmap regression losses of the official pose code (lib/core/loss.py)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from hrnet_train.registry import MODELS


def keypoint_mse(pred: Tensor, target: Tensor, weights: Optional[Tensor] = None) -> Tensor:
    """Per-sample, per-keypoint 0.5 * MSE between heatmaps (official ``JointsMSELoss`` term).

    Args:
        pred, target: (N, K, H, W) heatmaps.
        weights: (N, K) keypoint weights (target weight x joint weight), or None.

    Returns:
        (N, K) loss per keypoint: 0.5 * mean_{HW}((pred * w - target * w) ** 2).
    """
    if pred.shape != target.shape:
        raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} differ')
    # (pred * w - target * w) ** 2 == w ** 2 * (pred - target) ** 2: the weights scale the
    # (N, K) means instead of two weighted (N, K, H, W) copies of the heatmaps.
    per_kpt = 0.5 * (pred - target).square().flatten(2).mean(-1)
    if weights is not None:
        per_kpt = per_kpt * weights.to(per_kpt.dtype).square()
    return per_kpt  # (N, K)


@MODELS.register_module()
class KeypointMSELoss(nn.Module):
    """Mean over keypoints (and batch) of :func:`keypoint_mse` (official ``JointsMSELoss``).

    Args:
        use_target_weight: multiply by the keypoint weights (official USE_TARGET_WEIGHT true).
        loss_weight: scale of the returned loss.
    """

    def __init__(self, *, use_target_weight: bool = True, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, weights: Optional[Tensor] = None) -> Tensor:
        per_kpt = keypoint_mse(pred, target, weights if self.use_target_weight else None)
        return per_kpt.mean() * self.loss_weight


@MODELS.register_module()
class KeypointOHKMMSELoss(nn.Module):
    """Online hard keypoint mining (official ``JointsOHKMMSELoss``): per sample, the mean of the
    ``topk`` largest per-keypoint losses, averaged over the batch.

    Args:
        topk: hard keypoints kept per sample (official 8); must not exceed K.
    """

    def __init__(self, *, topk: int = 8, use_target_weight: bool = True,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if topk < 1:
            raise ValueError(f'topk must be >= 1, got {topk}')
        self.topk = topk
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, weights: Optional[Tensor] = None) -> Tensor:
        per_kpt = keypoint_mse(pred, target, weights if self.use_target_weight else None)
        if self.topk > per_kpt.shape[1]:
            raise ValueError(f'topk={self.topk} exceeds the number of keypoints {per_kpt.shape[1]}')
        hard = torch.topk(per_kpt, self.topk, dim=1).values  # (N, topk)
        return hard.mean() * self.loss_weight
