"""Region Mutual Information loss (Zhao et al., "Region Mutual Information Loss for Semantic
Segmentation", NeurIPS 2019), as used with HRNet + OCR in openseg.pytorch.

Re-implemented from openseg-group/openseg.pytorch:lib/loss/rmi_loss.py (``RMILoss.forward`` ->
``forward_sigmoid`` and ``rmi_lower_bound``) and its Cityscapes HRNet-W48 RMI config
configs/cityscapes/H_48_D_4_RMI.json (radius 3, max-pool 3 / stride 3, lambda 0.5,
lambda_way 1). Pure PyTorch; the covariance algebra runs in float64 as in the reference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from hrnet_train.registry import MODELS

from .cross_entropy import PixelLoss, resize_logits_to_labels

_CLIP_MIN = 1e-6  # added to the sigmoid probabilities (reference _CLIP_MIN)
_POS_ALPHA = 1e-3  # ridge that keeps the covariances positive definite (reference _POS_ALPHA)
_POOLS = ('max', 'avg', 'nearest')  # reference rmi_pool_way 0, 1, 2


def region_vectors(maps: Tensor, radius: int) -> Tensor:
    """Stack every radius x radius neighbourhood of each map into a vector.

    Args:
        maps: (N, C, H, W).
        radius: side of the square region (R); H, W >= R.

    Returns:
        (N, C, R*R, M) with M = (H - R + 1) * (W - R + 1); entry (y * R + x) of the vector at
        position (i, j) is ``maps[..., i + y, j + x]`` (reference ``map_get_pairs``).
    """
    h, w = maps.shape[-2:]
    if h < radius or w < radius:
        raise ValueError(f'RMI needs maps of at least {radius}x{radius} after pooling, '
                         f'got {h}x{w}')
    new_h, new_w = h - radius + 1, w - radius + 1
    shifted = [maps[:, :, y:y + new_h, x:x + new_w] for y in range(radius) for x in range(radius)]
    return torch.stack(shifted, dim=2).flatten(3)


def rmi_lower_bound(labels: Tensor, probs: Tensor, *, radius: int = 3, pool: str = 'max',
                    pool_size: int = 3) -> Tensor:
    """Per-class lower bound of the region mutual information, summed over classes.

    For each image and class the R*R-dimensional label vectors Y and probability vectors P are
    centred over the M positions; with ``S_Y = Y Y^T``, ``S_P = P P^T``, ``S_YP = Y P^T`` the
    bound is ``0.5 * logdet(S_Y - S_YP (S_P + a I)^-1 S_YP^T + a I)`` (a = 1e-3), averaged over
    the images, divided by R*R and summed over the classes.

    Args:
        labels: (N, C, H, W) one-hot labels, zero at ignored pixels.
        probs: (N, C, H, W) probabilities.
        radius: R.
        pool: downsampling before the regions, ``'max'``, ``'avg'`` (both kernel = stride =
            ``pool_size``, padding ``pool_size // 2``) or ``'nearest'`` (labels nearest, probs
            bilinear with align_corners=True, to (H // s, W // s)).
        pool_size: downsampling factor (1: none).

    Returns:
        scalar float32.
    """
    if pool not in _POOLS:
        raise ValueError(f'pool must be one of {_POOLS}, got {pool!r}')
    if pool_size > 1:
        if pool == 'nearest':
            size = (labels.shape[2] // pool_size, labels.shape[3] // pool_size)
            labels = F.interpolate(labels, size=size, mode='nearest')
            probs = F.interpolate(probs, size=size, mode='bilinear', align_corners=True)
        else:
            op = F.max_pool2d if pool == 'max' else F.avg_pool2d
            labels = op(labels, kernel_size=pool_size, stride=pool_size, padding=pool_size // 2)
            probs = op(probs, kernel_size=pool_size, stride=pool_size, padding=pool_size // 2)
    n, c = labels.shape[:2]
    d = radius * radius
    y = region_vectors(labels, radius).double()  # (N, C, D, M)
    p = region_vectors(probs, radius).double()
    y = y - y.mean(dim=3, keepdim=True)
    p = p - p.mean(dim=3, keepdim=True)
    eye = torch.eye(d, dtype=torch.float64, device=labels.device)
    cov_y = y @ y.transpose(2, 3)  # (N, C, D, D)
    cov_p = p @ p.transpose(2, 3)
    cov_yp = y @ p.transpose(2, 3)
    cond = cov_y - cov_yp @ torch.linalg.inv(cov_p + _POS_ALPHA * eye) @ cov_yp.transpose(2, 3)
    chol = torch.linalg.cholesky(cond + _POS_ALPHA * eye)
    half_logdet = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1) + 1e-8).sum(-1)  # (N, C)
    per_class = half_logdet.reshape(n, c).mean(dim=0) / d
    return per_class.sum().float()


@MODELS.register_module()
class RMILoss(PixelLoss):
    """Sigmoid BCE plus the RMI lower bound (openseg.pytorch ``RMILoss.forward_sigmoid``).

    ``bce = sum over valid pixels and classes of BCE(logit, one-hot) / (valid pixels + 1)``;
    the loss is ``lambda * bce + (1 - lambda) * rmi`` (``lambda_way=True``, the reference
    configs) or ``bce + lambda * rmi``, times ``loss_weight``. Probabilities are
    ``sigmoid(logits)`` (zeroed at ignored pixels) + 1e-6. openseg.pytorch's HRNet-OCR recipe
    (``fs_aux_rmi_loss``) puts this loss on the main output and CE x 0.4 on the auxiliary one:
    ``loss=dict(type='RMILoss'), aux_loss=dict(type='CrossEntropyLoss'),
    loss_weights=[0.4, 1.0]``.

    Args:
        radius: side R of the square regions (reference ``rmi_radius``, 3).
        pool: ``'max'`` (reference pool way 0, its configs), ``'avg'`` (1) or ``'nearest'`` (2).
        pool_size: kernel and stride of the downsampling (reference 3).
        loss_weight_lambda: lambda (reference 0.5).
        lambda_way: see above (reference 1).
        ignore_index: label value excluded (255); labels >= the class count are ignored too.
        loss_weight: multiplier of the returned loss.
        align_corners: for upsampling the logits to the label size.
        loss_name: key of this loss in the model's loss dict.

    Shapes:
        logits: (N, C, h, w); labels: (N, H, W) int64. Returns a scalar.
    """

    def __init__(self, *, radius: int = 3, pool: str = 'max', pool_size: int = 3,
                 loss_weight_lambda: float = 0.5, lambda_way: bool = True,
                 ignore_index: int = 255, loss_weight: float = 1.0,
                 align_corners: bool = False, loss_name: str = 'loss_rmi') -> None:
        super().__init__()
        if not isinstance(radius, int) or not 1 <= radius <= 10:
            raise ValueError(f'radius must be an int in [1, 10], got {radius!r}')
        if pool not in _POOLS:
            raise ValueError(f'pool must be one of {_POOLS}, got {pool!r}')
        if not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f'pool_size must be a positive int, got {pool_size!r}')
        self.radius = radius
        self.pool = pool
        self.pool_size = pool_size
        self.loss_weight_lambda = float(loss_weight_lambda)
        self.lambda_way = bool(lambda_way)
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self.align_corners = align_corners
        self.loss_name = loss_name

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        logits = resize_logits_to_labels(logits, labels, align_corners=self.align_corners)
        num_classes = logits.shape[1]
        valid = (labels >= 0) & (labels < num_classes) & (labels != self.ignore_index)  # (N,H,W)
        mask = valid.to(logits.dtype)
        onehot = F.one_hot(labels.where(valid, torch.zeros_like(labels)), num_classes)
        onehot = onehot.permute(0, 3, 1, 2).to(logits.dtype) * mask[:, None]  # (N, C, H, W)
        bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction='none')
        bce = (bce * mask[:, None]).sum() / (mask.sum() + 1.0)
        probs = logits.sigmoid() * mask[:, None] + _CLIP_MIN
        rmi = rmi_lower_bound(onehot, probs, radius=self.radius, pool=self.pool,
                              pool_size=self.pool_size)
        lam = self.loss_weight_lambda
        loss = lam * bce + (1 - lam) * rmi if self.lambda_way else bce + lam * rmi
        return loss * self.loss_weight
