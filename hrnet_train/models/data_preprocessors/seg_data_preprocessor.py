"""Normalise, pad and batch segmentation inputs."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hrnet_train.registry import MODELS

from .det_data_preprocessor import IMAGENET_MEAN, IMAGENET_STD, DetDataPreprocessor


def pad_seg_map(seg_map: Tensor, size: tuple[int, int], *, pad_value: int = 255) -> Tensor:
    """Pad a label map on the bottom and right, as ``mmengine.model.stack_batch`` pads images.

    Args:
        seg_map: (..., H, W) int label map.
        size: target (H_out, W_out), each >= the input size.
        pad_value: label of the padded pixels (255 = ignore).

    Returns:
        (..., H_out, W_out) label map of the same dtype.
    """
    h, w = seg_map.shape[-2:]
    pad_h, pad_w = size[0] - h, size[1] - w
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f'cannot pad a label map of size {(h, w)} to the smaller size {size}')
    if pad_h == 0 and pad_w == 0:
        return seg_map
    return F.pad(seg_map, (0, pad_w, 0, pad_h), mode='constant', value=pad_value)


@MODELS.register_module()
class SegDataPreprocessor(DetDataPreprocessor):
    """:class:`DetDataPreprocessor` (normalise, pad, stack, record ``pad_shape``) plus label
    padding for segmentation; ``pad_size_divisor`` defaults to 1 and ``pad_value`` 0 is the
    mean colour, as the official crop padding after normalisation.

    In training, the data field ``gt_seg_map`` ((1, H, W) int64) is padded with ``seg_pad_value``
    (255 = ignore) to (1, H_pad, W_pad) so that the model can stack the labels. Outside
    training the label maps are left alone: test pipelines keep them at the original image size
    for the metric.

    Args:
        mean, std: per-channel RGB statistics in [0, 255]; default ImageNet.
        pad_size_divisor: pad the batch to a multiple of this (1 = batch maximum only).
        pad_value: padded image value after normalisation.
        seg_pad_value: padded label value.
    """

    def __init__(self, *, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, pad_size_divisor: int = 1,
                 pad_value: float = 0, seg_pad_value: int = 255, bgr_to_rgb: bool = False,
                 non_blocking: bool = False) -> None:
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor,
                         pad_value=pad_value, bgr_to_rgb=bgr_to_rgb, non_blocking=non_blocking)
        self.seg_pad_value = seg_pad_value

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        if not training:
            return data
        size = tuple(data['inputs'].shape[-2:])
        for sample in data.get('data_samples') or ():
            if 'gt_seg_map' in sample:
                seg_map = sample.gt_seg_map
                if hasattr(seg_map, 'data'):  # PixelData
                    seg_map = seg_map.data
                sample.gt_seg_map = pad_seg_map(
                    torch.as_tensor(seg_map), size, pad_value=self.seg_pad_value)
        return data
