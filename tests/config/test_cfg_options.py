"""--cfg-options: KEY=VALUE parsing, data_root moving the datasets, and keys nothing would read."""
import argparse
from pathlib import Path

import pytest
from mmengine.config import Config

from hrnet_train.config import CfgOptionsAction, merge_cfg_options, move_data_root, prepare_config
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
POSE = ROOT / 'configs' / 'pose' / 'hrnet-w18-small_coco-tiny-128x96_quickstart.py'
SEG = ROOT / 'configs' / 'seg' / 'hrnetv2-w48_cityscapes-512x1024.py'
SEG_FOLDER = ROOT / 'configs' / 'seg' / 'hrnetv2-w18_custom-folder-512x512.py'


def _parser():
    parser = argparse.ArgumentParser(prog='train.py')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser


def test_action_parses_like_dict_action():
    args = _parser().parse_args(['--cfg-options', 'a.b=1', 'c=[1,2]', 'd=x,y', 'e=None'])
    assert args.cfg_options == {'a.b': 1, 'c': [1, 2], 'd': ['x', 'y'], 'e': None}


@pytest.mark.parametrize('item, expected', [
    ('batch_size', "'batch_size' is not KEY=VALUE (e.g. train_dataloader.batch_size=2)"),
    ('=3', "'=3' is not KEY=VALUE"),
    ('a=[1,(2]', "'a=[1,(2]' has unbalanced brackets"),
])
def test_action_rejects_malformed_items(item, expected, capsys):
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(['--cfg-options', 'ok=1', item])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f'argument --cfg-options: {expected}' in err and 'Traceback' not in err


def _dataset_roots(cfg):
    return dict(
        train=cfg.train_dataloader.dataset.get('dataset', cfg.train_dataloader.dataset).data_root,
        val=cfg.val_dataloader.dataset.data_root, test=cfg.test_dataloader.dataset.data_root)


def test_data_root_moves_every_pose_dataset_through_wrappers():
    cfg = Config.fromfile(str(POSE))
    assert cfg.train_dataloader.dataset.type == 'RepeatDataset'
    merge_cfg_options(cfg, {'data_root': '/datasets/coco/'})
    assert cfg.data_root == '/datasets/coco/'
    assert _dataset_roots(cfg) == dict(train='/datasets/coco/', val='/datasets/coco/',
                                       test='/datasets/coco/')


def test_data_root_moves_every_seg_dataset_and_an_explicit_key_wins():
    cfg = Config.fromfile(str(SEG))
    merge_cfg_options(cfg, {'data_root': '/datasets/cityscapes',
                            'val_dataloader.dataset.data_root': '/fast/cityscapes'})
    assert _dataset_roots(cfg) == dict(train='/datasets/cityscapes', val='/fast/cityscapes',
                                       test='/datasets/cityscapes')


def test_data_root_keeps_datasets_with_another_root():
    cfg = Config.fromfile(str(SEG_FOLDER))
    cfg.val_dataloader.dataset.data_root = 'elsewhere'
    moved = move_data_root(cfg, '/data/mine')
    assert moved == ['train_dataloader.dataset', 'test_dataloader.dataset']
    assert cfg.val_dataloader.dataset.data_root == 'elsewhere'


def test_data_root_needs_a_top_level_data_root():
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='X', data_root='a'))))
    with pytest.raises(ConfigError, match='this config has no top-level data_root'):
        merge_cfg_options(cfg, {'data_root': 'b'})


def test_prepare_config_moves_and_validates(tmp_path):
    register_all_modules()
    cfg = prepare_config(str(SEG), cfg_options={'data_root': str(tmp_path)}, launcher='none',
                         work_dir=str(tmp_path / 'wd'))
    assert set(_dataset_roots(cfg).values()) == {str(tmp_path)}
    assert cfg.work_dir == str(tmp_path / 'wd')


@pytest.mark.parametrize('options, message', [
    ({'batch_size': 2}, "--cfg-options batch_size: the config has no top-level 'batch_size' and "
                        "the Runner does not read it; did you mean 'train_dataloader.batch_size'?"),
    ({'data_rot': 'x'}, "did you mean 'data_root'?"),
    ({'trian_dataloader.batch_size': 2}, "did you mean 'train_dataloader'?"),
    ({'model.test_cfg.flip_tset': False},
     "--cfg-options model.test_cfg.flip_tset: model.test_cfg has no key 'flip_tset'; "
     "did you mean 'flip_test'?"),
    ({'train_dataloader.dataset.dataset.data_prefix.imgg': 'x/'}, "did you mean 'img'?"),
    ({'custom_hooks.1.type': 'X'},
     '--cfg-options custom_hooks.1.type: custom_hooks has 1 entries (indices 0 .. 0)'),
    ({'param_scheduler.first.end': 3}, 'param_scheduler is a list; address an entry by its index'),
    ({'model.backbone.arch.x': 1},
     "model.backbone.arch is 'w18-small-v1', not a dict, so it has no key 'x'"),
])
def test_keys_nothing_would_read(options, message):
    cfg = Config.fromfile(str(POSE))
    with pytest.raises(ConfigError) as info:
        merge_cfg_options(cfg, options)
    assert message in str(info.value) and '\n' not in str(info.value)


@pytest.mark.parametrize('config, option, copies', [
    (POSE, 'codec.sigma', 'model.codec.sigma, '
                          'train_dataloader.dataset.dataset.pipeline.5.encoder.sigma'),
    (POSE, 'train_pipeline.2.prob', 'train_dataloader.dataset.dataset.pipeline.2.prob'),
    (SEG, 'norm_cfg.momentum', 'model.backbone.norm_cfg.momentum, '
                               'model.decode_head.norm_cfg.momentum'),
    (SEG, 'vis_backends.0.type', 'visualizer.vis_backends.0.type'),
])
def test_options_on_config_variables_are_rejected(config, option, copies):
    """A config file's variables were copied into place when it was read: changing them alone
    would change nothing, so the error names the copies to set instead."""
    cfg = Config.fromfile(str(config))
    with pytest.raises(ConfigError) as info:
        merge_cfg_options(cfg, {option: 1})
    variable = option.split('.')[0]
    assert str(info.value) == (
        f"--cfg-options {option}: '{variable}' is a variable of the config file; its value was "
        'copied where it is used when the file was read, so this changes nothing; set the keys '
        f'that use it (it was copied to {copies})')


def test_new_keys_that_are_read_are_accepted():
    cfg = Config.fromfile(str(POSE))
    merge_cfg_options(cfg, {'compile': True, 'channels_last': True, 'work_dir': 'w',
                            'input_size': (48, 64),  # read by tools/analysis/get_flops.py
                            'model.test_cfg.output_heatmaps': True,  # no near miss
                            'model.backbone.frozen_stages': 1})  # a component: validated later
    assert cfg.compile and cfg.model.test_cfg.output_heatmaps
