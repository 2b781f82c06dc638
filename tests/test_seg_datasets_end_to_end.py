"""LIP end to end on a generated tiny set in the real LIP layout (quickstart size, CPU).

tools/train.py trains HRNetV2-W18-Small-v1 for a few iterations on the LIP pipeline of
configs/_base_/datasets/lip_473x473.py scaled down to 64x64 (flip with the left/right label
swap, resize, multi-scale, crop), then validates with the official LIP flip test
(``model.test_cfg.flip_label_pairs``): the loss stays finite and the IoU metric returns finite
aAcc / mIoU / mAcc and one IoU per LIP class.
"""
import importlib.util
import math
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from hrnet_train.datasets.lip import LIP_CLASSES

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE = osp.join(ROOT, 'configs', '_base_')
ITERS = 6

TINY_CONFIG = f"""
_base_ = [
    {osp.join(BASE, 'models', 'hrnetv2-w48_fcn.py')!r},
    {osp.join(BASE, 'datasets', 'lip_473x473.py')!r},
    {osp.join(BASE, 'schedules', 'sgd-poly_120k.py')!r},
    {osp.join(BASE, 'default_runtime.py')!r},
]
data_root = {{data_root!r}}
model = dict(
    backbone=dict(arch='w18-small-v1', norm_cfg=dict(type='BN', momentum=0.1), init_cfg=None),
    decode_head=dict(num_classes=20, norm_cfg=dict(type='BN', momentum=0.1)),
    loss=dict(_delete_=True, type='CrossEntropyLoss', ignore_index=255, align_corners=False),
    test_cfg=dict(mode='whole', flip=True, flip_label_pairs=[[14, 15], [16, 17], [18, 19]],
                  tta_combine='exp_sum'))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadSegAnnotation'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='RandomResize', scale=(64, 64), ratio_range=(0.5, 1.6), ratio_step=0.1,
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(64, 64)),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='LoadSegAnnotation'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=0.007, weight_decay=5e-4))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end={ITERS},
                        by_epoch=False)]
train_cfg = dict(max_iters={ITERS}, val_interval={ITERS})
default_hooks = dict(
    logger=dict(interval=2, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval={ITERS}, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
"""


def _person(rng, h, w):
    """An image and its LIP label: background, a face (13), arms 14 | 15, legs 16 | 17."""
    label = np.zeros((h, w), np.uint8)
    cx = w // 2 + int(rng.integers(-4, 5))
    label[4:14, cx - 5:cx + 5] = 13
    label[14:34, cx - 14:cx] = 14
    label[14:34, cx:cx + 14] = 15
    label[34:h - 4, cx - 8:cx] = 16
    label[34:h - 4, cx:cx + 8] = 17
    colours = rng.integers(0, 256, size=(20, 3), dtype=np.uint8)
    img = colours[label] + rng.integers(0, 20, size=(h, w, 3), dtype=np.uint8)
    return img, label


def _write_lip(root, rng):
    for split, n in (('train', 4), ('val', 2)):
        ids = []
        for i in range(n):
            stem = f'{100 + i}_{4711 + i}'
            img, label = _person(rng, 56, 48)
            img_dir = osp.join(root, 'TrainVal_images', f'{split}_images')
            seg_dir = osp.join(root, 'TrainVal_parsing_annotations', f'{split}_segmentations')
            for d in (img_dir, seg_dir):
                os.makedirs(d, exist_ok=True)
            cv2.imwrite(osp.join(img_dir, f'{stem}.jpg'), img)
            cv2.imwrite(osp.join(seg_dir, f'{stem}.png'), label)
            ids.append(stem)
        with open(osp.join(root, 'TrainVal_images', f'{split}_id.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')


def _train_tool():
    spec = importlib.util.spec_from_file_location('_lip_e2e_train',
                                                  osp.join(ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_lip_trains_and_evaluates_20_classes(tmp_path):
    data_root = str(tmp_path / 'LIP')
    _write_lip(data_root, np.random.default_rng(0))
    config = tmp_path / 'lip_tiny.py'
    config.write_text(TINY_CONFIG.format(data_root=data_root))
    runner = _train_tool().main([str(config), '--work-dir', str(tmp_path / 'work'),
                                 '--cfg-options', 'experiment_name=lip_e2e'])
    assert runner.iter == ITERS
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == ITERS and np.isfinite(losses).all()
    assert losses[0] == pytest.approx(math.log(20), rel=0.3)  # untrained: about ln 20
    metrics = {k[4:]: v.current() for k, v in runner.message_hub.log_scalars.items()
               if k.startswith('val/')}
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert math.isfinite(metrics[key]) and 0.0 <= metrics[key] <= 100.0, (key, metrics)
    ious = [k for k in metrics if k.startswith('IoU.')]
    assert sorted(ious) == sorted(f'IoU.{name}' for name in LIP_CLASSES)
    assert runner.val_dataloader.dataset.metainfo['flip_label_pairs'] == [[14, 15], [16, 17],
                                                                          [18, 19]]
