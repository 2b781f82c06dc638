"""``MODEL.NAME: seg_hrnet`` (HRNet/HRNet-Semantic-Segmentation) -> segmentation config."""
from __future__ import annotations

import copy
import os
import os.path as osp
from typing import Any, Optional

from yacs.config import CfgNode

from ._common import (
    _EXPANSION,
    _SEG_BASES,
    YacsImportError,
    _backbone_extra,
    _check_unsupported,
    _common_runtime,
    _final_conv_kernel,
    _load_bases,
    _loader_workers,
    _num_gpus,
    _pair,
    _patch_pipeline,
    _pretrained,
)

# HRNet/HRNet-Semantic-Segmentation:lib/config/default.py (pytorch-v1.1), plus the keys the
# HRNet-OCR branch added (MODEL.ALIGN_CORNERS ... TEST.OUTPUT_INDEX) so that its plain
# seg_hrnet YAMLs convert too. MODEL.ALIGN_CORNERS defaults to True on the OCR branch, but v1.1
# (which has no such key) upsamples with align_corners=False: absent means False here.
_SEG_DEFAULTS: dict = dict(
    OUTPUT_DIR='', LOG_DIR='', GPUS=(0,), WORKERS=4, PRINT_FREQ=20, AUTO_RESUME=False,
    PIN_MEMORY=True, RANK=0,
    CUDNN=dict(BENCHMARK=True, DETERMINISTIC=False, ENABLED=True),
    MODEL=dict(NAME='seg_hrnet', PRETRAINED='', ALIGN_CORNERS=False, NUM_OUTPUTS=1,
               OCR=dict(MID_CHANNELS=512, KEY_CHANNELS=256, DROPOUT=0.05, SCALE=1)),
    LOSS=dict(USE_OHEM=False, OHEMTHRES=0.9, OHEMKEEP=100000, CLASS_BALANCE=True,
              BALANCE_WEIGHTS=[1]),
    DATASET=dict(ROOT='', DATASET='cityscapes', NUM_CLASSES=19,
                 TRAIN_SET='list/cityscapes/train.lst', EXTRA_TRAIN_SET='',
                 TEST_SET='list/cityscapes/val.lst'),
    TRAIN=dict(FREEZE_LAYERS='', FREEZE_EPOCHS=-1, NONBACKBONE_KEYWORDS=[], NONBACKBONE_MULT=10,
               IMAGE_SIZE=[1024, 512], BASE_SIZE=2048, DOWNSAMPLERATE=1, FLIP=True,
               MULTI_SCALE=True, SCALE_FACTOR=16, RANDOM_BRIGHTNESS=False,
               RANDOM_BRIGHTNESS_SHIFT_VALUE=10, LR_FACTOR=0.1, LR_STEP=[90, 110], LR=0.01,
               EXTRA_LR=0.001, OPTIMIZER='sgd', MOMENTUM=0.9, WD=0.0001, NESTEROV=False,
               IGNORE_LABEL=-1, BEGIN_EPOCH=0, END_EPOCH=484, EXTRA_EPOCH=0, RESUME=False,
               BATCH_SIZE_PER_GPU=32, SHUFFLE=True, NUM_SAMPLES=0),
    TEST=dict(IMAGE_SIZE=[2048, 1024], BASE_SIZE=2048, BATCH_SIZE_PER_GPU=32, NUM_SAMPLES=0,
              MODEL_FILE='', FLIP_TEST=False, MULTI_SCALE=False, CENTER_CROP_TEST=False,
              SCALE_LIST=[1], OUTPUT_INDEX=-1),
    DEBUG=dict(DEBUG=False, SAVE_BATCH_IMAGES_GT=False, SAVE_BATCH_IMAGES_PRED=False,
               SAVE_HEATMAPS_GT=False, SAVE_HEATMAPS_PRED=False),
)

# Settings that change what the official code does and have no counterpart here: key -> (the
# value under which the official code behaves like the converted config, why it is not honoured).
_SEG_UNSUPPORTED: dict[str, tuple[Any, str]] = {
    'CUDNN.ENABLED': (True, 'cuDNN is always enabled'),
    'DATASET.EXTRA_TRAIN_SET': ('', 'the second (extra) training phase is not converted'),
    'TRAIN.EXTRA_EPOCH': (0, 'the second (extra) training phase is not converted'),
    'TRAIN.BEGIN_EPOCH': (0, 'training starts at iteration 0; resume with tools/train.py --resume'),
    'TRAIN.DOWNSAMPLERATE': (1, 'labels are always kept at the image size'),
    'TRAIN.NUM_SAMPLES': (0, 'the whole training list is used'),
    'TRAIN.RANDOM_BRIGHTNESS': (False, 'no random-brightness transform'),
    'TRAIN.FREEZE_LAYERS': ('', 'layer freezing by name is not converted'),
    'TRAIN.FREEZE_EPOCHS': (-1, 'layer freezing by name is not converted'),
    'TRAIN.NONBACKBONE_KEYWORDS': ([], 'per-module lr multipliers are not converted'),
    'TEST.NUM_SAMPLES': (0, 'the whole test list is used'),
    'TEST.CENTER_CROP_TEST': (False, 'no centre-crop testing'),
    'TEST.MODEL_FILE': ('', 'pass the checkpoint to tools/test.py instead'),
    'TEST.OUTPUT_INDEX': (-1, 'seg_hrnet has one output'),
    'MODEL.NUM_OUTPUTS': (1, 'seg_hrnet has one output'),
    'LOSS.BALANCE_WEIGHTS': ([1], 'seg_hrnet has one output, weighted 1'),
}

_CITYSCAPES_FOLDER_SPLITS = {'list/cityscapes/train.lst': 'train',
                             'list/cityscapes/val.lst': 'val'}
# Lines of the official list files (REFERENCE §3.6), for the epoch length of the schedule.
_CITYSCAPES_LIST_SIZES = {'train.lst': 2975, 'val.lst': 500, 'trainval.lst': 3475,
                          'test.lst': 1525}




# ------------------------------------------------------------------------------ seg
def _num_train_images(path: str, root: str, train_set: str) -> int:
    name = osp.basename(train_set)
    if name in _CITYSCAPES_LIST_SIZES:
        return _CITYSCAPES_LIST_SIZES[name]
    list_file = osp.join(root, train_set)
    if osp.isfile(list_file):
        with open(list_file) as f:
            return sum(1 for line in f if line.strip())
    raise YacsImportError(f'{path}: DATASET.TRAIN_SET {train_set!r} is not an official '
                          f'Cityscapes list and {list_file} does not exist (its line count sets '
                          'the epoch length of the schedule)')


def _seg_split(root: str, cs_root: str, split_file: str) -> dict:
    """Dataset fields for an official list file: the folder layout for train/val, else the list."""
    split = _CITYSCAPES_FOLDER_SPLITS.get(osp.normpath(split_file).replace(os.sep, '/'))
    if split is not None:
        return dict(data_root=cs_root, data_prefix=dict(img_path=f'leftImg8bit/{split}',
                                                        seg_map_path=f'gtFine/{split}'))
    # Official: the list file is ROOT/<split_file>, its lines are relative to ROOT/cityscapes.
    # Absolute, because mmengine joins a relative ann_file to data_root and a '..' from there
    # would leave a symlinked ROOT/cityscapes.
    return dict(data_root=cs_root, data_prefix=dict(img_path=''),
                ann_file=osp.abspath(osp.join(root, split_file)))


def _convert_seg(path: str, yc: CfgNode, extra: dict, data_root: Optional[str],
                 notes: list[str]) -> dict:
    _check_unsupported(yc, extra, _SEG_UNSUPPORTED, notes)
    if yc.DATASET.DATASET != 'cityscapes':
        raise YacsImportError(f"{path}: DATASET.DATASET {yc.DATASET.DATASET!r} is not supported "
                              "for seg_hrnet; expected 'cityscapes'")
    if yc.DATASET.NUM_CLASSES != 19:
        raise YacsImportError(f'{path}: DATASET.NUM_CLASSES={yc.DATASET.NUM_CLASSES} but '
                              'Cityscapes has 19 classes')
    if yc.TRAIN.OPTIMIZER != 'sgd':
        raise YacsImportError(f"{path}: TRAIN.OPTIMIZER must be 'sgd' (the only one the official "
                              f'seg code supports), got {yc.TRAIN.OPTIMIZER!r}')
    crop_size = _pair(path, 'TRAIN.IMAGE_SIZE', list(yc.TRAIN.IMAGE_SIZE))
    test_size = _pair(path, 'TEST.IMAGE_SIZE', list(yc.TEST.IMAGE_SIZE))
    stages = _backbone_extra(path, extra, task='seg', notes=notes)
    _final_conv_kernel(path, extra, (1,))  # SegHead's classifier is a 1x1 conv
    num_gpus = _num_gpus(path, yc)
    root = yc.DATASET.ROOT if data_root is None else data_root
    cs_root = osp.join(root, 'cityscapes')  # official: images at ROOT/cityscapes/<list entry>
    align = bool(yc.MODEL.ALIGN_CORNERS)

    cfg = _load_bases(_SEG_BASES)

    # ---- model
    s4 = stages['stage4']
    channels = tuple(c * _EXPANSION[s4['block']] for c in s4['num_channels'])
    model = cfg['model']
    model['backbone'].update(arch=None, extra=stages, align_corners=align,
                             init_cfg=_pretrained(extra, yc.MODEL.PRETRAINED, True, notes))
    model['neck'].update(in_channels=channels, align_corners=align)
    model['decode_head'].update(in_channels=sum(channels), num_classes=yc.DATASET.NUM_CLASSES)
    class_weight = model['loss']['class_weight']  # official Cityscapes class weights
    # TRAIN.IGNORE_LABEL only encodes "ignore" inside the official code; labels here use 255.
    if yc.LOSS.USE_OHEM:
        model['loss'] = dict(type='OhemCrossEntropyLoss', thresh=yc.LOSS.OHEMTHRES,
                             min_kept=yc.LOSS.OHEMKEEP, class_weight=class_weight,
                             ignore_index=255, align_corners=align)
    else:
        model['loss'] = dict(type='CrossEntropyLoss', class_weight=class_weight,
                             ignore_index=255, align_corners=align)
    model['align_corners'] = align
    scales = [float(s) for s in yc.TEST.SCALE_LIST]
    test_cfg: dict = dict(mode='whole')
    if any(s > 1 for s in scales):
        # official cityscapes.py multi_scale_inference: windows of TEST.IMAGE_SIZE, stride = window
        test_cfg = dict(mode='slide', crop_size=test_size, stride=test_size)
    if scales != [1.0] or yc.TEST.FLIP_TEST:
        test_cfg.update(scales=scales, flip=bool(yc.TEST.FLIP_TEST), tta_combine='exp_sum')
    model['test_cfg'] = test_cfg

    # ---- data
    train_updates: dict[str, Optional[dict]] = {
        'RandomFlip': dict(prob=0.5) if yc.TRAIN.FLIP else None}
    if yc.TRAIN.MULTI_SCALE:
        # official: long side BASE_SIZE * (0.5 + randint(0, SCALE_FACTOR) / 10), random crop
        train_updates['RandomResize'] = dict(
            scale=(yc.TRAIN.BASE_SIZE, yc.TRAIN.BASE_SIZE),
            ratio_range=(0.5, 0.5 + yc.TRAIN.SCALE_FACTOR / 10), ratio_step=0.1)
        train_updates['RandomCrop'] = dict(crop_size=crop_size)
    else:  # official gen_sample: no resize and no crop without MULTI_SCALE
        train_updates.update(RandomResize=None, RandomCrop=None)
    train_pipeline = _patch_pipeline(cfg['train_pipeline'], train_updates)
    test_pipeline = _patch_pipeline(cfg['test_pipeline'], {
        'Resize': dict(scale=(yc.TEST.BASE_SIZE, yc.TEST.BASE_SIZE))})

    train = cfg['train_dataloader']
    train['batch_size'] = yc.TRAIN.BATCH_SIZE_PER_GPU
    _loader_workers(train, yc.WORKERS)  # official DDP: WORKERS per process
    train['sampler']['shuffle'] = yc.TRAIN.SHUFFLE
    train['dataset'].update(_seg_split(root, cs_root, yc.DATASET.TRAIN_SET),
                            pipeline=train_pipeline)
    val = cfg['val_dataloader']
    _loader_workers(val, yc.WORKERS)
    val['dataset'].update(_seg_split(root, cs_root, yc.DATASET.TEST_SET),
                          pipeline=test_pipeline)
    cfg['test_dataloader'] = copy.deepcopy(val)
    cfg['test_evaluator'] = copy.deepcopy(cfg['val_evaluator'])

    # ---- schedule: poly per iteration over END_EPOCH epochs of
    # int(num_train_images / BATCH_SIZE_PER_GPU / len(GPUS)) iterations (official train.py).
    num_images = _num_train_images(path, root, yc.DATASET.TRAIN_SET)
    epoch_iters = int(num_images / yc.TRAIN.BATCH_SIZE_PER_GPU / num_gpus)
    max_iters = yc.TRAIN.END_EPOCH * epoch_iters
    if max_iters < 1:
        raise YacsImportError(f'{path}: TRAIN.END_EPOCH={yc.TRAIN.END_EPOCH} with '
                              f'{num_images} images at batch {yc.TRAIN.BATCH_SIZE_PER_GPU} x '
                              f'{num_gpus} GPUs gives no iterations')
    cfg['optim_wrapper']['optimizer'] = dict(
        type='SGD', lr=yc.TRAIN.LR, momentum=yc.TRAIN.MOMENTUM, weight_decay=yc.TRAIN.WD,
        nesterov=yc.TRAIN.NESTEROV)
    cfg['param_scheduler'][0].update(end=max_iters)
    cfg['train_cfg'].update(max_iters=max_iters,
                            val_interval=min(cfg['train_cfg']['val_interval'], max_iters))
    cfg['auto_scale_lr'] = dict(base_batch_size=yc.TRAIN.BATCH_SIZE_PER_GPU * num_gpus)

    # ---- runtime: iteration-based logging and checkpoints, as configs/seg/*.py
    _common_runtime(cfg, yc, yc.TRAIN.RESUME)
    cfg['default_hooks']['logger']['log_metric_by_epoch'] = False
    cfg['default_hooks']['checkpoint'].update(
        by_epoch=False, interval=min(4000, max_iters), max_keep_ckpts=3, save_best='mIoU')
    cfg['log_processor']['by_epoch'] = False
    cfg.update(data_root=cs_root, train_pipeline=train_pipeline, test_pipeline=test_pipeline)
    return cfg

