"""hrnet_train.config.yacs_import on the official yacs experiment files in tests/data/yacs/."""
import importlib.util
import warnings
from pathlib import Path

import pytest
import yaml
from mmengine.config import Config

from hrnet_train.config import load_config, validate_config
from hrnet_train.config.yacs_import import YacsImportError, YacsImportWarning, yacs_to_config
from hrnet_train.engine.launch import run_tool
from hrnet_train.registry import MODELS
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / 'tests' / 'data' / 'yacs'
POSE_W32 = DATA / 'w32_256x192_adam_lr1e-3.yaml'
POSE_W48 = DATA / 'w48_384x288_adam_lr1e-3.yaml'
POSE_MPII = DATA / 'w32_256x256_adam_lr1e-3.yaml'
SEG_W48 = DATA / 'seg_hrnet_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml'
SEG_OHEM = DATA / 'seg_hrnet_w48_train_ohem_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml'
SEG_SMALL = DATA / 'seg_hrnet_w18_small_v1_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml'
ALL = [POSE_W32, POSE_W48, POSE_MPII, SEG_W48, SEG_OHEM, SEG_SMALL]


@pytest.fixture(autouse=True, scope='module')
def _registered():
    register_all_modules()


def _convert(path, **kwargs) -> Config:
    """Convert and fail on any YacsImportWarning (the official files convert cleanly)."""
    with warnings.catch_warnings():
        warnings.simplefilter('error', YacsImportWarning)
        return yacs_to_config(path, **kwargs)


def _num_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _edited(tmp_path, src, edit, name='edited.yaml'):
    """Write a copy of ``src`` after ``edit(dict)`` changes it in place."""
    data = yaml.safe_load(Path(src).read_text())
    edit(data)
    out = tmp_path / name
    out.write_text(yaml.safe_dump(data))
    return out


def _pipeline(cfg_pipeline, type_name):
    return [t for t in cfg_pipeline if t['type'] == type_name]


# ------------------------------------------------------------------------------ pose
def test_pose_w32_256x192_matches_the_official_recipe_and_our_config():
    cfg = _convert(POSE_W32)
    model = MODELS.build(cfg.model)
    assert _num_params(model.backbone) == 28_535_552  # multi_scale_output=False
    ours = MODELS.build(Config.fromfile(ROOT / 'configs/pose/hrnet-w32_coco-256x192.py').model)
    assert list(model.state_dict()) == list(ours.state_dict())
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in ours.state_dict().items()}

    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=0.001, weight_decay=0.0)
    (sched,) = cfg.param_scheduler
    assert sched.type == 'MultiStepLR' and sched.milestones == [170, 200]
    assert sched.gamma == 0.1 and sched.end == 210 and cfg.train_cfg.max_epochs == 210
    assert cfg.train_dataloader.batch_size == 32 and cfg.auto_scale_lr.base_batch_size == 128
    assert cfg.train_dataloader.num_workers == 6  # WORKERS 24 over 4 GPUs
    codec = cfg.model.codec
    assert (codec.input_size, codec.heatmap_size, codec.sigma) == ((192, 256), (48, 64), 2)
    (gen,) = _pipeline(cfg.train_dataloader.dataset.pipeline, 'GenerateTarget')
    assert gen.encoder == codec
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        (affine,) = _pipeline(cfg[loader].dataset.pipeline, 'TopdownAffine')
        assert affine.input_size == (192, 256)
    (half,) = _pipeline(cfg.train_dataloader.dataset.pipeline, 'RandomHalfBody')
    assert half.prob == 0.3 and half.min_total_keypoints == 9  # "more than 8 visible"
    (bbox,) = _pipeline(cfg.train_dataloader.dataset.pipeline, 'RandomBBoxTransform')
    assert bbox.scale_factor == 0.35 and bbox.rotate_factor == 45
    assert cfg.model.test_cfg == dict(flip_test=True, shift_heatmap=True)
    assert cfg.val_evaluator.nms_thr == 0.9 and cfg.val_evaluator.keypoint_score_thr == 0.2
    assert cfg.val_evaluator.nms_mode == 'oks_nms'
    assert cfg.val_evaluator.get('ann_file') is None  # follows the val dataset's ann_file
    val = cfg.val_dataloader.dataset
    assert val.use_gt_bbox is True and val.det_score_thr == 0.0  # as the YAML says
    # relative to data_root, which the dataset joins it with
    assert val.bbox_file == 'person_detection_results/COCO_val2017_detections_AP_H_56_person.json'
    assert val.data_root == 'data/coco/' and val.data_prefix == dict(img='images/val2017/')
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='models/pytorch/imagenet/hrnet_w32-36af842e.pth')
    assert cfg.resume == 'auto'  # AUTO_RESUME: true


def test_pose_w48_384x288_sizes_and_sigma():
    cfg = _convert(POSE_W48)
    codec = cfg.model.codec
    assert (codec.input_size, codec.heatmap_size, codec.sigma) == ((288, 384), (72, 96), 3)
    assert cfg.model.head.in_channels == 48
    assert cfg.train_dataloader.batch_size == 24 and cfg.val_dataloader.batch_size == 24
    assert cfg.auto_scale_lr.base_batch_size == 96
    assert tuple(cfg.model.backbone.extra.stage4.num_channels) == (48, 96, 192, 384)


def test_pose_mpii_matches_the_official_recipe_and_our_config():
    cfg = _convert(POSE_MPII)
    ours = Config.fromfile(ROOT / 'configs/pose/hrnet-w32_mpii-256x256.py')
    for loader in ('train_dataloader', 'val_dataloader'):
        assert cfg[loader].dataset.to_dict() == ours[loader].dataset.to_dict(), loader
    val = cfg.val_dataloader.dataset
    assert val.type == 'MPIIDataset' and val.gt_file == 'annot/gt_valid.mat'
    assert val.ann_file == 'annot/valid.json' and val.data_prefix == dict(img='images/')
    assert 'bbox_file' not in val  # annotated centre and scale
    assert cfg.val_evaluator == dict(type='MpiiPCKhMetric', thr=0.5)
    assert cfg.model.head.num_keypoints == 16
    codec = cfg.model.codec
    assert (codec.input_size, codec.heatmap_size, codec.sigma) == ((256, 256), (64, 64), 2)
    assert not _pipeline(cfg.train_dataloader.dataset.pipeline, 'RandomHalfBody')  # -1.0
    (bbox,) = _pipeline(cfg.train_dataloader.dataset.pipeline, 'RandomBBoxTransform')
    assert bbox.scale_factor == 0.25 and bbox.rotate_factor == 30
    assert cfg.default_hooks.checkpoint.save_best == 'mpii/Mean'
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 3
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=0.001, weight_decay=0.0)
    assert cfg.auto_scale_lr.base_batch_size == 128
    model = MODELS.build(cfg.model)
    assert list(model.state_dict()) == list(MODELS.build(ours.model).state_dict())


def test_pose_mpii_half_body_and_errors(tmp_path):
    def half_body(d):
        d['DATASET']['PROB_HALF_BODY'] = 0.3
    cfg = _convert(_edited(tmp_path, POSE_MPII, half_body))
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert types.index('RandomHalfBody') == types.index('RandomFlip') + 1
    (half,) = _pipeline(cfg.train_dataloader.dataset.pipeline, 'RandomHalfBody')
    assert half.prob == 0.3 and half.min_total_keypoints == 9

    def joints(d):
        d['MODEL']['NUM_JOINTS'] = 17
    with pytest.raises(YacsImportError, match='MODEL.NUM_JOINTS=17 but MPII has 16'):
        yacs_to_config(_edited(tmp_path, POSE_MPII, joints, 'joints.yaml'))

    def test_set(d):
        d['DATASET']['TEST_SET'] = 'test'
    with pytest.raises(YacsImportError, match="TEST_SET 'test'.*no public GT"):
        yacs_to_config(_edited(tmp_path, POSE_MPII, test_set, 'test.yaml'))

    def other(d):
        d['DATASET']['DATASET'] = 'crowdpose'
    with pytest.raises(YacsImportError, match="expected 'coco' or 'mpii'"):
        yacs_to_config(_edited(tmp_path, POSE_MPII, other, 'other.yaml'))


def test_pose_missing_keys_take_the_official_yacs_defaults(tmp_path):
    def drop(d):
        for key in ('FLIP_TEST', 'SHIFT_HEATMAP', 'OKS_THRE', 'IN_VIS_THRE', 'IMAGE_THRE'):
            del d['TEST'][key]
        del d['DATASET']['COLOR_RGB']
        d['LOSS']['USE_DIFFERENT_JOINTS_WEIGHT'] = True

    cfg = yacs_to_config(_edited(tmp_path, POSE_W32, drop))
    # REFERENCE §3.7: the yacs defaults differ from the published YAML values.
    assert cfg.model.test_cfg == dict(flip_test=False, shift_heatmap=False)
    assert cfg.val_evaluator.nms_thr == 0.5 and cfg.val_evaluator.keypoint_score_thr == 0.0
    assert cfg.val_dataloader.dataset.det_score_thr == 0.1
    for loader in ('train_dataloader', 'val_dataloader'):
        (load,) = _pipeline(cfg[loader].dataset.pipeline, 'LoadImage')
        assert load.to_rgb is False  # COLOR_RGB defaults to False: the official BGR input
    (gen,) = _pipeline(cfg.train_dataloader.dataset.pipeline, 'GenerateTarget')
    assert gen.use_dataset_keypoint_weights is True
    assert cfg.train_dataloader.dataset.metainfo.joint_weights[9] == 1.5


def test_pose_sgd_data_root_and_disabled_augmentation(tmp_path):
    def edit(d):
        d['TRAIN'].update(OPTIMIZER='sgd', NESTEROV=True)
        d['DATASET'].update(FLIP=False, PROB_HALF_BODY=0.0)
        d['TEST'].update(USE_GT_BBOX=False, SOFT_NMS=True)
        d['AUTO_RESUME'] = False

    cfg = _convert(_edited(tmp_path, POSE_W32, edit), data_root='/datasets/coco')
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.001, momentum=0.9,
                                               weight_decay=0.0001, nesterov=True)
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert 'RandomFlip' not in types and 'RandomHalfBody' not in types
    val = cfg.val_dataloader.dataset
    assert val.data_root == '/datasets/coco' and val.use_gt_bbox is False
    # the detections file moves with the root it was under (joined by the dataset)
    assert val.bbox_file == 'person_detection_results/COCO_val2017_detections_AP_H_56_person.json'
    assert val.ann_file == 'annotations/person_keypoints_val2017.json'
    assert cfg.test_evaluator.get('ann_file') is None
    assert cfg.val_evaluator.nms_mode == 'soft_oks_nms' and cfg.resume is False


# ------------------------------------------------------------------------------ seg
def test_seg_w48_matches_the_official_recipe_and_our_config():
    cfg = _convert(SEG_W48)
    assert cfg.model.decode_head.num_classes == 19
    (crop,) = _pipeline(cfg.train_dataloader.dataset.pipeline, 'RandomCrop')
    assert crop.crop_size == (1024, 512)  # [w, h]
    (resize,) = _pipeline(cfg.train_dataloader.dataset.pipeline, 'RandomResize')
    assert resize.ratio_range == (0.5, 2.1) and resize.ratio_step == 0.1
    assert max(resize.scale) == 2048  # long side BASE_SIZE
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.01, momentum=0.9,
                                               weight_decay=0.0005, nesterov=False)
    # 484 epochs x int(2975 / 3 / 4) = 247 iterations
    assert cfg.train_cfg.max_iters == 484 * 247 == cfg.param_scheduler[0].end
    assert cfg.param_scheduler[0].type == 'PolyLR' and cfg.param_scheduler[0].power == 0.9
    assert cfg.train_dataloader.batch_size == 3 and cfg.auto_scale_lr.base_batch_size == 12
    assert cfg.model.loss.type == 'CrossEntropyLoss' and cfg.model.loss.ignore_index == 255
    assert cfg.model.test_cfg == dict(mode='whole')
    assert cfg.model.align_corners is False and cfg.model.backbone.align_corners is False
    assert cfg.train_dataloader.dataset.data_root == 'data/cityscapes'
    assert cfg.train_dataloader.dataset.data_prefix.img_path == 'leftImg8bit/train'
    assert cfg.val_dataloader.dataset.data_prefix.seg_map_path == 'gtFine/val'

    backbone = MODELS.build(cfg.model.backbone)
    ours = MODELS.build(
        Config.fromfile(ROOT / 'configs/seg/hrnetv2-w48_cityscapes-512x1024.py').model.backbone)
    assert _num_params(backbone) == _num_params(ours) == 65_325_120
    assert list(backbone.state_dict()) == list(ours.state_dict())


def test_seg_ohem_file_gives_the_official_ohem_loss():
    cfg = _convert(SEG_OHEM)  # its STAGE1 has the NUM_RANCHES typo: no warning, no error
    loss = cfg.model.loss
    assert loss.type == 'OhemCrossEntropyLoss'
    assert loss.thresh == 0.9 and loss.min_kept == 131072 and loss.ignore_index == 255
    assert len(loss.class_weight) == 19 and loss.class_weight[0] == 0.8373
    MODELS.build(cfg.model.loss)


def test_seg_small_v1_is_the_1_5m_model():
    cfg = _convert(SEG_SMALL)
    model = MODELS.build(cfg.model)
    assert round(_num_params(model) / 1e6, 1) == 1.5  # README: 1.5M
    ours = MODELS.build(Config.fromfile(
        ROOT / 'configs/seg/hrnetv2-w18-small-v1_cityscapes-512x1024.py').model)
    assert list(model.state_dict()) == list(ours.state_dict())
    assert _num_params(model) == _num_params(ours)


def test_seg_test_options_list_files_and_data_root(tmp_path):
    def edit(d):
        d['TEST'].update(SCALE_LIST=[0.75, 1.0, 1.25], FLIP_TEST=True)
        d['TRAIN'].update(MULTI_SCALE=False, FLIP=False, END_EPOCH=10)
        d['DATASET']['TRAIN_SET'] = 'list/cityscapes/trainval.lst'
        d['MODEL']['ALIGN_CORNERS'] = True  # HRNet-OCR branch key

    cfg = _convert(_edited(tmp_path, SEG_W48, edit), data_root='/datasets')
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(2048, 1024),
                                      stride=(2048, 1024), scales=[0.75, 1.0, 1.25], flip=True,
                                      tta_combine='exp_sum')
    assert [t['type'] for t in cfg.train_dataloader.dataset.pipeline] == [
        'LoadImage', 'LoadSegAnnotation', 'PackSegInputs']  # no resize, crop or flip
    train = cfg.train_dataloader.dataset
    assert train.data_root == '/datasets/cityscapes'
    assert train.ann_file == '/datasets/list/cityscapes/trainval.lst'
    assert cfg.train_cfg.max_iters == 10 * int(3475 / 3 / 4)
    assert cfg.model.loss.align_corners is True and cfg.model.neck.align_corners is True


# ------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize('path', ALL, ids=lambda p: p.stem)
def test_dump_reloads_to_the_same_dict(path, tmp_path):
    cfg = _convert(path)
    out = tmp_path / 'converted.py'
    cfg.dump(str(out))
    assert Config.fromfile(str(out)).to_dict() == cfg.to_dict()


def test_train_tool_accepts_a_yaml(monkeypatch):
    assert load_config(str(POSE_W32)).to_dict() == _convert(POSE_W32).to_dict()
    spec = importlib.util.spec_from_file_location('_tool_train', ROOT / 'tools' / 'train.py')
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    cfg = train.build_config(train.parse_args(
        [str(SEG_SMALL), '--cfg-options', 'train_dataloader.batch_size=2']))
    assert cfg.work_dir.endswith(SEG_SMALL.stem) and cfg.train_dataloader.batch_size == 2
    assert cfg.model.backbone.extra.stage1.num_channels == (32,)


def test_cli_writes_a_config_and_a_summary(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        '_tool_yacs', ROOT / 'tools' / 'misc' / 'yacs_to_config.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'seg.py'
    assert tool.main([str(SEG_OHEM), str(out), '--data-root', '/datasets']) == 0
    expected = _convert(SEG_OHEM, data_root='/datasets').to_dict()
    assert Config.fromfile(str(out)).to_dict() == expected
    printed = capsys.readouterr().out
    assert '119548 iterations' in printed and 'OhemCrossEntropyLoss' in printed
    assert run_tool(tool.main, [str(tmp_path / 'missing.yaml'), str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f'error: {tmp_path / "missing.yaml"}: yacs experiment file not found\n'


@pytest.mark.parametrize('path', ALL, ids=lambda p: p.stem)
def test_converted_configs_validate(path):
    """The converted configs name only registered types with their real arguments."""
    validate_config(_convert(path))


# ------------------------------------------------------------------------------ bad input
def test_errors_name_the_file_and_key(tmp_path):
    assert issubclass(YacsImportError, ConfigError)  # the tools answer with exit code 2
    with pytest.raises(FileNotFoundError, match='nope.yaml: yacs experiment file not found'):
        yacs_to_config(tmp_path / 'nope.yaml')

    bad = tmp_path / 'bad.yaml'
    bad.write_text('MODEL: [1, 2\n')
    with pytest.raises(YacsImportError, match='bad.yaml: not a valid YAML file'):
        yacs_to_config(bad)
    bad.write_text('just a string\n')
    with pytest.raises(YacsImportError, match='bad.yaml: not a yacs experiment file'):
        yacs_to_config(bad)

    def rename(d):
        d['MODEL']['NAME'] = 'seg_hrnet_ocr'
    with pytest.raises(YacsImportError, match="MODEL.NAME 'seg_hrnet_ocr' is not supported"):
        yacs_to_config(_edited(tmp_path, SEG_W48, rename))

    def no_name(d):
        del d['MODEL']['NAME']
    with pytest.raises(YacsImportError, match='edited.yaml: MODEL.NAME is missing'):
        yacs_to_config(_edited(tmp_path, POSE_W32, no_name))

    def no_channels(d):
        del d['MODEL']['EXTRA']['STAGE3']['NUM_CHANNELS']
    with pytest.raises(YacsImportError,
                       match='edited.yaml: MODEL.EXTRA.STAGE3.NUM_CHANNELS is missing'):
        yacs_to_config(_edited(tmp_path, POSE_W32, no_channels))

    def no_stage1(d):
        del d['MODEL']['EXTRA']['STAGE1']
    with pytest.raises(YacsImportError, match='MODEL.EXTRA.STAGE1 is missing'):
        yacs_to_config(_edited(tmp_path, SEG_W48, no_stage1))

    def short(d):
        d['MODEL']['EXTRA']['STAGE4']['NUM_BLOCKS'] = [4, 4]
    with pytest.raises(YacsImportError, match=r'STAGE4.NUM_BLOCKS needs NUM_BRANCHES=4'):
        yacs_to_config(_edited(tmp_path, POSE_W32, short))

    def int_lr(d):
        d['TRAIN']['LR'] = 1  # yacs refuses int for the float default, as officially
    with pytest.raises(YacsImportError, match='edited.yaml: .*TRAIN.LR'):
        yacs_to_config(_edited(tmp_path, POSE_W32, int_lr))

    def rmsprop(d):
        d['TRAIN']['OPTIMIZER'] = 'rmsprop'
    with pytest.raises(YacsImportError, match="TRAIN.OPTIMIZER must be 'adam' or 'sgd'"):
        yacs_to_config(_edited(tmp_path, POSE_W32, rmsprop))

    def mpii(d):
        d['DATASET']['DATASET'] = 'mpii'
    with pytest.raises(YacsImportError, match='MODEL.NUM_JOINTS=17 but MPII has 16 keypoints'):
        yacs_to_config(_edited(tmp_path, POSE_W32, mpii))


def test_unknown_and_unsupported_settings_warn(tmp_path):
    def edit(d):
        d['FOO'] = 1
        d['MODEL']['EXTRA']['STAGE2']['BAR'] = 2
        d['TEST']['POST_PROCESS'] = False
        d['DATASET']['SELECT_DATA'] = True
        d['MODEL']['EXTRA']['STAGE1'] = dict(NUM_MODULES=1, NUM_BRANCHES=1, BLOCK='BASIC',
                                             NUM_BLOCKS=[2], NUM_CHANNELS=[32])

    with pytest.warns(YacsImportWarning) as record:
        cfg = yacs_to_config(_edited(tmp_path, POSE_W32, edit))
    (message,) = [str(w.message) for w in record]
    for key in ('FOO', 'MODEL.EXTRA.STAGE2.BAR', 'TEST.POST_PROCESS=False',
                'DATASET.SELECT_DATA=True', 'MODEL.EXTRA.STAGE1'):
        assert key in message
    assert cfg.model.backbone.extra.stage1.num_blocks == (4,)  # pose_hrnet ignores STAGE1
