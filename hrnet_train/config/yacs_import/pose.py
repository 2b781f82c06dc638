"""``MODEL.NAME: pose_hrnet`` (leoxiaobin/deep-high-resolution-net.pytorch, COCO or MPII) -> pose
config."""
from __future__ import annotations

import copy
import os
import os.path as osp
from typing import Any, Optional

from yacs.config import CfgNode

from ._common import (
    _COCO_JOINTS_WEIGHT,
    _EXPANSION,
    _MPII_POSE_BASES,
    _POSE_BASES,
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

# ------------------------------------------------------------------------------------------
# Official yacs defaults (MODEL.EXTRA is free-form officially and is handled separately).
# leoxiaobin/deep-high-resolution-net.pytorch:lib/config/default.py
_POSE_DEFAULTS: dict = dict(
    OUTPUT_DIR='', LOG_DIR='', DATA_DIR='', GPUS=(0,), WORKERS=4, PRINT_FREQ=20,
    AUTO_RESUME=False, PIN_MEMORY=True, RANK=0,
    CUDNN=dict(BENCHMARK=True, DETERMINISTIC=False, ENABLED=True),
    MODEL=dict(NAME='pose_hrnet', INIT_WEIGHTS=True, PRETRAINED='', NUM_JOINTS=17,
               TAG_PER_JOINT=True, TARGET_TYPE='gaussian', IMAGE_SIZE=[256, 256],
               HEATMAP_SIZE=[64, 64], SIGMA=2),
    LOSS=dict(USE_OHKM=False, TOPK=8, USE_TARGET_WEIGHT=True, USE_DIFFERENT_JOINTS_WEIGHT=False),
    DATASET=dict(ROOT='', DATASET='mpii', TRAIN_SET='train', TEST_SET='valid', DATA_FORMAT='jpg',
                 HYBRID_JOINTS_TYPE='', SELECT_DATA=False, FLIP=True, SCALE_FACTOR=0.25,
                 ROT_FACTOR=30, PROB_HALF_BODY=0.0, NUM_JOINTS_HALF_BODY=8, COLOR_RGB=False),
    TRAIN=dict(LR_FACTOR=0.1, LR_STEP=[90, 110], LR=0.001, OPTIMIZER='adam', MOMENTUM=0.9,
               WD=0.0001, NESTEROV=False, GAMMA1=0.99, GAMMA2=0.0, BEGIN_EPOCH=0, END_EPOCH=140,
               RESUME=False, CHECKPOINT='', BATCH_SIZE_PER_GPU=32, SHUFFLE=True),
    TEST=dict(BATCH_SIZE_PER_GPU=32, FLIP_TEST=False, POST_PROCESS=False, SHIFT_HEATMAP=False,
              USE_GT_BBOX=False, IMAGE_THRE=0.1, NMS_THRE=0.6, SOFT_NMS=False, OKS_THRE=0.5,
              IN_VIS_THRE=0.0, COCO_BBOX_FILE='', BBOX_THRE=1.0, MODEL_FILE=''),
    DEBUG=dict(DEBUG=False, SAVE_BATCH_IMAGES_GT=False, SAVE_BATCH_IMAGES_PRED=False,
               SAVE_HEATMAPS_GT=False, SAVE_HEATMAPS_PRED=False),
)

# Settings that change what the official code does and have no counterpart here: key -> (the
# value under which the official code behaves like the converted config, why it is not honoured).
_POSE_UNSUPPORTED: dict[str, tuple[Any, str]] = {
    'CUDNN.ENABLED': (True, 'cuDNN is always enabled'),
    'DATASET.DATA_FORMAT': ('jpg', 'images are read from files, not zip archives'),
    'DATASET.SELECT_DATA': (False, 'the official select_data filter is not implemented'),
    'LOSS.USE_OHKM': (False, 'not read by the official tools/train.py either (plain MSE); set '
                             "model.loss=dict(type='KeypointOHKMMSELoss') to use OHKM"),
    'TRAIN.BEGIN_EPOCH': (0, 'training starts at epoch 0; resume with tools/train.py --resume'),
    'TEST.POST_PROCESS': (True, 'the MSRAHeatmap codec always applies the quarter-pixel step'),
    'TEST.MODEL_FILE': ('', 'pass the checkpoint to tools/test.py instead'),
}


# Keypoints per supported DATASET.DATASET (lib/dataset/{coco,mpii}.py).
_NUM_JOINTS = {'coco': 17, 'mpii': 16}


# ------------------------------------------------------------------------------ pose
def _convert_pose(path: str, yc: CfgNode, extra: dict, data_root: Optional[str],
                  notes: list[str]) -> dict:
    _check_unsupported(yc, extra, _POSE_UNSUPPORTED, notes)
    dataset = yc.DATASET.DATASET
    if dataset not in _NUM_JOINTS:
        raise YacsImportError(f"{path}: DATASET.DATASET {dataset!r} is not supported for "
                              "pose_hrnet; expected 'coco' or 'mpii'")
    if yc.MODEL.NUM_JOINTS != _NUM_JOINTS[dataset]:
        raise YacsImportError(f'{path}: MODEL.NUM_JOINTS={yc.MODEL.NUM_JOINTS} but '
                              f'{dataset.upper()} has {_NUM_JOINTS[dataset]} keypoints')
    mpii = dataset == 'mpii'
    if mpii and 'test' in yc.DATASET.TEST_SET:
        raise YacsImportError(f'{path}: DATASET.TEST_SET {yc.DATASET.TEST_SET!r}: the MPII test '
                              "set has no public GT to evaluate against; use 'valid'")
    if yc.MODEL.TARGET_TYPE != 'gaussian':
        raise YacsImportError(f"{path}: MODEL.TARGET_TYPE must be 'gaussian' (the only one the "
                              f"official code supports), got {yc.MODEL.TARGET_TYPE!r}")
    input_size = _pair(path, 'MODEL.IMAGE_SIZE', list(yc.MODEL.IMAGE_SIZE))
    heatmap_size = _pair(path, 'MODEL.HEATMAP_SIZE', list(yc.MODEL.HEATMAP_SIZE))
    stages = _backbone_extra(path, extra, task='pose', notes=notes)
    kernel = _final_conv_kernel(path, extra, (1, 3))
    num_gpus = _num_gpus(path, yc)

    cfg = _load_bases(_MPII_POSE_BASES if mpii else _POSE_BASES)
    # Official update_config joins DATA_DIR with DATASET.ROOT and MODEL.PRETRAINED.
    yaml_root = osp.join(yc.DATA_DIR, yc.DATASET.ROOT)
    root = yaml_root if data_root is None else data_root
    pretrained = osp.join(yc.DATA_DIR, yc.MODEL.PRETRAINED) if yc.MODEL.PRETRAINED else ''

    # ---- model
    s4 = stages['stage4']
    codec = dict(type='MSRAHeatmap', input_size=input_size, heatmap_size=heatmap_size,
                 sigma=yc.MODEL.SIGMA)
    model = cfg['model']
    model['backbone'].update(
        arch=None, extra=stages, multi_scale_output=False,
        init_cfg=_pretrained(extra, pretrained, yc.MODEL.INIT_WEIGHTS, notes))
    model['head'].update(in_channels=s4['num_channels'][0] * _EXPANSION[s4['block']],
                         num_keypoints=yc.MODEL.NUM_JOINTS, final_conv_kernel=kernel)
    model['loss'] = dict(type='KeypointMSELoss', use_target_weight=yc.LOSS.USE_TARGET_WEIGHT)
    model['codec'] = codec
    model['test_cfg'] = dict(flip_test=yc.TEST.FLIP_TEST, shift_heatmap=yc.TEST.SHIFT_HEATMAP)

    # ---- data. Official layouts: COCO ROOT/annotations/<prefix>_<set>.json and
    # ROOT/images/<set>/ (lib/dataset/coco.py); MPII ROOT/annot/<set>.json, ROOT/images/ and the
    # evaluation GT ROOT/annot/gt_<set>.mat (lib/dataset/mpii.py).
    def ann_file(image_set: str) -> str:
        if mpii:
            return f'annot/{image_set}.json'
        prefix = 'image_info' if 'test' in image_set else 'person_keypoints'
        return f'annotations/{prefix}_{image_set}.json'

    def img_prefix(image_set: str) -> str:
        if mpii:
            return 'images/'
        return 'images/' + ('test2017' if 'test' in image_set else image_set) + '/'

    load = {} if yc.DATASET.COLOR_RGB else dict(to_rgb=False)  # official cv2 BGR without it
    # The official MPII dataset has no joint weights (JointsDataset's default 1), so the flag only
    # changes COCO training.
    joint_weights = yc.LOSS.USE_DIFFERENT_JOINTS_WEIGHT and not mpii
    # official: half body when more than NUM_JOINTS_HALF_BODY joints are visible
    half_body = (dict(type='RandomHalfBody', prob=yc.DATASET.PROB_HALF_BODY,
                      min_total_keypoints=yc.DATASET.NUM_JOINTS_HALF_BODY + 1)
                 if yc.DATASET.PROB_HALF_BODY > 0 else None)
    base_train = cfg['train_pipeline']
    if mpii and half_body:  # the MPII base pipeline has none (the official YAML turns it off)
        at = [t['type'] for t in base_train].index('RandomFlip') + 1
        base_train = base_train[:at] + [half_body] + base_train[at:]
    train_pipeline = _patch_pipeline(base_train, {
        'LoadImage': load,
        'RandomFlip': dict(prob=0.5) if yc.DATASET.FLIP else None,
        **({} if mpii else {'RandomHalfBody': half_body}),
        'RandomBBoxTransform': dict(scale_factor=yc.DATASET.SCALE_FACTOR,
                                    rotate_factor=yc.DATASET.ROT_FACTOR),
        'TopdownAffine': dict(input_size=input_size),
        'GenerateTarget': dict(encoder=dict(codec),
                               **(dict(use_dataset_keypoint_weights=True) if joint_weights
                                  else {})),
    })
    val_pipeline = _patch_pipeline(cfg['val_pipeline'], {
        'LoadImage': load, 'TopdownAffine': dict(input_size=input_size)})

    train = cfg['train_dataloader']
    train['batch_size'] = yc.TRAIN.BATCH_SIZE_PER_GPU
    # Official DataParallel: WORKERS loader processes for all GPUs; here each GPU has a loader.
    _loader_workers(train, yc.WORKERS // num_gpus)
    train['pin_memory'] = yc.PIN_MEMORY
    train['sampler']['shuffle'] = yc.TRAIN.SHUFFLE
    train['dataset'].update(data_root=root, ann_file=ann_file(yc.DATASET.TRAIN_SET),
                            data_prefix=dict(img=img_prefix(yc.DATASET.TRAIN_SET)),
                            pipeline=train_pipeline)
    if joint_weights:
        train['dataset']['metainfo'] = dict(joint_weights=list(_COCO_JOINTS_WEIGHT))

    # The dataset joins a relative bbox_file with its data_root. The YAML's path is relative to
    # the official repository's working directory: a file under DATASET.ROOT becomes relative
    # to the root (and so moves with it); any other relative path is made absolute.
    bbox_file = yc.TEST.COCO_BBOX_FILE or None
    if bbox_file:
        rel = osp.relpath(osp.normpath(bbox_file), osp.normpath(yaml_root))
        if not rel.startswith(os.pardir) and not osp.isabs(rel):
            bbox_file = rel
        elif not osp.isabs(bbox_file):
            bbox_file = osp.abspath(bbox_file)
    if not mpii and not yc.TEST.USE_GT_BBOX and not bbox_file:
        raise YacsImportError(f'{path}: TEST.USE_GT_BBOX is false but TEST.COCO_BBOX_FILE is '
                              'empty (the detector boxes to test on)')
    val = cfg['val_dataloader']
    val['batch_size'] = yc.TEST.BATCH_SIZE_PER_GPU
    _loader_workers(val, yc.WORKERS // num_gpus)
    val['pin_memory'] = yc.PIN_MEMORY
    val['dataset'].update(data_root=root, ann_file=ann_file(yc.DATASET.TEST_SET),
                          data_prefix=dict(img=img_prefix(yc.DATASET.TEST_SET)),
                          pipeline=val_pipeline)
    if mpii:  # annotated centre and scale, no detector boxes
        val['dataset']['gt_file'] = f'annot/gt_{yc.DATASET.TEST_SET}.mat'
    else:
        val['dataset'].update(bbox_file=bbox_file, det_score_thr=yc.TEST.IMAGE_THRE,
                              use_gt_bbox=yc.TEST.USE_GT_BBOX)
    cfg['test_dataloader'] = copy.deepcopy(val)

    evaluator = cfg['val_evaluator']
    if not mpii:  # MPII: the official PCKh table (the metric reads the val dataset's gt_file)
        evaluator.update(keypoint_score_thr=yc.TEST.IN_VIS_THRE, nms_thr=yc.TEST.OKS_THRE,
                         nms_mode='soft_oks_nms' if yc.TEST.SOFT_NMS else 'oks_nms')
    if not mpii and 'test' in yc.DATASET.TEST_SET:  # official: results file only, no evaluation
        evaluator.update(ann_file=None, format_only=True,
                         outfile_prefix=f'results/keypoints_{yc.DATASET.TEST_SET}')
    # otherwise the metric evaluates against the val dataset's annotation file (under root)
    cfg['test_evaluator'] = copy.deepcopy(evaluator)

    # ---- schedule (official get_optimizer: Adam gets no weight decay, TRAIN.WD is unused)
    if yc.TRAIN.OPTIMIZER == 'adam':
        optimizer = dict(type='Adam', lr=yc.TRAIN.LR, weight_decay=0.0)
    elif yc.TRAIN.OPTIMIZER == 'sgd':
        optimizer = dict(type='SGD', lr=yc.TRAIN.LR, momentum=yc.TRAIN.MOMENTUM,
                         weight_decay=yc.TRAIN.WD, nesterov=yc.TRAIN.NESTEROV)
    else:
        raise YacsImportError(f"{path}: TRAIN.OPTIMIZER must be 'adam' or 'sgd', "
                              f'got {yc.TRAIN.OPTIMIZER!r}')
    cfg['optim_wrapper']['optimizer'] = optimizer
    end = yc.TRAIN.END_EPOCH
    cfg['param_scheduler'] = [dict(type='MultiStepLR', by_epoch=True, begin=0, end=end,
                                   milestones=list(yc.TRAIN.LR_STEP), gamma=yc.TRAIN.LR_FACTOR)]
    cfg['train_cfg']['max_epochs'] = end
    cfg['train_cfg']['val_interval'] = min(cfg['train_cfg']['val_interval'], max(end, 1))
    cfg['auto_scale_lr'] = dict(base_batch_size=yc.TRAIN.BATCH_SIZE_PER_GPU * num_gpus)

    # ---- runtime
    _common_runtime(cfg, yc, yc.AUTO_RESUME)
    # A checkpoint per epoch, the last 3 kept (as configs/pose/*.py; the official code
    # overwrites one checkpoint.pth), and the best.
    cfg['default_hooks']['checkpoint'].update(save_best='mpii/Mean' if mpii else 'coco/AP',
                                              rule='greater', max_keep_ckpts=3)
    cfg.update(data_root=root, input_size=input_size, codec=codec,
               train_pipeline=train_pipeline, val_pipeline=val_pipeline)
    return cfg

