"""Several pose datasets in one target keypoint layout: mixed-dataset training (COCO + AIC)."""
from __future__ import annotations

import bisect
import copy
from collections.abc import Mapping, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from hrnet_train.registry import DATASETS, TRANSFORMS
from hrnet_train.utils.errors import ConfigError, DataError

from .coco_keypoints import parse_pose_metainfo
from .transforms.keypoint_converter import KeypointConverter

# Per-sample meta keys the pose transforms read (RandomFlip, RandomHalfBody, GenerateTarget),
# set from the combined metainfo on every sample.
_TARGET_META_KEYS = ('flip_indices', 'upper_body_ids', 'lower_body_ids', 'joint_weights')


def resolve_pose_metainfo(metainfo: Mapping) -> dict:
    """The target layout: ``dict(from_dataset='Name', **overrides)`` or an explicit metainfo.

    ``from_dataset`` names a registered dataset class whose ``METAINFO`` is taken (overrides
    applied on top); the result goes through :func:`parse_pose_metainfo`.
    """
    meta = copy.deepcopy(dict(metainfo))
    name = meta.pop('from_dataset', None)
    if name is not None:
        cls = DATASETS.get(name)
        if cls is None or not isinstance(getattr(cls, 'METAINFO', None), Mapping):
            raise ConfigError(f'CombinedDataset: metainfo from_dataset={name!r} is not a '
                              'registered pose dataset with a METAINFO (e.g. '
                              "'CocoKeypointDataset')")
        meta = dict(copy.deepcopy(dict(cls.METAINFO)), **meta)
    try:
        return parse_pose_metainfo(meta)
    except ValueError as e:
        raise ConfigError(f'CombinedDataset: metainfo: {e}') from None


@DATASETS.register_module()
class CombinedDataset(BaseDataset):
    """Concatenation of pose datasets whose samples are converted to one keypoint layout.

    mmpose ``CombinedDataset`` (mmpose/datasets/dataset_wrappers.py). Sample ``i`` comes from
    the sub-dataset it falls in (lengths add up, in order). The sub-dataset's own pipeline runs
    first (typically only a :class:`KeypointConverter` to the target layout); then
    ``flip_indices``, ``upper_body_ids``, ``lower_body_ids`` and ``joint_weights`` are set from
    the combined ``metainfo``, ``dataset_index`` (int) names the sub-dataset, and the shared
    ``pipeline`` runs.

    Args:
        metainfo: the target layout, e.g. ``dict(from_dataset='CocoKeypointDataset')``, or an
            explicit pose metainfo (``keypoint_names``, ``flip_indices``, ``sigmas``, ...).
        datasets: sub-dataset configs (built with ``DATASETS``) or dataset objects.
        pipeline: transforms applied to every sample after its sub-dataset's pipeline.
        test_mode, lazy_init, max_refetch: as mmengine ``BaseDataset``.

    Raises:
        ConfigError: no sub-dataset; a bad ``metainfo``; a sub-dataset whose keypoint count
            after its pipeline (its last ``KeypointConverter``'s ``num_keypoints``, else its
            metainfo ``num_keypoints``) differs from the target's.
        DataError: a sample whose keypoints do not have the target count (a pipeline that
            changed it some other way).
    """

    def __init__(self, metainfo: Mapping, datasets: Sequence, pipeline: Sequence = (),
                 test_mode: bool = False, *, lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        if not datasets:
            raise ConfigError('CombinedDataset: datasets is empty (give sub-dataset configs)')
        self.datasets = [DATASETS.build(dict(d)) if isinstance(d, Mapping) else d
                         for d in datasets]
        pipeline = [TRANSFORMS.build(dict(t)) if isinstance(t, Mapping) else t for t in pipeline]
        super().__init__(metainfo=metainfo, pipeline=pipeline, test_mode=test_mode,
                         lazy_init=True, max_refetch=max_refetch)
        self._check_keypoint_counts()
        if not lazy_init:
            self.full_init()

    @classmethod
    def _load_metainfo(cls, metainfo: Mapping | None = None) -> dict:
        if metainfo is None:
            raise ConfigError("CombinedDataset: metainfo is required, e.g. "
                              "dict(from_dataset='CocoKeypointDataset')")
        return resolve_pose_metainfo(metainfo)

    def _describe(self, i: int) -> str:
        ds = self.datasets[i]
        ann = getattr(ds, 'ann_file', '')
        return f'datasets[{i}] ({type(ds).__name__}{", " + ann if ann else ""})'

    def _check_keypoint_counts(self) -> None:
        target = self._metainfo['num_keypoints']
        for i, ds in enumerate(self.datasets):
            transforms = getattr(getattr(ds, 'pipeline', None), 'transforms', [])
            converters = [t for t in transforms if isinstance(t, KeypointConverter)]
            num = (converters[-1].num_keypoints if converters
                   else getattr(ds, 'metainfo', {}).get('num_keypoints'))
            if num is not None and num != target:
                raise ConfigError(
                    f'CombinedDataset: {self._describe(i)} yields {num} keypoints after its '
                    f'pipeline, the combined metainfo has {target}; add a KeypointConverter('
                    f'num_keypoints={target}, mapping=...) to its pipeline')

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        for ds in self.datasets:
            ds.full_init()
        self._cumulative = np.cumsum([len(ds) for ds in self.datasets]).tolist()
        self._fully_initialized = True

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return self._cumulative[-1]

    def locate(self, idx: int) -> tuple[int, int]:
        """(sub-dataset index, sample index in it) of combined sample ``idx``."""
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f'CombinedDataset: index {idx} out of range for length {n}')
        idx %= n
        i = bisect.bisect_right(self._cumulative, idx)
        return i, idx - (self._cumulative[i - 1] if i else 0)

    def get_data_info(self, idx: int) -> dict:
        """Sample ``idx`` after its sub-dataset's pipeline, with the target meta keys set."""
        i, j = self.locate(idx)
        info = self.datasets[i][j]
        kpts = info.get('keypoints') if isinstance(info, Mapping) else None
        num = self._metainfo['num_keypoints']
        if kpts is None or np.shape(kpts)[-2:] != (num, 2):
            got = 'no keypoints' if kpts is None else f'keypoints {np.shape(kpts)}'
            raise DataError(f'CombinedDataset: {self._describe(i)} sample {j} has {got} after its '
                            f'pipeline, expected (..., {num}, 2): its KeypointConverter must map '
                            f'to num_keypoints={num}')
        meta = self._metainfo
        for key in _TARGET_META_KEYS:
            info[key] = copy.deepcopy(meta[key])
        info['dataset_index'] = i
        return info

    def prepare_data(self, idx: int):
        return self.pipeline(self.get_data_info(idx))
