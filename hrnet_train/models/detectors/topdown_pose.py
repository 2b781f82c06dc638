"""Top-down pose estimator: HRNet (V1) + heatmap head, with the official flip test."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from hrnet_train.evaluation.functional.pck import heatmap_pck_accuracy
from hrnet_train.models.utils.channels import describe, fill_in_channels
from hrnet_train.models.utils.modes import forward_by_mode
from hrnet_train.registry import KEYPOINT_CODECS, MODELS
from hrnet_train.structures import apply_affine, invert_affine
from hrnet_train.utils.errors import ConfigError

_TEST_CFG_KEYS = frozenset({'flip_test', 'shift_heatmap'})


def _shift_right(x: Tensor, n: int) -> Tensor:
    """Shift the last axis ``n`` pixels right, repeating column 0 into the gap."""
    if n == 0:
        return x
    return torch.cat([x[..., :1].expand(*x.shape[:-1], n), x[..., :-n]], dim=-1)


def flip_heatmaps(heatmaps: Tensor, flip_indices: Sequence[int], *,
                  shift: Union[float, bool] = 1.0) -> Tensor:
    """Map heatmaps predicted on a horizontally flipped input back to the original frame.

    Flips the width axis, swaps left/right channels with ``flip_indices`` and moves the map
    ``shift`` heatmap pixels right. ``shift=1`` (or True) is the official SHIFT_HEATMAP
    (``out[..., 1:] = out[..., :-1]``, column 0 kept); a fractional shift interpolates linearly
    between the two neighbouring whole-pixel shifts. The exact shift depends on the codec's
    geometry: its ``flip_shift`` (1 for MSRA, ``1 - 1/stride`` for DARK, 0 for UDP).

    Args:
        heatmaps: (N, K, h, w) output on flipped inputs.
        flip_indices: K ints, the keypoint index each channel swaps with.
        shift: heatmap pixels, in [0, w); True = 1, False = 0.

    Returns:
        (N, K, h, w) heatmaps in the un-flipped frame.
    """
    if len(flip_indices) != heatmaps.shape[1]:
        raise ValueError(f'flip_indices has {len(flip_indices)} entries for '
                         f'{heatmaps.shape[1]} keypoints')
    shift = float(shift)
    if not 0 <= shift < heatmaps.shape[-1]:
        raise ValueError(f'shift must be in [0, {heatmaps.shape[-1]}) heatmap pixels, got {shift}')
    out = heatmaps.flip(-1)[:, list(flip_indices)]
    whole = int(math.floor(shift))
    frac = shift - whole
    shifted = _shift_right(out, whole)
    if frac == 0:
        return shifted
    return (1 - frac) * shifted + frac * _shift_right(out, whole + 1)


@MODELS.register_module()
class TopdownPoseEstimator(BaseModel):
    """HRNet top-down pose model.

    Args:
        backbone: ``HRNet`` config, normally with ``multi_scale_output=False``.
        head: ``HeatmapHead`` config (``num_keypoints`` = K of the dataset meta). Without
            ``in_channels`` the head takes the backbone's stride-4 width, so changing
            ``backbone.arch`` alone switches the model.
        loss: ``KeypointMSELoss`` (default) or ``KeypointOHKMMSELoss`` config.
        codec: ``MSRAHeatmap`` / ``UDPHeatmap`` config; decodes predictions.
        test_cfg: ``flip_test`` (default True) and ``shift_heatmap``: True (default) shifts the
            flipped-back heatmap by the codec's exact ``flip_shift`` (MSRA: the official 1 px;
            DARK: 0.75 px at stride 4; UDP: 0), False not at all, a number by that many
            heatmap pixels.
        data_preprocessor: e.g. ``dict(type='ImgDataPreprocessor', mean=..., std=...)``.

    Data samples (see docs/architecture.md): training reads ``gt_heatmaps`` (K, h, w) and
    ``keypoint_weights`` (K,); prediction reads metainfo ``warp_matrix`` ((2, 3), image px ->
    input px, from ``TopdownAffine``) and ``flip_indices``, and fills ``pred_keypoints`` (K, 2)
    image px (decoded input px mapped through the exact inverse of ``warp_matrix``, for every
    codec and warp) and ``pred_keypoint_scores`` (K,).
    """

    def __init__(self, backbone: dict, head: dict, codec: dict, *,
                 loss: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        out_channels = getattr(self.backbone, 'out_channels', None)
        if out_channels is not None:  # the head reads the stride-4 branch
            head = fill_in_channels(head, out_channels[0], key='model.head',
                                    source=f'{describe(self.backbone)} at stride 4')
        self.head = MODELS.build(head)
        self.loss_module = MODELS.build(loss if loss is not None else
                                        dict(type='KeypointMSELoss', use_target_weight=True))
        self.codec = KEYPOINT_CODECS.build(codec)
        unknown = set(test_cfg or {}) - _TEST_CFG_KEYS
        if unknown:
            raise ConfigError(f'model.test_cfg: unknown keys {sorted(unknown)}; expected a '
                              f'subset of {sorted(_TEST_CFG_KEYS)}')
        self.test_cfg = dict(flip_test=True, shift_heatmap=True)
        self.test_cfg.update(test_cfg or {})

    def check_dataset_meta(self, meta: dict, *, split: str = 'dataset') -> None:
        """Raise ConfigError when the dataset's keypoints do not fit the head."""
        num = meta.get('num_keypoints')
        if num is not None and int(num) != self.head.num_keypoints:
            raise ConfigError(f'model.head.num_keypoints={self.head.num_keypoints} but the '
                              f'{split} has {num} keypoints (metainfo keypoint_names); set '
                              f'model.head.num_keypoints={num}')

    def _forward(self, inputs: Tensor) -> Tensor:
        """(N, 3, H, W) normalised images -> (N, K, H/4, W/4) heatmaps."""
        return self.head(self.backbone(inputs))

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        return forward_by_mode(self, inputs, data_samples, mode)

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        """Returns ``loss_kpt`` and the PCK accuracy ``acc_pose`` (not back-propagated)."""
        pred = self._forward(inputs)
        target = torch.stack([ds.gt_heatmaps for ds in data_samples]).to(pred)
        weights = torch.stack([ds.keypoint_weights for ds in data_samples]).to(pred)
        loss = self.loss_module(pred, target, weights)
        # float(): under bf16/fp16 autocast the head output is half precision, which numpy lacks
        _, avg_acc, _ = heatmap_pck_accuracy(pred.detach().float().cpu().numpy(),
                                             target.float().cpu().numpy(),
                                             weights.float().cpu().numpy() > 0)
        return dict(loss_kpt=loss, acc_pose=torch.tensor(float(avg_acc), device=pred.device))

    @torch.no_grad()
    def predict_heatmaps(self, inputs: Tensor, flip_indices: Optional[Sequence[int]]) -> Tensor:
        """Heatmaps with the official flip test (average with the flipped-back prediction)."""
        heatmaps = self._forward(inputs)
        if self.test_cfg.get('flip_test', True):
            if flip_indices is None:
                raise ValueError('flip test needs flip_indices in the data samples '
                                 '(dataset meta) or test_cfg.flip_test=False')
            flipped = self._forward(inputs.flip(-1))
            heatmaps = 0.5 * (heatmaps + flip_heatmaps(flipped, flip_indices,
                                                       shift=self.flip_shift))
        return heatmaps

    @property
    def flip_shift(self) -> float:
        """Heatmap pixels the flip test shifts by (``test_cfg.shift_heatmap``, see the class)."""
        shift = self.test_cfg.get('shift_heatmap', True)
        if shift is True:
            return float(self.codec.flip_shift)
        return float(shift)

    def predict(self, inputs: Tensor, data_samples: Optional[list]) -> list:
        data_samples = data_samples or [BaseDataElement() for _ in range(len(inputs))]
        flip_indices = data_samples[0].metainfo.get('flip_indices') if data_samples else None
        heatmaps = self.predict_heatmaps(inputs, flip_indices)
        keypoints, scores = self.codec.decode_batch(heatmaps.float().cpu().numpy())
        for i, ds in enumerate(data_samples):
            meta = ds.metainfo
            kpts = keypoints[i]
            if 'warp_matrix' in meta:
                kpts = apply_affine(kpts, invert_affine(meta['warp_matrix']))
            elif 'bbox_center' in meta:
                raise KeyError('predict: the data samples carry bbox_center but no warp_matrix '
                               '(image -> input); keep "warp_matrix" in PackPoseInputs.meta_keys')
            ds.set_field(kpts.astype(np.float32), 'pred_keypoints')
            ds.set_field(scores[i].astype(np.float32), 'pred_keypoint_scores')
        return data_samples

