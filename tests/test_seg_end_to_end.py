"""Segmentation end to end on the bundled Cityscapes frame (data/cityscapes_tiny).

tools/train.py trains the quickstart config for a few CPU iterations and validates; the loss falls,
the IoU metric logs its per-class table and returns finite aAcc / mIoU / mAcc, and
SegVisualizationHook writes the prediction in the Cityscapes palette. tools/test.py then evaluates
the checkpoint with whole-image, multi-scale + flip and slide inference set via --cfg-options.
"""
import importlib.util
import json
import math
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from hrnet_train.datasets.cityscapes import CITYSCAPES_PALETTE

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'seg', 'hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py')
STEM = 'frankfurt_000000_000294_leftImg8bit'
ITERS = 10
SHORT = [f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
         f'param_scheduler.0.end={ITERS}', f'default_hooks.checkpoint.interval={ITERS}',
         'default_hooks.logger.interval=5', 'randomness.seed=0']
# A row of IoUMetric's per-class table: '|          road | 83.23 |  85.15 |' (nan when absent).
ROW = r'^\|\s+{}\s\|\s+(?:[\d.]+|nan)\s\|\s+(?:[\d.]+|nan)\s\|$'


def _has_table(text):
    return 'per class results:' in text and all(
        re.search(ROW.format(re.escape(name)), text, re.M)
        for name in ('road', 'traffic sign', 'bicycle'))


def _tool(name):
    spec = importlib.util.spec_from_file_location(f'_seg_tool_{name}',
                                                  osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_metrics(metrics):
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert math.isfinite(metrics[key]) and 0.0 <= metrics[key] <= 100.0, (key, metrics)
    assert len([k for k in metrics if k.startswith('IoU.')]) == 19


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """(work_dir, runner, stdout of training): the quickstart config, ITERS iterations."""
    import sys
    from io import StringIO
    work_dir = str(tmp_path_factory.mktemp('seg_e2e'))
    capture, saved = StringIO(), sys.stdout
    sys.stdout = capture  # mmengine's logger binds sys.stdout when the runner creates it
    try:
        runner = _tool('train').main([CONFIG, '--work-dir', work_dir, '--cfg-options', *SHORT,
                                      'experiment_name=seg_e2e_train'])
    finally:
        sys.stdout = saved
    return work_dir, runner, capture.getvalue()


def test_training_lowers_the_loss(trained):
    _, runner, _ = trained
    assert runner.iter == ITERS
    # RuntimeInfoHook keeps every iteration's raw loss (not the logger's window mean).
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == ITERS and np.isfinite(losses).all()
    # Seeded and deterministic on CPU: first 2.95 (about ln 19 = 2.94), last three about 1.7.
    assert losses[-3:].mean() < losses[0] - 0.5, losses


def test_validation_logs_table_and_metrics(trained):
    work_dir, runner, out = trained
    assert _has_table(out)
    assert 'aAcc:' in out and 'mIoU:' in out and 'mAcc:' in out
    scalars = {k[4:]: v.current() for k, v in runner.message_hub.log_scalars.items()
               if k.startswith('val/')}
    _check_metrics(scalars)
    assert osp.isfile(osp.join(work_dir, f'iter_{ITERS}.pth'))


def test_vis_hook_writes_palette_mask_and_overlay(trained):
    work_dir, runner, _ = trained
    vis_dir = osp.join(work_dir, 'vis', f'val_iter{ITERS}')
    mask = cv2.imread(osp.join(vis_dir, f'{STEM}.png'), cv2.IMREAD_COLOR)
    over = cv2.imread(osp.join(vis_dir, f'{STEM}_overlay.png'), cv2.IMREAD_COLOR)
    assert mask is not None and over is not None
    assert mask.shape == over.shape == (128, 256, 3)  # the original frame size
    colours = {tuple(c) for c in np.unique(mask[..., ::-1].reshape(-1, 3), axis=0)}
    assert colours and colours <= set(CITYSCAPES_PALETTE)  # every pixel is a class colour
    # The overlay is the frame blended with the mask, not the mask itself.
    assert not np.array_equal(mask, over)


@pytest.mark.parametrize('options', [
    [],
    ['model.test_cfg.scales=[0.5,1.0]', 'model.test_cfg.flip=True'],
    ['model.test_cfg.scales=[0.75,1.25]', 'model.test_cfg.flip=True',
     'model.test_cfg.tta_combine=exp_sum'],
    ['model.test_cfg.mode=slide', 'model.test_cfg.crop_size=[128,128]',
     'model.test_cfg.stride=[96,96]'],
], ids=['whole', 'ms-flip', 'ms-flip-exp-sum', 'slide'])
def test_test_tool_prints_table_and_metrics(trained, tmp_path, capsys, request, options):
    work_dir, runner, _ = trained
    out_json = tmp_path / 'metrics.json'
    # A distinct experiment name per run: mmengine names the logger (and message hub) after
    # <config>_<timestamp in seconds>, so two runners built within one second would share the
    # first one's logger, which still writes to the previous test's captured stdout.
    name = 'seg_e2e_test_' + request.node.callspec.id
    metrics = _tool('test').main([CONFIG, osp.join(work_dir, f'iter_{ITERS}.pth'),
                                  '--work-dir', str(tmp_path), '--out', str(out_json),
                                  '--cfg-options', *options, f'experiment_name={name}'])
    printed = capsys.readouterr().out
    assert _has_table(printed)
    _check_metrics(metrics)
    if not options:  # the checkpoint reproduces the validation at the end of training
        val = runner.message_hub.get_scalar('val/mIoU').current()
        assert metrics['mIoU'] == pytest.approx(val, abs=1e-6)
    saved = json.loads(out_json.read_text())
    assert saved['mIoU'] == pytest.approx(metrics['mIoU'])
    assert osp.isfile(tmp_path / 'vis' / 'test' / f'{STEM}.png')
