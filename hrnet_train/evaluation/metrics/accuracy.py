"""Top-k classification accuracy (mmpretrain ``Accuracy``, open-mmlab/mmpretrain:
mmpretrain/evaluation/metrics/single_label.py)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement

from hrnet_train.registry import METRICS
from hrnet_train.utils.arrays import to_numpy
from hrnet_train.utils.errors import ConfigError, DataError


def rank_of_label(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """How many classes rank before the ground truth, per sample (0: top-1 correct).

    A class ranks before the ground truth when its score is higher, or equal and its index
    lower: ties go to the lower class index, as a stable sort by descending score orders them
    (``np.argsort(-s, kind='stable')``). mmpretrain uses ``torch.topk``, which promises no order
    for ties; with softmax scores of a trained model ties are rare. A ground-truth score that is
    NaN gets rank C: the sample is wrong at every k.

    Args:
        scores: (N, C) class scores (any monotonic scale: logits or probabilities).
        labels: (N,) int, ground-truth class indices in [0, C).

    Returns:
        (N,) int64 ranks in [0, C), or C for a NaN ground-truth score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n, c = scores.shape
    gt = scores[np.arange(n), labels][:, None]  # (N, 1)
    lower_index = np.arange(c)[None, :] < labels[:, None]  # (N, C)
    before = (scores > gt) | ((scores == gt) & lower_index)
    ranks = before.sum(axis=1).astype(np.int64)
    return np.where(np.isnan(gt[:, 0]), c, ranks)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray,
                  topk: Sequence[int] = (1,)) -> list[float]:
    """Percentage of samples whose ground truth is among the ``k`` best scores, per ``k``.

    Args:
        scores: (N, C) class scores; ties as in :func:`rank_of_label`.
        labels: (N,) int ground-truth class indices.
        topk: the k values, each in [1, C].

    Returns:
        one float in [0, 100] per k.
    """
    scores = np.asarray(scores)
    if max(topk) > scores.shape[1]:
        raise ValueError(f'top-{max(topk)} accuracy needs at least {max(topk)} classes, the '
                         f'scores have {scores.shape[1]}')
    ranks = rank_of_label(scores, labels)
    return [100.0 * float(np.mean(ranks < k)) for k in topk]


def _check_topk(topk) -> tuple[int, ...]:
    ks = (topk,) if isinstance(topk, (int, str)) else tuple(topk)
    if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks) \
            or len(set(ks)) != len(ks):
        raise ConfigError(f'Accuracy topk: expected distinct ints >= 1 such as (1, 5), got '
                          f'{topk!r}')
    return ks


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy in percent, over the whole evaluation (all ranks).

    ``process`` reads from each data sample (a dict, as mmengine's ``Evaluator`` passes them,
    or a ``BaseDataElement``): ``gt_label`` (1,) int and ``pred_score`` (C,) class scores, and
    stores only the rank of the ground truth among the scores (:func:`rank_of_label`; ties go to
    the lower class index), so that collecting the results across ranks moves N integers, not
    N x C scores. Without ``pred_score`` it reads ``pred_label`` (1,), which allows top-1 only.

    Keys: ``accuracy/top1``, ``accuracy/top5``, ... (mmpretrain's names; mmpretrain's default
    score threshold 0 changes nothing for softmax scores, so there is none here).

    Errors: a ``topk`` larger than the number of classes is a ``ConfigError`` before the run
    (:meth:`check_dataset_meta`) or, where the dataset names no classes, on the first batch;
    a ground-truth label outside [0, C) is a ``DataError`` naming the image.

    Args:
        topk: k or ks to report, e.g. (1, 5).
        collect_device, prefix: see mmengine ``BaseMetric``; the prefix defaults to
            'accuracy'.
    """

    default_prefix: Optional[str] = 'accuracy'

    def __init__(self, topk: int | Sequence[int] = (1, 5), *, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = _check_topk(topk)

    def check_dataset_meta(self, meta: dict, *, split: str = 'dataset',
                           key: str = 'evaluator') -> None:
        """ConfigError when the largest k exceeds the dataset's number of classes (``meta``'s
        ``classes``); called by ``DatasetMetaCheckHook`` before the first batch."""
        classes = meta.get('classes')
        if classes is None or max(self.topk) <= len(classes):
            return
        fit = tuple(k for k in self.topk if k <= len(classes)) or (1,)
        raise ConfigError(f'{key} Accuracy topk={self.topk}: top-{max(self.topk)} needs at '
                          f'least {max(self.topk)} classes but the {split} has '
                          f'{len(classes)}; set {key}.topk={fit if len(fit) > 1 else fit[0]}')

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store the rank of the ground truth of each sample."""
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            self.results.append(self._rank(sample))

    def _rank(self, sample: dict) -> int:
        where = sample.get('img_path', 'a data sample')
        if sample.get('gt_label') is None:
            raise KeyError(f'Accuracy.process: {where} has no gt_label (PackClsInputs adds it '
                           'from the dataset)')
        gt = to_numpy(sample['gt_label']).reshape(-1)
        if gt.size != 1:
            raise DataError(f'Accuracy: {where}: expected one gt_label, got {gt.tolist()[:5]}')
        label = int(gt[0])
        if sample.get('pred_score') is not None:
            scores = to_numpy(sample['pred_score']).reshape(-1)
            num_classes = scores.size
            if max(self.topk) > num_classes:
                raise ConfigError(f'Accuracy topk={self.topk}: top-{max(self.topk)} needs at '
                                  f'least {max(self.topk)} classes but pred_score has '
                                  f'{num_classes}; set the evaluator topk to ks <= '
                                  f'{num_classes}')
            if not 0 <= label < num_classes:
                raise DataError(f'Accuracy: {where}: gt_label {label} is outside [0, '
                                f'{num_classes}) (pred_score has {num_classes} classes)')
            return int(rank_of_label(scores[None], np.array([label]))[0])
        if sample.get('pred_label') is None:
            raise KeyError(f'Accuracy.process: {where} has neither pred_score nor pred_label')
        if self.topk != (1,):
            raise ConfigError(f'Accuracy topk={self.topk}: the data samples have pred_label '
                              'but no pred_score, which gives top-1 only; set topk=1')
        pred = to_numpy(sample['pred_label']).reshape(-1)
        return 0 if pred.size == 1 and int(pred[0]) == label else 1

    def compute_metrics(self, results: list) -> dict[str, float]:
        """``{'top<k>': percent}`` for each k; 0.0 for no sample (mmengine warns then)."""
        ranks = np.asarray(results, dtype=np.int64)
        return {f'top{k}': 100.0 * float(np.mean(ranks < k)) if len(ranks) else 0.0
                for k in self.topk}
