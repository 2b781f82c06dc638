"""Top-down pose estimator: HRNet (V1) + heatmap head, with the official flip test."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from hrnet_train.registry import KEYPOINT_CODECS, MODELS


def flip_heatmaps(heatmaps: Tensor, flip_indices: Sequence[int], *, shift: bool = True) -> Tensor:
    """Map heatmaps predicted on a horizontally flipped input back to the original frame.

    Flips the width axis, swaps left/right channels with ``flip_indices`` and, with ``shift``,
    moves the map one pixel right (official SHIFT_HEATMAP: ``out[..., 1:] = out[..., :-1]``), which
    compensates the one-pixel misalignment of flipping an even-width map at stride 4.

    Args:
        heatmaps: (N, K, h, w) output on flipped inputs.
        flip_indices: K ints, the keypoint index each channel swaps with.

    Returns:
        (N, K, h, w) heatmaps in the un-flipped frame.
    """
    if len(flip_indices) != heatmaps.shape[1]:
        raise ValueError(f'flip_indices has {len(flip_indices)} entries for '
                         f'{heatmaps.shape[1]} keypoints')
    out = heatmaps.flip(-1)[:, list(flip_indices)]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out


def keypoints_to_image(keypoints: np.ndarray, input_size: Sequence[int], center: np.ndarray,
                       scale: np.ndarray) -> np.ndarray:
    """Map keypoints from input pixels back to image pixels (no rotation at test time).

    Args:
        keypoints: (K, 2) (x, y) in input pixels.
        input_size: model input (w, h).
        center: (2,) box centre in image pixels.
        scale: (2,) box size (w, h) in image pixels, aspect ratio equal to the input's.

    Returns:
        (K, 2) float32 image pixels: ``kp / input_size * scale + center - scale / 2``.
    """
    input_size = np.asarray(input_size, dtype=np.float32)
    center = np.asarray(center, dtype=np.float32).reshape(2)
    scale = np.asarray(scale, dtype=np.float32).reshape(2)
    return (keypoints / input_size * scale + center - 0.5 * scale).astype(np.float32)


@MODELS.register_module()
class TopdownPoseEstimator(BaseModel):
    """HRNet top-down pose model.

    Args:
        backbone: ``HRNet`` config, normally with ``multi_scale_output=False``.
        head: ``HeatmapHead`` config (``num_keypoints`` = K of the dataset meta).
        loss: ``KeypointMSELoss`` (default) or ``KeypointOHKMMSELoss`` config.
        codec: ``MSRAHeatmap`` / ``UDPHeatmap`` config; decodes predictions.
        test_cfg: ``flip_test`` (default True) and ``shift_heatmap`` (default True; False for UDP).
        data_preprocessor: e.g. ``dict(type='ImgDataPreprocessor', mean=..., std=...)``.

    Data samples (see docs/architecture.md): training reads ``gt_heatmaps`` (K, h, w) and
    ``keypoint_weights`` (K,); prediction reads metainfo ``bbox_center``, ``bbox_scale`` (image px,
    aspect-fixed), ``input_size``, ``flip_indices`` and fills ``pred_keypoints`` (K, 2) image px and
    ``pred_keypoint_scores`` (K,).
    """

    def __init__(self, backbone: dict, head: dict, codec: dict, *,
                 loss: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.loss_module = MODELS.build(loss if loss is not None else
                                        dict(type='KeypointMSELoss', use_target_weight=True))
        self.codec = KEYPOINT_CODECS.build(codec)
        self.test_cfg = dict(flip_test=True, shift_heatmap=True)
        self.test_cfg.update(test_cfg or {})

    def _forward(self, inputs: Tensor) -> Tensor:
        """(N, 3, H, W) normalised images -> (N, K, H/4, W/4) heatmaps."""
        return self.head(self.backbone(inputs))

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[Tensor, dict, list]:
        if mode == 'tensor':
            return self._forward(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got '{mode}'")

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        """Returns ``loss_kpt`` and the PCK accuracy ``acc_pose`` (not back-propagated)."""
        from hrnet_train.evaluation.functional.pck import heatmap_pck_accuracy
        pred = self._forward(inputs)
        target = torch.stack([ds.gt_heatmaps for ds in data_samples]).to(pred)
        weights = torch.stack([ds.keypoint_weights for ds in data_samples]).to(pred)
        loss = self.loss_module(pred, target, weights)
        _, avg_acc, _ = heatmap_pck_accuracy(pred.detach().cpu().numpy(),
                                             target.cpu().numpy(),
                                             weights.cpu().numpy() > 0)
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
            heatmaps = 0.5 * (heatmaps + flip_heatmaps(
                flipped, flip_indices, shift=self.test_cfg.get('shift_heatmap', True)))
        return heatmaps

    def predict(self, inputs: Tensor, data_samples: Optional[list]) -> list:
        data_samples = data_samples or [BaseDataElement() for _ in range(len(inputs))]
        flip_indices = data_samples[0].metainfo.get('flip_indices') if data_samples else None
        heatmaps = self.predict_heatmaps(inputs, flip_indices)
        keypoints, scores = self.codec.decode_batch(heatmaps.float().cpu().numpy())
        input_size = (inputs.shape[-1], inputs.shape[-2])
        for i, ds in enumerate(data_samples):
            meta = ds.metainfo
            kpts = keypoints[i]
            if 'bbox_center' in meta and 'bbox_scale' in meta:
                kpts = keypoints_to_image(kpts, meta.get('input_size', input_size),
                                          meta['bbox_center'], meta['bbox_scale'])
            ds.set_field(kpts.astype(np.float32), 'pred_keypoints')
            ds.set_field(scores[i].astype(np.float32), 'pred_keypoint_scores')
        return data_samples
