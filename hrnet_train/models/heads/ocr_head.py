"""The HRNet + OCR segmentation head (object-contextual representations).

Module and parameter names reproduce HRNet/HRNet-Semantic-Segmentation (branch ``HRNet-OCR``,
@7b0a416) lib/models/seg_hrnet_ocr.py, so the released ``hrnet_ocr_*.pth`` files load key for key
(after ``model.`` is stripped and ``decode_head.`` added, see
:mod:`hrnet_train.models.utils.official_weights`). Paper: Yuan, Chen, Wang, "Object-Contextual
Representations for Semantic Segmentation", ECCV 2020.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from hrnet_train.models.layers import build_norm
from hrnet_train.registry import MODELS


def gather_object_regions(feats: Tensor, region_logits: Tensor) -> Tensor:
    """Soft object-region centres (official ``SpatialGather_Module``, scale 1).

    Each class map is turned into a distribution over the pixels (softmax over H*W, not over the
    classes) and the features are averaged under it. (An older revision of the official file,
    @16af8c9, took the softmax over dim 1, the classes; the released code and openseg.pytorch use
    the pixels.)

    Args:
        feats: (N, C, H, W) pixel representations.
        region_logits: (N, K, H, W) soft object regions (the auxiliary logits).

    Returns:
        (N, C, K, 1) one C-vector per class, laid out as a K x 1 "image" for the 1x1 convs.
    """
    n, c = feats.shape[:2]
    k = region_logits.shape[1]
    if region_logits.shape[0] != n or region_logits.shape[2:] != feats.shape[2:]:
        raise ValueError(f'region_logits {tuple(region_logits.shape)} must be (N, K, H, W) of the '
                         f'features {tuple(feats.shape)}')
    probs = region_logits.reshape(n, k, -1).softmax(dim=2)  # (N, K, H*W), sums to 1 over pixels
    pixels = feats.reshape(n, c, -1).transpose(1, 2)  # (N, H*W, C)
    return torch.matmul(probs, pixels).transpose(1, 2).unsqueeze(3)  # (N, C, K, 1)


def _conv_bn_relu(in_channels: int, out_channels: int, norm_cfg: Optional[dict]) -> list:
    # Official ModuleHelper.BNReLU nests BN + ReLU in their own Sequential: keys `<i>.0.*`.
    return [nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.Sequential(build_norm(norm_cfg, out_channels), nn.ReLU())]


class ObjectAttentionBlock(nn.Module):
    """Pixel-to-region attention (official ``_ObjectAttentionBlock`` with scale 1).

    ``f_pixel`` (query) and ``f_object`` (key) are two conv1x1-BN-ReLU layers, ``f_down``
    (value) and ``f_up`` one each; all convs are bias-free. The similarity is scaled by
    ``key_channels ** -0.5`` and normalised with a softmax over the K regions. The official
    ``pool`` (MaxPool2d with kernel ``scale``) is the identity at scale 1 and has no weights, so it
    is left out; every official config uses scale 1.

    Shapes:
        x: (N, C, H, W) pixels; proxy: (N, C, K, 1) region centres.
        returns: (N, C, H, W) object context per pixel.
    """

    def __init__(self, in_channels: int, key_channels: int, *,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.key_channels = key_channels
        self.f_pixel = nn.Sequential(*_conv_bn_relu(in_channels, key_channels, norm_cfg),
                                     *_conv_bn_relu(key_channels, key_channels, norm_cfg))
        self.f_object = nn.Sequential(*_conv_bn_relu(in_channels, key_channels, norm_cfg),
                                      *_conv_bn_relu(key_channels, key_channels, norm_cfg))
        self.f_down = nn.Sequential(*_conv_bn_relu(in_channels, key_channels, norm_cfg))
        self.f_up = nn.Sequential(*_conv_bn_relu(key_channels, in_channels, norm_cfg))

    def forward(self, x: Tensor, proxy: Tensor) -> Tensor:
        n, _, h, w = x.shape
        query = self.f_pixel(x).reshape(n, self.key_channels, -1).transpose(1, 2)  # (N, HW, D)
        key = self.f_object(proxy).reshape(n, self.key_channels, -1)  # (N, D, K)
        value = self.f_down(proxy).reshape(n, self.key_channels, -1).transpose(1, 2)  # (N, K, D)
        sim = (torch.matmul(query, key) * self.key_channels ** -0.5).softmax(dim=-1)  # (N, HW, K)
        context = torch.matmul(sim, value).transpose(1, 2)  # (N, D, HW)
        return self.f_up(context.reshape(n, self.key_channels, h, w))


class SpatialOCR(nn.Module):
    """Object-contextual representation (official ``SpatialOCR_Module``).

    ``conv_bn_dropout`` = [0] conv1x1 2C -> out_channels **without** bias, [1] BN + ReLU, [2]
    Dropout2d. Its input is ``cat([context, feats])``, context first (the order matters for the
    released weights).

    Shapes:
        feats: (N, C, H, W); proxy: (N, C, K, 1). returns: (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, key_channels: int, out_channels: int, *,
                 dropout: float = 0.05, norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        self.object_context_block = ObjectAttentionBlock(in_channels, key_channels,
                                                         norm_cfg=norm_cfg)
        self.conv_bn_dropout = nn.Sequential(
            *_conv_bn_relu(2 * in_channels, out_channels, norm_cfg), nn.Dropout2d(dropout))

    def forward(self, feats: Tensor, proxy: Tensor) -> Tensor:
        context = self.object_context_block(feats, proxy)
        return self.conv_bn_dropout(torch.cat([context, feats], dim=1))


@MODELS.register_module()
class OCRHead(nn.Module):
    """HRNet + OCR head on the concatenated HRNetV2 representation (``HRNetV2Concat``).

    Official structure and names (HRNet/HRNet-Semantic-Segmentation@7b0a416:
    lib/models/seg_hrnet_ocr.py, ``HighResolutionNet.__init__`` / ``forward``):

    - ``aux_head``: [0] conv1x1 in -> in with bias, [1] norm, [2] ReLU, [3] conv1x1 in -> K with
      bias: the soft object regions (auxiliary logits);
    - ``conv3x3_ocr``: [0] conv3x3 in -> ``channels`` with bias, [1] norm, [2] ReLU;
    - ``ocr_gather_head``: :func:`gather_object_regions` (no parameters);
    - ``ocr_distri_head``: :class:`SpatialOCR` (key channels 256, dropout 0.05);
    - ``cls_head``: conv1x1 ``channels`` -> K with bias.

    Init: the official ``init_weights`` skips every module whose name contains ``cls``, ``aux``
    or ``ocr``, so the head keeps PyTorch's default init (kaiming-uniform convs, BN 1/0); so does
    this one. Defaults follow lib/config/default.py ``MODEL.OCR`` (MID_CHANNELS 512,
    KEY_CHANNELS 256, DROPOUT 0.05; SCALE 1 is the only value the model supports). The official
    norm is SyncBN with PyTorch's default momentum 0.1 (``lib/models/bn_helper.py``).

    Args:
        in_channels: channels of the representation (15C: 720 for W48, 240 for small-v1).
        num_classes: K.
        channels: OCR width (``MODEL.OCR.MID_CHANNELS``), 512.
        key_channels: attention width (``MODEL.OCR.KEY_CHANNELS``), 256.
        dropout: ``Dropout2d`` probability after the fusion conv (official 0.05).
        norm_cfg: mmcv norm config for every norm of the head; default BN, momentum 0.1.

    Shapes:
        x: (N, in_channels, H, W), stride 4.
        returns: ``[aux_logits, logits]``, both (N, K, H, W) at stride 4; the last one is the
        prediction (official ``TEST.OUTPUT_INDEX = -1``).
    """

    num_outputs = 2

    def __init__(self, in_channels: int, num_classes: int, *, channels: int = 512,
                 key_channels: int = 256, dropout: float = 0.05,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        for name, value in (('in_channels', in_channels), ('num_classes', num_classes),
                            ('channels', channels), ('key_channels', key_channels)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f'dropout must be in [0, 1), got {dropout}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.channels = channels
        self.key_channels = key_channels
        self.aux_head = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 1, bias=True),
            build_norm(norm_cfg, in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, num_classes, 1, bias=True),
        )
        self.conv3x3_ocr = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=True),
            build_norm(norm_cfg, channels),
            nn.ReLU(inplace=True),
        )
        self.ocr_distri_head = SpatialOCR(channels, key_channels, channels, dropout=dropout,
                                          norm_cfg=norm_cfg)
        self.cls_head = nn.Conv2d(channels, num_classes, 1, bias=True)

    def ocr_gather_head(self, feats: Tensor, region_logits: Tensor) -> Tensor:
        """The official submodule name of the parameter-free gather step."""
        return gather_object_regions(feats, region_logits)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'expected input (N, {self.in_channels}, H, W), got {tuple(x.shape)}')
        aux_logits = self.aux_head(x)  # (N, K, H, W)
        feats = self.conv3x3_ocr(x)  # (N, channels, H, W)
        regions = self.ocr_gather_head(feats, aux_logits)  # (N, channels, K, 1)
        feats = self.ocr_distri_head(feats, regions)  # (N, channels, H, W)
        return [aux_logits, self.cls_head(feats)]
