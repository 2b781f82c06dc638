"""Online hard example mining cross-entropy (HRNet-Semantic-Segmentation lib/core/criterion.py)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hrnet_train.registry import MODELS

from .cross_entropy import PixelLoss, _check_class_weight, resize_logits_to_labels


def select_ohem_pixels(gt_probs: Tensor, *, thresh: float, min_kept: int) -> Tensor:
    """Choose the hard pixels of the official OHEM criterion.

    The valid pixels are sorted by the probability of their ground-truth class;
    ``threshold = max(sorted[min(min_kept, n - 1)], thresh)`` and the pixels with a probability
    strictly below it are kept. So at least ``min_kept`` pixels are kept (barring ties) and
    every pixel below ``thresh`` is kept.

    Args:
        gt_probs: (P,) float in [0, 1], softmax probability of the GT class of each valid pixel.
        thresh: probability threshold (official configs: 0.9).
        min_kept: the rank (0-based) of the sorted probability used as the lower bound of the
            threshold (official configs: 131072). Values < 1 are treated as 1, as officially.

    Returns:
        (P,) bool mask of the selected pixels.
    """
    if gt_probs.dim() != 1:
        raise ValueError(f'gt_probs must be (P,), got {tuple(gt_probs.shape)}')
    if gt_probs.numel() == 0:
        return torch.zeros_like(gt_probs, dtype=torch.bool)
    min_kept = max(1, int(min_kept))
    k = min(min_kept, gt_probs.numel() - 1)
    # kthvalue is 1-based: the (k + 1)-th smallest == sorted[k].
    min_value = torch.kthvalue(gt_probs.detach().float(), k + 1).values
    threshold = torch.clamp(min_value, min=thresh)
    return gt_probs < threshold


@MODELS.register_module()
class OhemCrossEntropyLoss(PixelLoss):
    """Cross-entropy averaged over the hard pixels only (official ``OhemCrossEntropy``).

    Per-pixel losses are class-weighted (``w[y_i] * nll_i``) and then averaged with a plain mean
    over the selected pixels (not divided by the sum of the weights), exactly as the official
    criterion. Selection runs over all valid pixels of the batch (:func:`select_ohem_pixels`).

    Args:
        thresh: probability threshold; pixels whose GT probability is below
            max(probability at rank ``min_kept``, thresh) are kept (official YAMLs: 0.9).
        min_kept: minimum number of kept pixels (official YAMLs: 131072).
        class_weight: (C,) per-class weights, or None.
        ignore_index: label value excluded from the loss (255).
        loss_weight: multiplier of the returned loss.
        align_corners: used when upsampling the logits to the label size.
        loss_name: key of this loss in the model's loss dict.

    Shapes:
        logits: (N, C, h, w); labels: (N, H, W) int64. Returns a scalar.
    """

    def __init__(self, *, thresh: float = 0.7, min_kept: int = 100000,
                 class_weight: Optional[Sequence[float]] = None, ignore_index: int = 255,
                 loss_weight: float = 1.0, align_corners: bool = False,
                 loss_name: str = 'loss_ce') -> None:
        super().__init__()
        if not 0.0 <= thresh <= 1.0:
            raise ValueError(f'thresh must be a probability in [0, 1], got {thresh}')
        self.thresh = float(thresh)
        self.min_kept = max(1, int(min_kept))
        self.register_buffer('class_weight', _check_class_weight(class_weight),
                             persistent=False)
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self.align_corners = align_corners
        self.loss_name = loss_name

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        logits = resize_logits_to_labels(logits, labels, align_corners=self.align_corners)
        num_classes = logits.shape[1]
        if self.class_weight is not None and self.class_weight.numel() != num_classes:
            raise ValueError(f'class_weight has {self.class_weight.numel()} entries but the '
                             f'logits have {num_classes} classes')
        valid = labels != self.ignore_index  # (N, H, W)
        if not bool(valid.any()):
            return logits.sum() * 0.0
        pixel_losses = F.cross_entropy(logits, labels, weight=self.class_weight,
                                       ignore_index=self.ignore_index, reduction='none')
        safe_labels = labels.masked_fill(~valid, 0)
        with torch.no_grad():
            gt_probs = F.softmax(logits, dim=1).gather(1, safe_labels.unsqueeze(1)).squeeze(1)
        keep = select_ohem_pixels(gt_probs[valid], thresh=self.thresh, min_kept=self.min_kept)
        selected = pixel_losses[valid][keep]
        if selected.numel() == 0:
            return logits.sum() * 0.0
        return selected.mean() * self.loss_weight
