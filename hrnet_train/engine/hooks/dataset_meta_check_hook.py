"""Check that the model fits the data before training or evaluation starts."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from hrnet_train.registry import HOOKS


@HOOKS.register_module()
class DatasetMetaCheckHook(Hook):
    """Ask the model whether the dataset's meta information fits it, before the first batch.

    A model that defines ``check_dataset_meta(meta: dict, split: str)`` raises a
    :class:`~hrnet_train.utils.errors.ConfigError` naming both numbers when they disagree, e.g. a
    segmentation head with 19 classes on a folder dataset with 2, or a pose head with 17
    keypoints on a 5-keypoint dataset, instead of training on silently clipped or wrapped labels.
    The runner registers this hook itself (hrnet_train.engine.Runner), so every config gets it.
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _check(runner, dataloader, split: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        check = getattr(model, 'check_dataset_meta', None)
        dataset = getattr(dataloader, 'dataset', None)
        meta = getattr(dataset, 'metainfo', None)
        if check is None or not meta:
            return
        check(dict(meta), split=f'{split} dataset ({type(dataset).__name__})')

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader, 'test')
