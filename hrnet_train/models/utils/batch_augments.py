"""Mixup and CutMix: batch augmentations that mix images and their (N, K) class probabilities.

Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018; Yun et al., "CutMix:
Regularization Strategy to Train Strong Classifiers with Localizable Features", ICCV 2019. The
sampling follows timm (timm/data/mixup.py) and mmpretrain
(mmpretrain/models/utils/batch_augments/{mixup,cutmix,wrapper}.py): one lambda ~ Beta(alpha, alpha)
and one permutation per batch; CutMix's box is centred uniformly, has sides sqrt(1 - lambda) of the
image, is clipped to it, and its lambda is corrected to the area actually pasted.

The functions are the maths and take every random quantity as an argument; the classes draw those
from torch's global generator (``torch.manual_seed`` makes them repeat).
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor

from hrnet_train.registry import TASK_UTILS
from hrnet_train.utils.errors import ConfigError

#: ``(inputs, targets) -> (inputs, targets)``, as :class:`Mixup` and :class:`CutMix`.
BatchAugment = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def _check_batch(inputs: Tensor, targets: Tensor, index: Tensor) -> None:
    if inputs.dim() != 4:
        raise ValueError(f'inputs must be (N, C, H, W), got {tuple(inputs.shape)}')
    n = inputs.shape[0]
    if targets.dim() != 2 or targets.shape[0] != n or not targets.is_floating_point():
        raise ValueError(f'targets must be float (N, K) class probabilities with N={n}, got '
                         f'{targets.dtype} {tuple(targets.shape)}')
    if index.shape != (n,):
        raise ValueError(f'index must be a ({n},) permutation of the batch, got '
                         f'{tuple(index.shape)}')


def _check_lam(lam: float) -> float:
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f'lam must be in [0, 1], got {lam}')
    return lam


def mixup_batch(inputs: Tensor, targets: Tensor, lam: float,
                index: Tensor) -> tuple[Tensor, Tensor]:
    """Blend every sample with sample ``index[i]``: ``lam * a + (1 - lam) * b``.

    Args:
        inputs: (N, C, H, W) float normalised images.
        targets: (N, K) float class probabilities (one-hot labels, or already mixed).
        lam: weight of the sample itself, in [0, 1].
        index: (N,) int64 permutation of the batch: the partner of each sample.

    Returns:
        mixed inputs (N, C, H, W) and targets (N, K); new tensors, the arguments are unchanged.
    """
    _check_batch(inputs, targets, index)
    lam = _check_lam(lam)
    index = index.to(inputs.device)
    mixed_inputs = lam * inputs + (1.0 - lam) * inputs[index]
    mixed_targets = lam * targets + (1.0 - lam) * targets[index]
    return mixed_inputs, mixed_targets


def cutmix_box(size: tuple[int, int], lam: float,
               center: tuple[int, int]) -> tuple[int, int, int, int]:
    """The CutMix box for ``lam``: sides ``int(side * sqrt(1 - lam))`` around ``center``, clipped.

    As timm's ``rand_bbox`` (and mmpretrain's): the box spans ``center -/+ cut // 2`` on each axis,
    so an odd ``cut`` loses one pixel, and clipping at the border shrinks it further; callers
    correct lambda with :func:`cutmix_batch`, which measures the box actually pasted.

    Args:
        size: image (width, height) in input pixels.
        lam: the sampled lambda in [0, 1]; the box covers about ``1 - lam`` of the image.
        center: (x, y) integer box centre in input pixels, in [0, width) x [0, height).

    Returns:
        (x1, y1, x2, y2): half-open pixel bounds, 0 <= x1 <= x2 <= width (y likewise).
    """
    width, height = (int(s) for s in size)
    ratio = math.sqrt(1.0 - _check_lam(lam))
    cut_w, cut_h = int(width * ratio), int(height * ratio)
    cx, cy = (int(c) for c in center)
    x1, x2 = min(max(cx - cut_w // 2, 0), width), min(max(cx + cut_w // 2, 0), width)
    y1, y2 = min(max(cy - cut_h // 2, 0), height), min(max(cy + cut_h // 2, 0), height)
    return x1, y1, x2, y2


def cutmix_batch(inputs: Tensor, targets: Tensor, box: tuple[int, int, int, int],
                 index: Tensor) -> tuple[Tensor, Tensor, float]:
    """Paste ``box`` of sample ``index[i]`` into every sample; mix targets by the pasted area.

    Args:
        inputs: (N, C, H, W) float normalised images.
        targets: (N, K) float class probabilities.
        box: (x1, y1, x2, y2) half-open input pixels, as :func:`cutmix_box` returns.
        index: (N,) int64 permutation of the batch.

    Returns:
        mixed inputs (N, C, H, W) (a copy), targets ``lam * t + (1 - lam) * t[index]`` (N, K),
        and ``lam = 1 - box area / (H * W)``, the share of each image left unchanged.
    """
    _check_batch(inputs, targets, index)
    height, width = inputs.shape[-2:]
    x1, y1, x2, y2 = (int(v) for v in box)
    if not (0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height):
        raise ValueError(f'box (x1, y1, x2, y2) must lie in the {width}x{height} image, '
                         f'got {box}')
    index = index.to(inputs.device)
    mixed = inputs.clone()
    mixed[:, :, y1:y2, x1:x2] = inputs[index, :, y1:y2, x1:x2]
    lam = 1.0 - (x2 - x1) * (y2 - y1) / float(width * height)
    return mixed, lam * targets + (1.0 - lam) * targets[index], lam


def _sample_beta(alpha: float) -> float:
    """One draw of Beta(alpha, alpha) from torch's global CPU generator."""
    a = torch.tensor(float(alpha), dtype=torch.float64)
    return float(torch.distributions.Beta(a, a).sample())


def _check_alpha(alpha: float, name: str) -> float:
    if not float(alpha) > 0:
        raise ConfigError(f'{name} alpha must be > 0 (Beta(alpha, alpha)), got {alpha}')
    return float(alpha)


@TASK_UTILS.register_module()
class Mixup:
    """Mixup of a whole batch with one lambda ~ Beta(alpha, alpha) and a random permutation.

    Args:
        alpha: Beta parameter; 0.8 in the timm / DeiT ImageNet recipes.

    Call: (inputs (N, C, H, W), targets (N, K) float) -> mixed (inputs, targets).
    """

    def __init__(self, alpha: float) -> None:
        self.alpha = _check_alpha(alpha, 'Mixup')

    def __call__(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        lam = _sample_beta(self.alpha)
        index = torch.randperm(inputs.shape[0])
        return mixup_batch(inputs, targets, lam, index)


@TASK_UTILS.register_module()
class CutMix:
    """CutMix of a whole batch: one box from lambda ~ Beta(alpha, alpha), centred uniformly in
    the image, pasted from a random permutation; targets mixed by the pasted area.

    Args:
        alpha: Beta parameter; 1.0 in the timm / DeiT ImageNet recipes.

    Call: (inputs (N, C, H, W), targets (N, K) float) -> mixed (inputs, targets).
    """

    def __init__(self, alpha: float) -> None:
        self.alpha = _check_alpha(alpha, 'CutMix')

    def __call__(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        lam = _sample_beta(self.alpha)
        index = torch.randperm(inputs.shape[0])
        height, width = inputs.shape[-2:]
        cy, cx = int(torch.randint(height, ())), int(torch.randint(width, ()))
        box = cutmix_box((width, height), lam, (cx, cy))
        mixed, targets, _ = cutmix_batch(inputs, targets, box, index)
        return mixed, targets


class RandomBatchAugment:
    """Apply one of ``augments`` to each batch, chosen with ``probs`` (mmpretrain's
    ``RandomBatchAugment``).

    Args:
        augments: ``TASK_UTILS`` configs (``dict(type='Mixup', alpha=0.8)``) or callables.
        probs: one probability per augment, summing to at most 1; the remainder leaves the batch
            unchanged. None chooses uniformly among ``augments``.
        key: config path for messages.

    Call: (inputs (N, C, H, W), targets (N, K) float) -> (inputs, targets), mixed or as given.
    """

    def __init__(self, augments: Sequence[Union[dict, BatchAugment]],
                 probs: Optional[Sequence[float]] = None, *,
                 key: str = 'model.train_cfg') -> None:
        if isinstance(augments, dict) or callable(augments):
            augments = [augments]
        if not augments:
            raise ConfigError(f'{key}.augments must list at least one batch augment')
        self.augments: list[Optional[BatchAugment]] = [
            TASK_UTILS.build(a) if isinstance(a, dict) else a for a in augments]
        if probs is None:
            weights = [1.0] * len(self.augments)
        else:
            probs = [float(probs)] if isinstance(probs, (int, float)) else [float(p) for p in probs]
            if len(probs) != len(self.augments) or any(p < 0 for p in probs) or (
                    sum(probs) > 1 + 1e-6):
                raise ConfigError(f'{key}.probs must give one probability >= 0 per augment '
                                  f'({len(self.augments)}) with a sum <= 1, got {probs}')
            weights = probs + [max(1.0 - sum(probs), 0.0)]
            self.augments.append(None)  # the remainder: no augment
        self.probs = torch.tensor(weights, dtype=torch.float64) / sum(weights)

    def __call__(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        choice = int(torch.multinomial(self.probs, 1))
        augment = self.augments[choice]
        return (inputs, targets) if augment is None else augment(inputs, targets)
