"""Check that the model and the evaluator fit the data before training or evaluation starts."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from hrnet_train.registry import HOOKS


@HOOKS.register_module()
class DatasetMetaCheckHook(Hook):
    """Ask the model and the metrics whether the dataset's meta information fits them, before
    the first batch.

    A model that defines ``check_dataset_meta(meta: dict, split: str)`` raises a
    :class:`~hrnet_train.utils.errors.ConfigError` naming both numbers when they disagree, e.g. a
    segmentation head with 19 classes on a folder dataset with 2, or a pose head with 17
    keypoints on a 5-keypoint dataset, instead of training on silently clipped or wrapped labels.
    A metric that defines ``check_dataset_meta(meta, split=..., key=...)`` does the same for its
    settings (``Accuracy``: top-5 on a 3-class dataset). Before training the val dataset and
    evaluator are checked too, so such a mistake stops the run at its start, not at the first
    validation. The runner registers this hook itself (hrnet_train.engine.Runner), so every
    config gets it.
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _check(runner, dataloader, split: str, evaluator=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        dataset = getattr(dataloader, 'dataset', None)
        meta = getattr(dataset, 'metainfo', None)
        if not meta:
            return
        where = f'{split} dataset ({type(dataset).__name__})'
        check = getattr(model, 'check_dataset_meta', None)
        if check is not None:
            check(dict(meta), split=where)
        for metric in getattr(evaluator, 'metrics', ()):
            check = getattr(metric, 'check_dataset_meta', None)
            if check is not None:
                check(dict(meta), split=where, key=f'{split}_evaluator')

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader, 'train')
        val_loop = runner.val_loop  # built by Runner.train() before the hooks run; None if none
        if val_loop is not None:
            self._check(runner, val_loop.dataloader, 'val', val_loop.evaluator)

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader, 'val', runner.val_evaluator)

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader, 'test', runner.test_evaluator)
