"""Keypoint errors of top-down predictions: end-point error (mmpose ``EPE``) and normalised mean
error (mmpose ``NME``), from open-mmlab/mmpose:mmpose/evaluation/metrics/keypoint_2d_metrics.py."""
from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from hrnet_train.registry import METRICS
from hrnet_train.utils.arrays import to_numpy
from hrnet_train.utils.errors import ConfigError, DataError

from ..functional.pck import (
    compute_keypoint_epe,
    compute_keypoint_nme,
    compute_keypoint_pair_distance,
)
from .pck_accuracy import _read_keypoints, _stack_keypoints

_NORM_MODES = ('use_norm_item', 'keypoint_distance')

# mmpose NME.DEFAULT_KEYPOINT_INDICES, keyed by dataset_meta['dataset_name']
_DEFAULT_KEYPOINT_INDICES = MappingProxyType({
    'horse10': (0, 1),  # nose and eye
    '300w': (36, 45),  # right-most and left-most eye corners
    'coco_wholebody_face': (36, 45),  # right-most and left-most eye corners
    'cofw': (8, 9),  # right-most and left-most eye corners
    'wflw': (60, 72),  # right-most and left-most eye corners
})


def _warn_if_nothing_counted(owner: str, mask: np.ndarray) -> None:
    if not mask.any():
        print_log(f'{owner}: no labelled keypoint to evaluate; the error is reported as 0 '
                  '(mmpose)', logger='current', level=logging.WARNING)


@METRICS.register_module()
class EPE(BaseMetric):
    """Mean end-point error in image pixels over the labelled keypoints (mmpose ``EPE``).

    ``process`` reads the same data-sample fields as :class:`PCKAccuracy` except ``bbox``. The GT
    must be real annotations: boxes from a detector file carry placeholder keypoints.

    Args:
        collect_device: see mmengine ``BaseMetric``.
        prefix: key prefix; defaults to ``'epe'`` (key ``epe/epe``, as mmpose).
    """

    default_prefix: Optional[str] = 'epe'

    def __init__(self, *, collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store pred, GT (image pixels) and visibility per sample."""
        for sample in data_samples:
            pred, gt, mask = _read_keypoints(sample, type(self).__name__)
            self.results.append(dict(pred=pred, gt=gt, mask=mask))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Return ``{'epe': mean distance in pixels}``; 0 without a labelled keypoint (mmpose)."""
        if not results:
            _warn_if_nothing_counted(type(self).__name__, np.zeros(0, bool))
            return {'epe': 0.0}
        pred, gt, mask = _stack_keypoints(results)
        _warn_if_nothing_counted(type(self).__name__, mask)
        return {'epe': compute_keypoint_epe(pred, gt, mask)}


@METRICS.register_module()
class NME(BaseMetric):
    """Normalised mean error over the labelled keypoints (mmpose ``NME``).

    The error of each keypoint is divided by a per-instance normaliser in image pixels, then
    averaged over all counted keypoints (see :func:`compute_keypoint_nme`). The normaliser is
    chosen by ``norm_mode``:

    - ``'keypoint_distance'``: the GT distance between the two keypoints ``keypoint_indices``, e.g.
      the outer eye corners (inter-ocular NME). Without ``keypoint_indices`` the pair comes from
      ``dataset_meta['dataset_name']`` as in mmpose: horse10 (0, 1), 300w and
      coco_wholebody_face (36, 45), cofw (8, 9), wflw (60, 72).
    - ``'use_norm_item'``: the number stored under the data-sample key ``norm_item`` (mmpose's
      AFLW configs use ``norm_item='bbox_size'``, the annotation's face box size). The dataset has
      to provide it and ``PackPoseInputs(meta_keys=...)`` has to pack it; ``CocoKeypointDataset``
      does not produce such a key, so this mode needs a dataset that does.

    As in mmpose, an instance whose normaliser is 0 (e.g. both eye corners unlabelled at (0, 0))
    is left out, with a warning here; the normaliser is not checked against the visibility of the
    two keypoints. ``process`` reads the same data-sample fields as :class:`PCKAccuracy` except
    ``bbox``, plus ``norm_item`` in that mode. The GT must be real annotations.

    Args:
        norm_mode: ``'keypoint_distance'`` or ``'use_norm_item'``.
        norm_item: data-sample key of the normaliser (image pixels); ``'use_norm_item'`` only.
        keypoint_indices: the two keypoint indices; ``'keypoint_distance'`` only.
        collect_device: see mmengine ``BaseMetric``.
        prefix: key prefix; defaults to ``'nme'``. Keys are mmpose's: ``nme/@<norm_item>`` or
            ``nme/@[i, j]``.
    """

    default_prefix: Optional[str] = 'nme'
    DEFAULT_KEYPOINT_INDICES = _DEFAULT_KEYPOINT_INDICES

    def __init__(self,
                 norm_mode: str,
                 *,
                 norm_item: Optional[str] = None,
                 keypoint_indices: Optional[Sequence[int]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if norm_mode not in _NORM_MODES:
            raise ConfigError(f'norm_mode: expected one of {_NORM_MODES}, got {norm_mode!r}')
        if norm_mode == 'use_norm_item':
            if not isinstance(norm_item, str) or not norm_item:
                raise ConfigError("norm_item: expected a data-sample key (e.g. 'bbox_size') with "
                                  f"norm_mode='use_norm_item', got {norm_item!r}")
            if keypoint_indices is not None:
                raise ConfigError("keypoint_indices: only used with norm_mode='keypoint_distance', "
                                  f'got {keypoint_indices!r}')
        else:
            if norm_item is not None:
                raise ConfigError("norm_item: only used with norm_mode='use_norm_item', got "
                                  f'{norm_item!r}')
            if keypoint_indices is not None:
                keypoint_indices = tuple(keypoint_indices)
                if len(keypoint_indices) != 2 or not all(
                        isinstance(i, int) and not isinstance(i, bool) and i >= 0
                        for i in keypoint_indices):
                    raise ConfigError('keypoint_indices: expected two keypoint indices >= 0, got '
                                      f'{keypoint_indices!r}')
        self.norm_mode = norm_mode
        self.norm_item = norm_item
        self.keypoint_indices = keypoint_indices

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store pred, GT (image pixels), visibility and, with ``norm_item``, the normaliser."""
        owner = type(self).__name__
        for sample in data_samples:
            pred, gt, mask = _read_keypoints(sample, owner)
            record = dict(pred=pred, gt=gt, mask=mask)
            if self.norm_mode == 'use_norm_item':
                if self.norm_item not in sample:
                    raise KeyError(f'{owner}.process: data sample lacks {self.norm_item!r} '
                                   '(norm_item); the dataset must provide it and '
                                   'PackPoseInputs meta_keys must include it')
                norm = to_numpy(sample[self.norm_item]).astype(np.float64).reshape(-1)
                if norm.size != 1:
                    raise DataError(f'{owner}.process: {self.norm_item!r} (norm_item): expected '
                                    f'one number per instance, got shape {norm.shape}')
                record['norm'] = float(norm[0])
            self.results.append(record)

    def resolve_keypoint_indices(self) -> tuple[int, int]:
        """``keypoint_indices``, or mmpose's default pair for ``dataset_meta['dataset_name']``."""
        if self.keypoint_indices is not None:
            return self.keypoint_indices
        name = (self.dataset_meta or {}).get('dataset_name')
        if name not in self.DEFAULT_KEYPOINT_INDICES:
            raise ConfigError(f'keypoint_indices: required for dataset_name {name!r}; defaults '
                              f'exist for {tuple(self.DEFAULT_KEYPOINT_INDICES)}')
        return self.DEFAULT_KEYPOINT_INDICES[name]

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Return ``{'@<norm_item>' or '@[i, j]': NME}`` (mmpose's keys), a fraction of the
        normaliser; 0 when no keypoint is counted (mmpose)."""
        owner = type(self).__name__
        if self.norm_mode == 'use_norm_item':
            key = f'@{self.norm_item}'
        else:
            indices = self.resolve_keypoint_indices()
            key = f'@{list(indices)}'
        if not results:
            _warn_if_nothing_counted(owner, np.zeros(0, bool))
            return {key: 0.0}
        pred, gt, mask = _stack_keypoints(results)
        if self.norm_mode == 'use_norm_item':
            norm = np.array([r['norm'] for r in results])  # (N,)
        else:
            num_kpts = gt.shape[1]
            if max(indices) >= num_kpts:
                raise ConfigError(f'keypoint_indices: expected indices < {num_kpts} (the number '
                                  f'of keypoints), got {list(indices)}')
            norm = compute_keypoint_pair_distance(gt, indices)  # (N,)
        no_norm = ~(norm > 0)
        if no_norm.any():
            print_log(f'{owner}: {int(no_norm.sum())} of {len(norm)} instances have a zero '
                      'normaliser and are left out (mmpose)', logger='current',
                      level=logging.WARNING)
        _warn_if_nothing_counted(owner, mask[~no_norm])
        return {key: compute_keypoint_nme(pred, gt, mask, norm)}
