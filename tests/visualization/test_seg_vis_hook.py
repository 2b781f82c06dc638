"""SegVisualizationHook with a stand-in runner (end to end: tests/test_seg_end_to_end.py)."""
import logging
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from hrnet_train.datasets.cityscapes import CITYSCAPES_PALETTE
from hrnet_train.registry import HOOKS
from hrnet_train.visualization import SegVisualizationHook

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FRAME = osp.join(ROOT, 'data', 'cityscapes_tiny', 'leftImg8bit', 'val', 'frankfurt',
                 'frankfurt_000000_000294_leftImg8bit.png')  # 256 x 128


def _runner(work_dir, palette=CITYSCAPES_PALETTE):
    loader = SimpleNamespace(dataset=SimpleNamespace(metainfo=dict(palette=list(palette))))
    return SimpleNamespace(work_dir=str(work_dir), iter=0, epoch=0, _train_loop=None,
                           logger=logging.getLogger('test_seg_vis_hook'),
                           val_dataloader=loader, test_dataloader=loader)


def _sample(pred, path=FRAME):
    return BaseDataElement(pred_seg_map=torch.as_tensor(pred),
                           metainfo=dict(img_path=path, ori_shape=pred.shape))


def _run(hook, runner, phase, batches):
    getattr(hook, f'before_{phase}_epoch')(runner)
    for i, batch in enumerate(batches):
        getattr(hook, f'after_{phase}_iter')(runner, i, None, batch)
    getattr(hook, f'after_{phase}_epoch')(runner, {})


def test_writes_palette_mask_and_overlay(tmp_path):
    pred = np.zeros((128, 256), np.int64)
    pred[:, 128:] = 13  # car
    pred[:64, :128] = 10  # sky
    hook = HOOKS.build(dict(type='SegVisualizationHook', alpha=0.5))
    _run(hook, _runner(tmp_path), 'test', [[_sample(pred)]])
    out = tmp_path / 'vis' / 'test'
    assert hook.last_out_dir == str(out)
    mask = cv2.imread(str(out / 'frankfurt_000000_000294_leftImg8bit.png'))[..., ::-1]
    assert mask[0, 0].tolist() == [70, 130, 180] and mask[100, 0].tolist() == [128, 64, 128]
    assert mask[0, 200].tolist() == [0, 0, 142]
    over = cv2.imread(str(out / 'frankfurt_000000_000294_leftImg8bit_overlay.png'))[..., ::-1]
    img = cv2.imread(FRAME)[..., ::-1].astype(np.float32)
    expected = np.round(0.5 * img + 0.5 * mask.astype(np.float32))
    assert np.abs(over.astype(np.float32) - expected).max() <= 1


def test_tags_limits_and_repeated_stems(tmp_path):
    from mmengine.runner import IterBasedTrainLoop
    runner = _runner(tmp_path)
    runner._train_loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)  # type is all that counts
    runner.iter = 30
    pred = np.ones((128, 256), np.int64)
    hook = SegVisualizationHook(max_images=3, phases=('val',))
    _run(hook, runner, 'val', [[_sample(pred), _sample(pred)], [_sample(pred), _sample(pred)]])
    names = sorted(p.name for p in (tmp_path / 'vis' / 'val_iter30').iterdir())
    stem = 'frankfurt_000000_000294_leftImg8bit'
    assert names == sorted([f'{stem}.png', f'{stem}_overlay.png', f'{stem}_1.png',
                            f'{stem}_1_overlay.png', f'{stem}_2.png', f'{stem}_2_overlay.png'])
    _run(hook, runner, 'test', [[_sample(pred)]])  # not in phases
    assert not (tmp_path / 'vis' / 'test').exists()
    runner._train_loop = None
    _run(hook, runner, 'val', [[_sample(pred)]])  # runner.val() alone
    assert (tmp_path / 'vis' / 'val' / f'{stem}.png').is_file()


def test_no_palette_writes_nothing_and_bad_args(tmp_path):
    runner = _runner(tmp_path)
    runner.test_dataloader = SimpleNamespace(dataset=SimpleNamespace(metainfo=dict()))
    _run(SegVisualizationHook(), runner, 'test', [[_sample(np.zeros((128, 256), np.int64))]])
    assert not (tmp_path / 'vis').exists()
    with pytest.raises(ValueError, match='max_images'):
        SegVisualizationHook(max_images=-1)
    with pytest.raises(ValueError, match='alpha'):
        SegVisualizationHook(alpha=1.5)
    with pytest.raises(ValueError, match='phases'):
        SegVisualizationHook(phases=('train',))
