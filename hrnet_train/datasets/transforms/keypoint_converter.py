"""Remap keypoints from one dataset's layout to another's, for mixed-dataset training."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from hrnet_train.registry import TRANSFORMS
from hrnet_train.utils.errors import ConfigError


@TRANSFORMS.register_module()
class KeypointConverter(BaseTransform):
    """Move each source keypoint to its target index; target joints nobody maps to stay empty.

    mmpose's ``KeypointConverter`` (mmpose/datasets/transforms/converting.py), for 2D keypoints.
    With ``mapping`` [(s, t), ...], target joint t takes source joint s: its (x, y) and its
    visibility. Unmapped target joints get (0, 0) and visibility 0, so the codec gives them zero
    weight. The per-keypoint keys that later transforms read are rewritten in the target layout,
    derived from the source through the mapping: ``flip_indices`` (t swaps with the target of
    s's partner; unmapped joints with themselves), ``upper_body_ids`` / ``lower_body_ids`` (the
    targets of the source ids) and ``joint_weights`` (the source weight; 1 where unmapped).
    Inside ``CombinedDataset`` these keys are then replaced by the combined dataset's metainfo.

    Reads:   keypoints (K_src, 2) or (N, K_src, 2) pixels, keypoints_visible (K_src,) or
             (N, K_src) (optional, default ones), flip_indices, upper_body_ids, lower_body_ids,
             joint_weights (each optional)
    Changes: keypoints -> (..., K, 2) float32; keypoints_visible -> (..., K) float32;
             flip_indices, upper_body_ids, lower_body_ids, joint_weights -> target layout (those
             present)

    Args:
        num_keypoints: K, the number of target keypoints.
        mapping: (source_index, target_index) pairs; targets in [0, K) without repeats, sources
            >= 0 without repeats (checked against K_src on each sample).

    Raises:
        ConfigError: a bad mapping, or one that maps a source joint but not its flip partner
            (the flipped sample would put a left joint on a right channel).
    """

    def __init__(self, num_keypoints: int, mapping: Sequence[Sequence[int]]) -> None:
        if int(num_keypoints) != num_keypoints or num_keypoints <= 0:
            raise ConfigError(f'KeypointConverter: num_keypoints must be a positive int, got '
                              f'{num_keypoints!r}')
        pairs = []
        for pair in mapping:
            if len(pair) != 2 or any(int(i) != i for i in pair):
                raise ConfigError(f'KeypointConverter: mapping entries must be (source_index, '
                                  f'target_index) int pairs, got {pair!r}')
            pairs.append((int(pair[0]), int(pair[1])))
        if not pairs:
            raise ConfigError('KeypointConverter: mapping is empty')
        src = np.array([s for s, _ in pairs], dtype=np.int64)
        tgt = np.array([t for _, t in pairs], dtype=np.int64)
        bad = [t for t in tgt.tolist() if not 0 <= t < num_keypoints]
        if bad:
            raise ConfigError(f'KeypointConverter: mapping target indices {bad} are outside '
                              f'[0, num_keypoints={num_keypoints})')
        if (src < 0).any():
            raise ConfigError(f'KeypointConverter: mapping source indices must be >= 0, got '
                              f'{src[src < 0].tolist()}')
        for name, ids in (('target', tgt), ('source', src)):
            values, counts = np.unique(ids, return_counts=True)
            if (counts > 1).any():
                raise ConfigError(f'KeypointConverter: mapping repeats {name} indices '
                                  f'{values[counts > 1].tolist()}')
        self.num_keypoints = int(num_keypoints)
        self.mapping = tuple(pairs)
        self._src, self._tgt = src, tgt

    def _check_source(self, num_src: int, key: str) -> None:
        if self._src.max() >= num_src:
            raise ConfigError(f'KeypointConverter: mapping source index {int(self._src.max())} '
                              f'is outside the sample\'s {num_src} keypoints ("{key}")')

    def _target_flip_indices(self, src_flip: Sequence[int]) -> list[int]:
        src_to_tgt = dict(zip(self._src.tolist(), self._tgt.tolist()))
        flip = list(range(self.num_keypoints))
        for s, t in zip(self._src.tolist(), self._tgt.tolist()):
            partner = int(src_flip[s])
            if partner not in src_to_tgt:
                raise ConfigError(f'KeypointConverter: mapping maps source joint {s} but not its '
                                  f'flip partner {partner}; map both or neither')
            flip[t] = src_to_tgt[partner]
        return flip

    def transform(self, results: dict) -> dict:
        kpts = np.asarray(results['keypoints'], dtype=np.float32)
        if kpts.ndim not in (2, 3) or kpts.shape[-1] != 2:
            raise ValueError(f'KeypointConverter: keypoints must be (K, 2) or (N, K, 2), got '
                             f'{kpts.shape}')
        num_src = kpts.shape[-2]
        self._check_source(num_src, 'keypoints')
        visible = results.get('keypoints_visible')
        visible = (np.ones(kpts.shape[:-1], np.float32) if visible is None
                   else np.asarray(visible, dtype=np.float32))
        if visible.shape != kpts.shape[:-1]:
            raise ValueError(f'KeypointConverter: keypoints_visible {visible.shape} does not '
                             f'match keypoints {kpts.shape}')
        out = np.zeros(kpts.shape[:-2] + (self.num_keypoints, 2), np.float32)
        out_vis = np.zeros(kpts.shape[:-2] + (self.num_keypoints,), np.float32)
        out[..., self._tgt, :] = kpts[..., self._src, :]
        out_vis[..., self._tgt] = visible[..., self._src]
        results['keypoints'], results['keypoints_visible'] = out, out_vis

        src_to_tgt = dict(zip(self._src.tolist(), self._tgt.tolist()))
        if results.get('flip_indices') is not None:
            results['flip_indices'] = self._target_flip_indices(results['flip_indices'])
        for key in ('upper_body_ids', 'lower_body_ids'):
            if results.get(key) is not None:
                results[key] = [src_to_tgt[int(i)] for i in results[key] if int(i) in src_to_tgt]
        if results.get('joint_weights') is not None:
            src_w = np.asarray(results['joint_weights'], dtype=np.float32)
            weights = np.ones(self.num_keypoints, np.float32)
            weights[self._tgt] = src_w[self._src]
            results['joint_weights'] = weights
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_keypoints={self.num_keypoints}, '
                f'mapping={list(self.mapping)})')
