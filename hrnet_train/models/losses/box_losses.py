"""Box regression losses: L1 and smooth L1 (mmdet/models/losses/smooth_l1_loss.py).

Reduction, as mmdet's ``weight_reduce_loss`` with ``reduction='mean'``: the element losses are
multiplied by ``weight``; with ``avg_factor`` their sum is divided by ``avg_factor + eps``
(eps = float32 machine epsilon), without it their mean over all elements is taken. Empty
inputs give a zero loss that still back-propagates.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import ConfigError

_EPS = torch.finfo(torch.float32).eps


def _check(pred: Tensor, target: Tensor, weight: Optional[Tensor]) -> Optional[Tensor]:
    if pred.shape != target.shape:
        raise ValueError(f'pred and target must have the same shape, got {tuple(pred.shape)} '
                         f'and {tuple(target.shape)}')
    if weight is None:
        return None
    if weight.shape == pred.shape:
        return weight
    if pred.dim() >= 1 and weight.shape == pred.shape[:1]:
        return weight.reshape(-1, *([1] * (pred.dim() - 1)))  # (B,) -> (B, 1, ...)
    raise ValueError(f'weight must have the shape of pred {tuple(pred.shape)} or '
                     f'({pred.shape[0] if pred.dim() else ""},), got {tuple(weight.shape)}')


def _reduce(loss: Tensor, weight: Optional[Tensor], avg_factor: Optional[float]) -> Tensor:
    if weight is not None:
        loss = loss * weight.to(loss)
    if avg_factor is None:
        return loss.mean()
    return loss.sum() / (float(avg_factor) + _EPS)


def l1_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
            avg_factor: Optional[float] = None) -> Tensor:
    """Weighted L1 loss ``|pred - target|``.

    Args:
        pred: (B, 4) (any shape) predicted deltas.
        target: same shape as ``pred``.
        weight: per-element weights of ``pred``'s shape, or (B,) broadcast over the rest.
        avg_factor: normaliser of the weighted sum; None for the mean over all elements.

    Returns:
        scalar.
    """
    weight = _check(pred, target, weight)
    if target.numel() == 0:
        return pred.sum() * 0.0
    return _reduce(torch.abs(pred - target), weight, avg_factor)


def smooth_l1_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                   avg_factor: Optional[float] = None, *, beta: float = 1.0) -> Tensor:
    """Weighted smooth L1: ``0.5 d^2 / beta`` for ``d = |pred - target| < beta``, else
    ``d - 0.5 beta``.

    Args:
        pred, target, weight, avg_factor: as :func:`l1_loss`.
        beta: where the quadratic part ends (> 0): 1/9 in the fork's RPN, 1 in its R-CNN.

    Returns:
        scalar.
    """
    if beta <= 0:
        raise ValueError(f'beta must be positive, got {beta}')
    weight = _check(pred, target, weight)
    if target.numel() == 0:
        return pred.sum() * 0.0
    diff = torch.abs(pred - target)
    loss = torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)
    return _reduce(loss, weight, avg_factor)


@MODELS.register_module()
class L1Loss(nn.Module):
    """L1 box loss (mmdet 3.x RPN and R-CNN).

    Args:
        loss_weight: multiplier of the returned loss.

    Forward:
        pred, target: same shape, e.g. (B, 4) deltas; optional ``weight`` (same shape, or
        (B,)) and ``avg_factor``. Returns a scalar (see :func:`l1_loss`).
    """

    def __init__(self, *, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None) -> Tensor:
        return l1_loss(pred, target, weight, avg_factor) * self.loss_weight


@MODELS.register_module()
class SmoothL1Loss(nn.Module):
    """Smooth L1 box loss (the fork: RPN beta 1/9, R-CNN beta 1).

    Args:
        beta: end of the quadratic part, > 0.
        loss_weight: multiplier of the returned loss.

    Forward: as :class:`L1Loss`.
    """

    def __init__(self, *, beta: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if beta <= 0:
            raise ConfigError(f'SmoothL1Loss beta must be positive, got {beta}')
        self.beta = float(beta)
        self.loss_weight = float(loss_weight)

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None) -> Tensor:
        return smooth_l1_loss(pred, target, weight, avg_factor, beta=self.beta) * self.loss_weight
