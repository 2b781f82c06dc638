"""Normalise, pad and batch segmentation inputs."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import ImgDataPreprocessor
from torch import Tensor

from hrnet_train.registry import MODELS

# ImageNet statistics in RGB order, in [0, 255] (official: /255 then mean/std of torchvision).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


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
class SegDataPreprocessor(ImgDataPreprocessor):
    """mmengine ``ImgDataPreprocessor`` plus label padding for segmentation.

    Images ((3, H, W) uint8 RGB, possibly of different sizes) are normalised with ``mean`` /
    ``std``, padded on the bottom/right to the batch maximum rounded up to ``pad_size_divisor``
    with ``pad_value`` (0, i.e. the mean colour, as the official crop padding after
    normalisation) and stacked to (N, 3, H_pad, W_pad).

    Data samples get metainfo ``batch_input_shape`` and ``pad_shape`` (H_pad, W_pad). In
    training, the data field ``gt_seg_map`` ((1, H, W) int64) is padded with ``seg_pad_value``
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
        if pad_size_divisor < 1:
            raise ValueError(f'pad_size_divisor must be >= 1, got {pad_size_divisor}')
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor,
                         pad_value=pad_value, bgr_to_rgb=bgr_to_rgb, non_blocking=non_blocking)
        self.seg_pad_value = seg_pad_value

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        inputs: Tensor = data['inputs']
        data_samples = data.get('data_samples')
        if data_samples is None:
            return data
        size = tuple(inputs.shape[-2:])
        for sample in data_samples:
            sample.set_metainfo(dict(batch_input_shape=size, pad_shape=size))
            if training and 'gt_seg_map' in sample:
                seg_map = sample.gt_seg_map
                if hasattr(seg_map, 'data'):  # PixelData
                    seg_map = seg_map.data
                sample.gt_seg_map = pad_seg_map(
                    torch.as_tensor(seg_map), size, pad_value=self.seg_pad_value)
        return data
