"""Operators in pure PyTorch: box operators with the signatures and numbers of
``torchvision.ops``, and a convolution's weight gradient as GEMMs.

- :func:`roi_align` / :class:`RoIAlign`: RoIAlign with average pooling (Mask R-CNN), exact to
  float rounding against torchvision's kernel, differentiable with respect to the features;
- :func:`nms`, :func:`batched_nms`: exact greedy non-maximum suppression (same kept indices and
  order as torchvision, ties included);
- :func:`box_iou`: pairwise IoU, torchvision's formula;
- :func:`conv2d_weight_grad`: a stride-1 convolution's weight gradient as shifted GEMMs (no
  torchvision counterpart; the ``gemm_weight_grad`` speed switch);
- :func:`argmax`: ``torch.argmax`` along one dimension with the same indices, through
  ``max(dim)``, 4-5x faster on CPU for an outer dimension (segmentation's per-pixel class).

Every box op takes ``backend='torch' | 'torchvision' | 'auto'`` (default: ``$HRNET_OPS_BACKEND`` or
``'auto'``, which uses torchvision's compiled kernels only when ``import torchvision`` works),
see :mod:`hrnet_train.ops._backend`. Boxes are ``x1, y1, x2, y2`` continuous pixels, as in
:mod:`hrnet_train.structures`.
"""
from ._backend import available_backends, resolve_backend
from .argmax import argmax
from .conv_weight_grad import conv2d_weight_grad
from .nms import batched_nms, box_iou, nms
from .roi_align import RoIAlign, roi_align

__all__ = ['roi_align', 'RoIAlign', 'nms', 'batched_nms', 'box_iou', 'available_backends',
           'resolve_backend', 'conv2d_weight_grad', 'argmax']
