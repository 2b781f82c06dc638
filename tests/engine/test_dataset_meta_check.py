"""A head that does not fit the dataset stops the run before the first batch.

Today's silent results: a seg head with 19 classes on a 2-class folder dataset trains (labels
>= 2 never occur, the extra logits are never penalised), and a 5-keypoint head on COCO fails deep
inside the loss. DatasetMetaCheckHook, which the Runner always registers, asks the model.
"""
from pathlib import Path

import pytest
from mmengine.config import Config

from hrnet_train.engine.hooks import DatasetMetaCheckHook
from hrnet_train.engine.launch import build_runner
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
POSE = ROOT / 'configs/pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py'
SEG = ROOT / 'configs/seg/hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py'


def _runner(config, tmp_path, **options):
    register_all_modules()
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict(options)
    cfg.work_dir = str(tmp_path / 'work')
    return build_runner(cfg)


def test_seg_head_classes_must_match_the_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = _runner(SEG, tmp_path, **{'model.decode_head.num_classes': 5})
    assert any(isinstance(h, DatasetMetaCheckHook) for h in runner.hooks)
    with pytest.raises(ConfigError, match=r'model.decode_head.num_classes=5 but the train dataset '
                                          r'\(CityscapesDataset\) has 19 classes'):
        runner.train()
    assert runner.iter == 0
    with pytest.raises(ConfigError, match='test dataset'):
        runner.test()


def test_pose_head_keypoints_must_match_the_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = _runner(POSE, tmp_path, **{'model.head.num_keypoints': 5})
    with pytest.raises(ConfigError, match=r'model.head.num_keypoints=5 but the train dataset '
                                          r'\(RepeatDataset\) has 17 keypoints'):
        runner.train()
    assert runner.iter == 0


def test_matching_model_and_dataset_pass(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = _runner(SEG, tmp_path)
    hook = next(h for h in runner.hooks if isinstance(h, DatasetMetaCheckHook))
    hook.before_train(runner)
    hook.before_test(runner)  # no error


CLS = ROOT / 'configs/cls/hrnet-w18-small-v1_cls-tiny_quickstart.py'


def test_evaluator_topk_must_fit_the_classes_before_training(tmp_path, monkeypatch):
    # top-5 on the 3-class quickstart used to fail after the first training epoch.
    monkeypatch.chdir(ROOT)
    runner = _runner(CLS, tmp_path, **{'val_evaluator.topk': (1, 5),
                                       'test_evaluator.topk': (1, 5)})
    with pytest.raises(ConfigError) as err:
        runner.train()
    assert str(err.value) == ('val_evaluator Accuracy topk=(1, 5): top-5 needs at least 5 '
                              'classes but the val dataset (ImageFolderDataset) has 3; set '
                              'val_evaluator.topk=1')
    assert runner.iter == 0
    with pytest.raises(ConfigError, match=r'^test_evaluator Accuracy topk=\(1, 5\).*test dataset'):
        runner.test()
