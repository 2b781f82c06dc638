"""Normalise, pad and batch images, recording the padded shape in every data sample."""
from __future__ import annotations

from typing import Sequence

from mmengine.model import ImgDataPreprocessor

from hrnet_train.registry import MODELS

# ImageNet statistics in RGB order, in [0, 255] (official: /255 then mean/std of torchvision).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class DetDataPreprocessor(ImgDataPreprocessor):
    """mmengine ``ImgDataPreprocessor`` that tells every data sample the padded batch shape.

    Images ((3, H, W) uint8 RGB, possibly of different sizes) are normalised with ``mean`` /
    ``std``, padded on the bottom/right to the batch maximum rounded up to ``pad_size_divisor``
    (32 for detection: every HRNet branch and pyramid level then has an exact size) with
    ``pad_value`` and stacked to (N, 3, H_pad, W_pad). Data samples get metainfo
    ``batch_input_shape`` and ``pad_shape`` (H_pad, W_pad); boxes are not touched (padding is
    bottom/right, so image coordinates are unchanged).

    Args:
        mean, std: per-channel RGB statistics in [0, 255]; default ImageNet.
        pad_size_divisor: pad the batch to a multiple of this.
        pad_value: padded image value after normalisation.
    """

    def __init__(self, *, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, pad_size_divisor: int = 32,
                 pad_value: float = 0, bgr_to_rgb: bool = False,
                 non_blocking: bool = False) -> None:
        if pad_size_divisor < 1:
            raise ValueError(f'pad_size_divisor must be >= 1, got {pad_size_divisor}')
        super().__init__(mean=mean, std=std, pad_size_divisor=pad_size_divisor,
                         pad_value=pad_value, bgr_to_rgb=bgr_to_rgb, non_blocking=non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        size = tuple(data['inputs'].shape[-2:])
        for sample in data.get('data_samples') or ():
            sample.set_metainfo(dict(batch_input_shape=size, pad_shape=size))
        return data
