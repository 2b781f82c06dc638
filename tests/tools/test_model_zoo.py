"""tools/analysis/model_zoo.py: rows against direct counts, the official-number table, the input
size rules, the Markdown and ``--speed`` on one small config (latency not asserted: shared CPU)."""
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from hrnet_train.engine.launch import run_tool
from hrnet_train.registry import MODELS
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('model_zoo_tool',
                                               ROOT / 'tools/analysis/model_zoo.py')
MZ = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = MZ  # dataclasses look the module up while the class is created
_spec.loader.exec_module(MZ)

POSE_QS = 'pose/hrnet-w18-small_coco-tiny-128x96_quickstart.py'


def _direct_params(config: str) -> int:
    register_all_modules()
    cfg = Config.fromfile(str(ROOT / 'configs' / config))
    model = MODELS.build(cfg.model)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('config,hw,rule,official', [
    # with an official number: leoxiaobin/deep-high-resolution-net.pytorch README, 74.4 AP
    ('pose/hrnet-w32_coco-256x192.py', (256, 192), 'codec input_size', '74.4'),
    # without one (HRNetV2-W18 on Cityscapes has no README row); whole 2048x1024 test image
    ('seg/hrnetv2-w18_cityscapes-512x1024.py', (1024, 2048), 'keep-ratio test Resize bound',
     None),
    # ImageNet: resize 256, centre crop 224; README top-1 error 27.7
    ('cls/hrnet-w18-small-v1_imagenet-224.py', (224, 224), 'test CenterCrop', '27.7'),
])
def test_rows_count_the_built_model(config, hw, rule, official):
    row = MZ.zoo_row(config)
    assert row.params == _direct_params(config)
    assert (row.input_hw, row.input_rule) == (hw, rule)
    assert [o.value for o in row.official] == ([official] if official else [])
    assert not row.quickstart and row.command == f'python tools/train.py configs/{config}'


def test_rows_reproduce_the_official_complexity():
    """The README figures (params 28.5M / 7.1 GFLOPs; 9.64M / 137.3 counted, docs/segmentation.md;
    13.2M / 1.49) come out of the rows at the derived input sizes."""
    pose = MZ.zoo_row('pose/hrnet-w32_coco-256x192.py')
    seg = MZ.zoo_row('configs/seg/hrnetv2-w18_cityscapes-512x1024.py')  # repo-relative path
    cls = MZ.zoo_row('cls/hrnet-w18-small-v1_imagenet-224.py')
    assert (round(pose.params / 1e6, 1), round(pose.gflops, 1)) == (28.5, 7.1)
    assert seg.params == 9_641_119 and round(seg.gflops, 1) == 137.3
    assert (round(cls.params / 1e6, 1), round(cls.gflops, 2)) == (13.2, 1.49)


def test_official_table_names_real_configs_and_sources():
    configs = set(MZ.find_configs())
    assert set(MZ.OFFICIAL) <= configs and MZ.TEST_ONLY <= configs
    assert all(o.source in MZ.SOURCES for entries in MZ.OFFICIAL.values() for o in entries)
    assert not any('quickstart' in c for c in MZ.OFFICIAL)
    assert not any('_base_' in c for c in configs)
    # det: the mmdet-recipe config carries mmdet's number and the fork's; the fork config the fork's
    assert [o.value for o in MZ.OFFICIAL['det/faster-rcnn_hrnetv2p-w32_1x_coco.py']] == [
        '40.2', '39.5']
    assert [o.value for o in MZ.OFFICIAL['det/faster-rcnn_hrnetv2p-w32_1x_coco_fork.py']] == [
        '39.5']


def test_input_size_rules():
    def cfg(model=None, pipeline=(), **top):
        return Config(dict(model=model or {}, test_dataloader=dict(
            dataset=dict(type='RepeatDataset', dataset=dict(pipeline=list(pipeline)))), **top))

    assert MZ.test_input_hw(cfg(input_size=(96, 128))) == ((128, 96), 'codec input_size')
    slide = dict(test_cfg=dict(mode='slide', crop_size=(520, 480)))
    assert MZ.test_input_hw(cfg(slide)) == ((520, 480), 'slide-window crop_size')
    crop = [dict(type='ResizeEdge', scale=72), dict(type='CenterCrop', crop_size=(64, 48))]
    assert MZ.test_input_hw(cfg(pipeline=crop)) == ((48, 64), 'test CenterCrop')
    exact = [dict(type='Resize', scale=(473, 400), keep_ratio=False)]
    assert MZ.test_input_hw(cfg(pipeline=exact)) == ((400, 473), 'test Resize')
    bound = [dict(type='Resize', scale=(1333, 800), keep_ratio=True)]
    assert MZ.test_input_hw(cfg(pipeline=bound))[0] == (800, 1333)
    with pytest.raises(ConfigError, match='cannot tell the test input size'):
        MZ.test_input_hw(cfg(pipeline=[dict(type='LoadImage')]))


def test_cli_markdown(tmp_path, capsys):
    out = tmp_path / 'zoo.md'
    argv = ['--out', str(out), '--configs', 'pose/hrnet-w32_coco-256x192.py',
            'seg/hrnetv2-w18_cityscapes-512x1024.py', POSE_QS]
    assert run_tool(MZ.main, argv) == 0
    md = out.read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith('| [`')]
    assert len(rows) == 3
    pose = next(r for r in rows if 'hrnet-w32_coco-256x192' in r).split(' | ')
    assert pose[1:6] == ['pose', 'COCO keypoints', '256×192 (codec input_size)', '28.54', '7.12']
    assert pose[6] == '74.4 COCO val2017 AP [1]' and pose[7] == ''
    seg = next(r for r in rows if 'hrnetv2-w18_cityscapes' in r).split(' | ')
    assert seg[4:7] == ['9.64', '137.28', '']  # no official number: empty cell
    # the quickstart is in its own table, after the models
    assert md.index('## Quickstarts') < md.index('| [`hrnet-w18-small_coco-tiny')
    assert md.index('## Models') < md.index('## Quickstarts') < md.index('## Sources')
    assert re.search(r'^1\. leoxiaobin/deep-high-resolution-net\.pytorch README', md, re.M)
    assert 'empty on this page' in md
    assert ('Generated by `python tools/analysis/model_zoo.py --configs '
            'pose/hrnet-w32_coco-256x192.py' in md)
    assert 'wrote' in capsys.readouterr().out


def test_cli_speed_on_one_small_config(tmp_path):
    import torch
    out = tmp_path / 'zoo.md'
    argv = ['--out', str(out), '--configs', POSE_QS, '--speed', '--threads', '1',
            '--speed-budget', '0.2']
    assert run_tool(MZ.main, argv) == 0
    md = out.read_text()
    row = next(ln for ln in md.splitlines() if ln.startswith('| [`')).split(' | ')
    assert float(row[7]) > 0
    assert f'torch {torch.__version__}' in md and 'torch threads: 1' in md and 'CPU: ' in md
    assert (f'Generated by `python tools/analysis/model_zoo.py --configs {POSE_QS} --speed '
            '--threads 1`' in md)


def test_default_out_leaves_the_docs_page_alone():
    # The README's command must not overwrite docs/model_zoo.md (measured latencies) with a
    # page without them; the page names the command that regenerates it.
    parser = MZ.build_parser()
    assert parser.parse_args([]).out == 'work_dirs/model_zoo.md'
    args = parser.parse_args(['--speed', '--threads', '2', '--out', 'docs/model_zoo.md'])
    assert MZ.command_line(args) == 'python tools/analysis/model_zoo.py --speed --threads 2'
    page = (ROOT / 'docs' / 'model_zoo.md').read_text()
    assert 'Generated by `python tools/analysis/model_zoo.py --speed --threads 2`' in page


def test_cli_unknown_config_is_one_line(tmp_path, capsys):
    argv = ['--out', str(tmp_path / 'zoo.md'), '--configs', 'pose/nope.py']
    assert run_tool(MZ.main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == 'error: pose/nope.py: no such config'
    assert not (tmp_path / 'zoo.md').exists()
