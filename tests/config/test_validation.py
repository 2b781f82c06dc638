"""validate_config: unknown keys (constructor signatures, **kwargs up the MRO), unknown types and
top-level typos, each as one ConfigError line naming the dotted key."""
import copy
from pathlib import Path

import pytest
from mmengine.config import Config

from hrnet_train.config import validate_config
from hrnet_train.config.validation import accepted_arguments, did_you_mean
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
POSE = ROOT / 'configs' / 'pose' / 'hrnet-w18-small_coco-tiny-128x96_quickstart.py'
SEG = ROOT / 'configs' / 'seg' / 'hrnetv2-w48_cityscapes-512x1024.py'


@pytest.fixture(scope='module')
def pose():
    register_all_modules()
    return Config.fromfile(str(POSE))


@pytest.fixture(scope='module')
def seg():
    register_all_modules()
    return Config.fromfile(str(SEG))


def _error(cfg, options):
    cfg = copy.deepcopy(cfg)
    cfg.merge_from_dict(options)
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    message = str(info.value)
    assert '\n' not in message
    return message


@pytest.mark.parametrize('options, message', [
    # (a) arguments, by position: model, loop, pipeline, codec, sampler, hook, optimizer, ...
    ({'model.backbone.archh': 'w48'},
     "model.backbone.archh: HRNet has no argument 'archh'; did you mean 'arch'?"),
    ({'train_cfg.max_epoch': 3},
     "train_cfg.max_epoch: EpochBasedTrainLoop has no argument 'max_epoch'; "
     "did you mean 'max_epochs'?"),
    ({'train_dataloader.dataset.dataset.pipeline.5.encoder.sigmaa': 2},
     'train_dataloader.dataset.dataset.pipeline.5.encoder.sigmaa: MSRAHeatmap has no argument '
     "'sigmaa'; did you mean 'sigma'?"),
    ({'train_dataloader.dataset.times_': 2},
     "train_dataloader.dataset.times_: RepeatDataset has no argument 'times_'; "
     "did you mean 'times'?"),
    ({'train_dataloader.sampler.shufle': True},
     "train_dataloader.sampler.shufle: DefaultSampler has no argument 'shufle'; "
     "did you mean 'shuffle'?"),
    ({'train_dataloader.batch_sise': 2},
     "train_dataloader.batch_sise: the dataloader has no argument 'batch_sise'; "
     "did you mean 'batch_size'?"),
    ({'default_hooks.logger.intervall': 3},
     "default_hooks.logger.intervall: LoggerHook has no argument 'intervall'; "
     "did you mean 'interval'?"),
    ({'optim_wrapper.optimizer.lrr': 1e-3},
     "optim_wrapper.optimizer.lrr: Adam has no argument 'lrr'; did you mean 'lr'?"),
    ({'optim_wrapper.clip_gradd': None},
     "optim_wrapper.clip_gradd: OptimWrapper has no argument 'clip_gradd'; "
     "did you mean 'clip_grad'?"),
    ({'param_scheduler.0.start_factr': 0.1},
     "param_scheduler.0.start_factr: LinearLR has no argument 'start_factr'; "
     "did you mean 'start_factor'?"),
    ({'val_evaluator.nms_thrr': 0.9},
     "val_evaluator.nms_thrr: CocoKeypointMetric has no argument 'nms_thrr'; "
     "did you mean 'nms_thr'?"),
    ({'log_processor.window_sise': 3},
     "log_processor.window_sise: LogProcessor has no argument 'window_sise'; "
     "did you mean 'window_size'?"),
    ({'val_cfg.foo': 1}, "val_cfg.foo: ValLoop has no argument 'foo' (it takes: dataloader, "
                         'evaluator, fp16, runner)'),
    ({'train_cfg.type': 'IterBasedTrainLoop'},
     "train_cfg.max_epochs: IterBasedTrainLoop has no argument 'max_epochs'"),
    # (b) types, with a did-you-mean from the registry of the position
    ({'model.backbone.type': 'HRNett'},
     "model.backbone.type: 'HRNett' is not a registered model; did you mean 'HRNet'?"),
    ({'train_dataloader.dataset.dataset.pipeline.5.encoder.type': 'MSRAHeatmapp'},
     "encoder.type: 'MSRAHeatmapp' is not a registered keypoint codec; "
     "did you mean 'MSRAHeatmap'?"),
    ({'custom_hooks.0.type': 'PoseVisualisationHook'},
     "custom_hooks.0.type: 'PoseVisualisationHook' is not a registered hook; "
     "did you mean 'PoseVisualizationHook'?"),
    ({'visualizer.vis_backends.0.type': 'TensorBoardVisBackend'},
     "visualizer.vis_backends.0.type: 'TensorBoardVisBackend' is not a registered "
     "visualization backend; did you mean 'TensorboardVisBackend'?"),
    ({'val_dataloader.dataset.type': 'cocokeypointdataset'},
     "did you mean 'CocoKeypointDataset'?"),
    # (c) top level
    ({'trian_dataloader': dict(batch_size=2)},
     "trian_dataloader: not a key the Runner reads; did you mean 'train_dataloader'?"),
    ({'default_hook': dict()}, "did you mean 'default_hooks'?"),
    ({'lr_config': dict(policy='step')},
     'lr_config: an mmcv 1.x key that mmengine does not read; use param_scheduler instead'),
])
def test_pose_config_mistakes(pose, options, message):
    assert message in _error(pose, options)


@pytest.mark.parametrize('options, message', [
    ({'model.backbone.norm_cfg.momentumm': 0.01},
     "model.backbone.norm_cfg.momentumm: SyncBatchNorm (type='SyncBN') has no argument "
     "'momentumm'; did you mean 'momentum'?"),
    ({'model.backbone.norm_cfg.type': 'SyncBNN'},
     "model.backbone.norm_cfg.type: 'SyncBNN' is not a registered norm layer; "
     "did you mean 'SyncBN'?"),
    ({'model.backbone.init_cfg.checkpointt': 'x.pth'},
     "model.backbone.init_cfg.checkpointt: Pretrained has no argument 'checkpointt'; "
     "did you mean 'checkpoint'?"),
    ({'model.decode_head.num_clases': 19},
     "model.decode_head.num_clases: SegHead has no argument 'num_clases'; "
     "did you mean 'num_classes'?"),
    ({'model.loss.class_weigth': None}, "did you mean 'class_weight'?"),
    ({'train_dataloader.dataset.pipeline.2.ratio_rang': (0.5, 2.0)},
     "RandomResize has no argument 'ratio_rang'; did you mean 'ratio_range'?"),
    ({'train_dataloader.sampler.type': 'InfinitSampler'}, "did you mean 'InfiniteSampler'?"),
    ({'param_scheduler.0.powr': 0.9}, "did you mean 'power'?"),
])
def test_seg_config_mistakes(seg, options, message):
    assert message in _error(seg, options)


def test_builder_keys_and_typeless_entries_are_accepted(pose):
    cfg = copy.deepcopy(pose)
    cfg.merge_from_dict({
        'default_hooks.logger.priority': 'LOW',  # popped by Runner.register_hook
        'param_scheduler.1.convert_to_iter_based': True,  # popped by the scheduler builder
        'optim_wrapper.paramwise_cfg': dict(norm_decay_mult=0.0),  # popped by the constructor
        'train_dataloader.num_batch_per_epoch': 2,  # popped by Runner.build_dataloader
        'train_dataloader.pin_memory': True,  # torch DataLoader
    })
    cfg.train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=1)  # hrnet_train's Runner
    cfg.model_wrapper_cfg = dict(find_unused_parameters=True)
    cfg.channels_last = True
    validate_config(cfg)


def test_kwargs_are_followed_up_the_mro():
    from hrnet_train.engine import AmpOptimWrapper
    from hrnet_train.engine.loops import FastResumeEpochBasedTrainLoop
    assert {'loss_scale', 'dtype', 'optimizer', 'clip_grad'} <= accepted_arguments(
        AmpOptimWrapper)  # AmpOptimWrapper(**kwargs) -> OptimWrapper
    assert {'max_epochs', 'val_interval'} <= accepted_arguments(FastResumeEpochBasedTrainLoop)
    from mmengine.optim import MultiStepLR  # LRSchedulerMixin(**kwargs) -> MultiStepParamScheduler
    assert {'milestones', 'gamma', 'by_epoch'} <= accepted_arguments(MultiStepLR)
    assert did_you_mean('archh', ['arch', 'extra']) == "; did you mean 'arch'?"
    assert did_you_mean('zzz', ['arch']) == ''


def test_a_custom_runner_may_read_its_own_keys(pose):
    cfg = copy.deepcopy(pose)
    cfg.runner_type = 'Runner'
    cfg.trian_dataloader = dict()
    validate_config(cfg)
