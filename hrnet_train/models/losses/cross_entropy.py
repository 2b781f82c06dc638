"""Pixel-wise cross-entropy (HRNet/HRNet-Semantic-Segmentation:lib/core/criterion.py)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError


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


class PixelLoss(nn.Module):
    """Base of the pixel losses whose ``forward(logits, labels)`` first resizes (N, C, h, w)
    logits to the (N, H, W) labels bilinearly with ``self.align_corners``."""

    align_corners: bool

    @property
    def label_resize(self) -> Optional[bool]:
        """The ``align_corners`` of that resize (None where a loss takes no pixel maps); a
        caller that resizes with it first, once for several losses, gets the same losses."""
        return self.align_corners


def _check_class_weight(class_weight: Optional[Sequence[float]]) -> Optional[Tensor]:
    if class_weight is None:
        return None
    weight = torch.as_tensor(class_weight, dtype=torch.float32)
    if weight.dim() != 1 or weight.numel() == 0:
        raise ValueError(f'class_weight must be a flat sequence of floats, got {class_weight}')
    return weight


def _match_logits_to_labels(logits: Tensor, labels: Tensor, *, align_corners: bool) -> Tensor:
    """Check (N, C, ...) logits against (N, ...) labels; bilinearly resize 2-D maps."""
    if logits.dim() < 2:
        raise ValueError(f'logits must be (N, C) or (N, C, d1, ...), got {tuple(logits.shape)}')
    if labels.dim() != logits.dim() - 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f'labels must be (N, d1, ...) = logits (N, C, d1, ...) without C, got '
                         f'labels {tuple(labels.shape)} for logits {tuple(logits.shape)}')
    if logits.shape[2:] == labels.shape[1:]:
        return logits
    if logits.dim() == 4:  # pixel logits at stride 4 against full-size labels
        return resize_logits_to_labels(logits, labels, align_corners=align_corners)
    raise ValueError(f'logits {tuple(logits.shape)} and labels {tuple(labels.shape)} differ in '
                     'size; only 2-D maps (N, C, h, w) are resized to the labels')


def sigmoid_cross_entropy(logits: Tensor, labels: Tensor, weight: Optional[Tensor] = None,
                          avg_factor: Optional[float] = None, *,
                          ignore_index: Optional[int] = None) -> Tensor:
    """Per-class binary cross-entropy with logits against one-hot labels (mmdet ``use_sigmoid``).

    Labels are in ``[0, C]``; ``C`` (and nothing else) means background, whose target row is
    all zeros. Labels < 0 or equal to ``ignore_index`` get weight 0. The (N, C) element losses
    are multiplied by ``weight`` (broadcast over classes); with ``avg_factor`` their sum is
    divided by ``avg_factor + eps``, without it their mean over all N * C elements is taken
    (mmdet's ``binary_cross_entropy`` with ``avg_non_ignore=False``). No element gives a zero
    loss that still back-propagates.

    Args:
        logits: (N, C) float, one logit per foreground class (RPN: C = 1).
        labels: (N,) int64 in [0, C].
        weight: (N,) per-sample weights, or None.
        avg_factor: normaliser of the weighted sum, or None.
        ignore_index: label value excluded from the loss, or None.

    Returns:
        scalar.
    """
    if logits.dim() != 2:
        raise ValueError(f'use_sigmoid logits must be (N, C), got {tuple(logits.shape)}')
    num, num_classes = logits.shape
    if labels.shape != (num,):
        raise ValueError(f'use_sigmoid labels must be ({num},) for logits {tuple(logits.shape)}, '
                         f'got {tuple(labels.shape)}')
    if weight is not None and weight.shape != (num,):
        raise ValueError(f'use_sigmoid weight must be ({num},), got {tuple(weight.shape)}')
    if num == 0:
        return logits.sum() * 0.0
    valid = labels >= 0
    if ignore_index is not None:
        valid &= labels != ignore_index
    if bool((labels[valid] > num_classes).any()):
        raise ValueError(f'use_sigmoid labels must be in [0, {num_classes}] ({num_classes} = '
                         f'background), got max {int(labels[valid].max())}')
    targets = torch.zeros_like(logits)
    fg = torch.nonzero(valid & (labels < num_classes), as_tuple=False).squeeze(1)
    targets[fg, labels[fg]] = 1.0
    elem_weight = valid.to(logits.dtype)[:, None].expand(num, num_classes)  # (N, C)
    if weight is not None:
        elem_weight = elem_weight * weight.to(logits.dtype)[:, None]
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction='none') * elem_weight
    if avg_factor is None:
        return loss.mean()
    return loss.sum() / (float(avg_factor) + torch.finfo(torch.float32).eps)


@MODELS.register_module()
class CrossEntropyLoss(PixelLoss):
    """Class-weighted cross-entropy for every task: image, RoI and pixel logits.

    Shapes: logits (N, C) with labels (N,) (classification, RoI heads); logits (N, C, h, w)
    with labels (N, H, W) (segmentation; the logits are bilinearly upsampled to the label size
    when h x w differs); any (N, C, d1, ...) with labels (N, d1, ...) of the same size.

    Reduction is PyTorch's weighted mean: sum_i w[y_i] * nll_i / sum_i w[y_i] over the
    non-ignored elements of the whole batch, as ``nn.CrossEntropyLoss(weight, ignore_index)``
    in the official segmentation criterion. With ``weight`` (per element) or ``avg_factor``
    the sum of ``weight * w[y_i] * nll_i`` is divided by ``avg_factor`` (default: the number of
    non-ignored elements), as the mmdet RoI heads need. A batch with no valid element gives a
    zero loss (not NaN) that still back-propagates.

    With ``use_sigmoid=True`` (mmdet's option, used by the RPN) the loss is instead a per-class
    binary cross-entropy with logits (:func:`sigmoid_cross_entropy`): logits (N, C), labels
    (N,) in ``[0, C]`` where ``C`` is background, ``weight`` (N,) per sample broadcast over
    classes, ``avg_factor`` the normaliser of the weighted sum (default: the mean over all
    N * C elements). ``class_weight`` and ``label_smoothing`` are not supported there.

    Soft targets (classification with Mixup / CutMix, :class:`~hrnet_train.models.detectors.
    classifier.ImageClassifier`): float labels (N, C) of the logits' shape, each row class
    probabilities summing to 1, as ``F.cross_entropy`` takes them. The element loss is
    ``-sum_c w[c] * t_c * log softmax(logits)_c`` with ``t`` smoothed to
    ``(1 - label_smoothing) * t + label_smoothing / C``. The reduction is the mean over the N
    samples, not divided by the class weights (PyTorch's rule for probability targets), so
    one-hot ``t`` gives the integer-label loss without ``class_weight``; ``ignore_index`` does not
    apply; ``weight`` (N,) and ``avg_factor`` act as above.

    Args:
        class_weight: (C,) per-class weights, or None. The official Cityscapes weights are in
            ``configs/_base_/models/hrnetv2-w48_fcn.py``.
        ignore_index: label value excluded from the loss (255).
        loss_weight: multiplier of the returned loss.
        label_smoothing: in [0, 1); PyTorch's label smoothing (classification recipes).
        align_corners: used when upsampling 2-D logits to the label size.
        loss_name: key of this loss in the model's loss dict.
        use_sigmoid: per-class sigmoid BCE against one-hot labels (see above).

    Forward:
        logits, labels as above (labels int64, or float (N, C) soft targets); optional
        ``weight`` (same shape as int64 labels; (N,) for soft targets) and ``avg_factor`` (float).
        Returns a scalar.
    """

    def __init__(self, *, class_weight: Optional[Sequence[float]] = None, ignore_index: int = 255,
                 loss_weight: float = 1.0, label_smoothing: float = 0.0,
                 align_corners: bool = False, loss_name: str = 'loss_ce',
                 use_sigmoid: bool = False) -> None:
        super().__init__()
        weight = _check_class_weight(class_weight)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f'label_smoothing must be in [0, 1), got {label_smoothing}')
        if use_sigmoid and (weight is not None or label_smoothing):
            raise ConfigError('CrossEntropyLoss use_sigmoid=True takes no class_weight or '
                              f'label_smoothing, got class_weight={class_weight}, '
                              f'label_smoothing={label_smoothing}')
        self.use_sigmoid = bool(use_sigmoid)
        # Non-persistent: official seg checkpoints carry `loss.criterion.weight`, ours do not.
        self.register_buffer('class_weight', weight, persistent=False)
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self.label_smoothing = float(label_smoothing)
        self.align_corners = align_corners
        self.loss_name = loss_name

    @property
    def label_resize(self) -> Optional[bool]:
        """None with ``use_sigmoid`` (it takes (N, C) logits), else :class:`PixelLoss`'s."""
        return None if self.use_sigmoid else super().label_resize

    def forward(self, logits: Tensor, labels: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None) -> Tensor:
        if self.use_sigmoid:
            loss = sigmoid_cross_entropy(logits, labels, weight, avg_factor,
                                         ignore_index=self.ignore_index)
            return loss * self.loss_weight
        if labels.is_floating_point():
            return self._soft_target_loss(logits, labels, weight, avg_factor)
        logits = _match_logits_to_labels(logits, labels, align_corners=self.align_corners)
        if self.class_weight is not None and self.class_weight.numel() != logits.shape[1]:
            raise ValueError(f'class_weight has {self.class_weight.numel()} entries but the '
                             f'logits have {logits.shape[1]} classes')
        if weight is not None and weight.shape != labels.shape:
            raise ValueError(f'weight must have the labels\' shape {tuple(labels.shape)}, got '
                             f'{tuple(weight.shape)}')
        valid = labels != self.ignore_index
        if not bool(valid.any()):
            return logits.sum() * 0.0
        class_weight = None if self.class_weight is None else self.class_weight.to(logits)
        if weight is None and avg_factor is None:
            loss = F.cross_entropy(logits, labels, weight=class_weight,
                                   ignore_index=self.ignore_index, reduction='mean',
                                   label_smoothing=self.label_smoothing)
            return loss * self.loss_weight
        per_element = F.cross_entropy(logits, labels, weight=class_weight,
                                      ignore_index=self.ignore_index, reduction='none',
                                      label_smoothing=self.label_smoothing)
        if weight is not None:
            per_element = per_element * weight.to(per_element)
        denom = float(valid.sum()) if avg_factor is None else float(avg_factor)
        return per_element.sum() / max(denom, 1e-12) * self.loss_weight

    def _soft_target_loss(self, logits: Tensor, targets: Tensor, weight: Optional[Tensor],
                          avg_factor: Optional[float]) -> Tensor:
        """Cross-entropy against (N, C) class probabilities (see the class docstring)."""
        if logits.dim() != 2 or targets.shape != logits.shape:
            raise ValueError(f'float labels are soft targets and must be (N, C) = the logits\' '
                             f'shape {tuple(logits.shape)}, got {tuple(targets.shape)}; class '
                             'indices must be int64')
        num = logits.shape[0]
        if self.class_weight is not None and self.class_weight.numel() != logits.shape[1]:
            raise ValueError(f'class_weight has {self.class_weight.numel()} entries but the '
                             f'logits have {logits.shape[1]} classes')
        if weight is not None and weight.shape != (num,):
            raise ValueError(f'weight must be ({num},) for soft targets, got '
                             f'{tuple(weight.shape)}')
        if num == 0:
            return logits.sum() * 0.0
        class_weight = None if self.class_weight is None else self.class_weight.to(logits)
        if weight is None and avg_factor is None:
            loss = F.cross_entropy(logits, targets, weight=class_weight, reduction='mean',
                                   label_smoothing=self.label_smoothing)
            return loss * self.loss_weight
        per_sample = F.cross_entropy(logits, targets, weight=class_weight, reduction='none',
                                     label_smoothing=self.label_smoothing)  # (N,)
        if weight is not None:
            per_sample = per_sample * weight.to(per_sample)
        denom = float(num) if avg_factor is None else float(avg_factor)
        return per_sample.sum() / max(denom, 1e-12) * self.loss_weight
