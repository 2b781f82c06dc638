"""Pixel-wise cross-entropy (HRNet/HRNet-Semantic-Segmentation:lib/core/criterion.py)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hrnet_train.registry import MODELS


def resize_logits_to_labels(logits: Tensor, labels: Tensor, *,
                            align_corners: bool = False) -> Tensor:
    """Bilinearly resize logits to the label size (identity when the sizes already match).

    Args:
        logits: (N, C, h, w) float, usually stride 4.
        labels: (N, H, W) int64 class indices.
        align_corners: passed to ``F.interpolate``.

    Returns:
        (N, C, H, W) float.
    """
    if logits.dim() != 4:
        raise ValueError(f'logits must be (N, C, h, w), got {tuple(logits.shape)}')
    if labels.dim() != 3 or labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f'labels must be (N, H, W) with N={logits.shape[0]}, got {tuple(labels.shape)}')
    if logits.shape[-2:] == labels.shape[-2:]:
        return logits
    return F.interpolate(logits, size=labels.shape[-2:], mode='bilinear',
                         align_corners=align_corners)


def _check_class_weight(class_weight: Optional[Sequence[float]]) -> Optional[Tensor]:
    if class_weight is None:
        return None
    weight = torch.as_tensor(class_weight, dtype=torch.float32)
    if weight.dim() != 1 or weight.numel() == 0:
        raise ValueError(f'class_weight must be a flat sequence of floats, got {class_weight}')
    return weight


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """Class-weighted cross-entropy over pixels, ignoring ``ignore_index``.

    Reduction is PyTorch's weighted mean: sum_i w[y_i] * nll_i / sum_i w[y_i] over the
    non-ignored pixels of the whole batch, as ``nn.CrossEntropyLoss(weight, ignore_index)``
    in the official criterion. A batch with no valid pixel gives a zero loss (not NaN).

    Args:
        class_weight: (C,) per-class weights, or None. The official Cityscapes weights are in
            ``configs/_base_/models/hrnetv2-w48_fcn.py``.
        ignore_index: label value excluded from the loss (255).
        loss_weight: multiplier of the returned loss.
        align_corners: used when upsampling the logits to the label size.
        loss_name: key of this loss in the model's loss dict.

    Shapes:
        logits: (N, C, h, w); labels: (N, H, W) int64. Returns a scalar.
    """

    def __init__(self, *, class_weight: Optional[Sequence[float]] = None, ignore_index: int = 255,
                 loss_weight: float = 1.0, align_corners: bool = False,
                 loss_name: str = 'loss_ce') -> None:
        super().__init__()
        weight = _check_class_weight(class_weight)
        # Non-persistent: official seg checkpoints carry `loss.criterion.weight`, ours do not.
        self.register_buffer('class_weight', weight, persistent=False)
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self.align_corners = align_corners
        self.loss_name = loss_name

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        logits = resize_logits_to_labels(logits, labels, align_corners=self.align_corners)
        if self.class_weight is not None and self.class_weight.numel() != logits.shape[1]:
            raise ValueError(f'class_weight has {self.class_weight.numel()} entries but the '
                             f'logits have {logits.shape[1]} classes')
        valid = labels != self.ignore_index
        if not bool(valid.any()):
            return logits.sum() * 0.0
        loss = F.cross_entropy(logits, labels, weight=self.class_weight,
                               ignore_index=self.ignore_index, reduction='mean')
        return loss * self.loss_weight
