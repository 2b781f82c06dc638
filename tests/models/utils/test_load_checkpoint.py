"""Every official / OpenMMLab layout loads strictly into the real models through
``load_checkpoint``, with identical outputs; files that do not fit fail with a one-line error.

tools/test.py, ``load_from``, ``init_cfg`` and ``init_model`` share this function. Before it, an
official-layout file given to tools/test.py loaded nothing (every key "unexpected", AP 0.0) and an
mmseg file failed strict loading on the head conv's bias.
"""
import copy
import logging

import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmengine.logging import MMLogger
from torch.nn.parallel import DistributedDataParallel

from hrnet_train.models.backbones.hrnet import ARCH_SETTINGS, HRNet
from hrnet_train.models.utils import official_weights
from hrnet_train.models.utils.official_weights import load_checkpoint
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import CheckpointError

ARCH = 'w18-small-v1'  # C = 16: branches 16/32/64/128, HRNetV2 representation 240 channels
INPUT = (1, 3, 64, 48)  # (N, 3, H, W)


def _pose_model(arch: str = ARCH, width: int = 16, extra=None) -> torch.nn.Module:
    backbone = dict(type='HRNet', arch=arch, multi_scale_output=False)
    if extra is not None:
        backbone = dict(type='HRNet', arch=None, extra=extra, multi_scale_output=False)
    return MODELS.build(dict(
        type='TopdownPoseEstimator', backbone=backbone,
        head=dict(type='HeatmapHead', in_channels=width, num_keypoints=17),
        codec=dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2),
        test_cfg=dict(flip_test=False)))


def _seg_model() -> torch.nn.Module:
    return MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='HRNet', arch=ARCH, upsample_mode='bilinear'),
        neck=dict(type='HRNetV2Concat', in_channels=(16, 32, 64, 128)),
        decode_head=dict(type='SegHead', in_channels=240, num_classes=19)))


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """O(1) weights and BN statistics, so that outputs differ between two random models."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * 0.2)
    return model.eval()


def _outputs(model: torch.nn.Module) -> torch.Tensor:
    x = torch.randn(INPUT, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model.eval()(x, mode='tensor')


def _strip(sd: dict, *prefixes: str) -> dict:
    """Official naming: drop our whole-model prefixes."""
    out = {}
    for k, v in sd.items():
        for p in prefixes:
            if k.startswith(p):
                k = k[len(p):]
                break
        out[k] = v.clone()
    return out


@pytest.fixture()
def log_lines():
    """Messages of mmengine's current logger (it does not propagate to caplog)."""
    lines = []

    class _Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = _Collect(level=logging.DEBUG)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def _load_lines(lines):
    return [line for line in lines if line.startswith('load ')]


def test_official_pose_release_into_pose_model_strictly(tmp_path, log_lines):
    """Released pose_hrnet_w*.pth: plain, bare backbone keys + final_layer.*."""
    src = _randomise(_pose_model())
    official = _strip(src.state_dict(), 'backbone.', 'head.')
    assert 'final_layer.weight' in official and 'conv1.weight' in official
    path = tmp_path / 'pose_hrnet_w18_small_64x48.pth'
    torch.save(official, path)
    dst = _pose_model()
    assert not torch.equal(_outputs(dst), _outputs(src))
    report = load_checkpoint(dst, str(path))
    total = len(dst.state_dict())
    assert len(report.loaded) == total == 350
    assert not (report.missing or report.unexpected or report.skipped or report.filled)
    torch.testing.assert_close(_outputs(dst), _outputs(src), rtol=0, atol=0)
    assert _load_lines(log_lines) == [f'load {path}: loaded 350/350 tensors']


def test_official_pose_training_checkpoint_into_pose_model():
    """checkpoint.pth: {epoch, model, state_dict, best_state_dict, perf, optimizer}, module."""
    src = _randomise(_pose_model())
    bare = _strip(src.state_dict(), 'backbone.', 'head.')
    ckpt = dict(epoch=3, model='pose_hrnet', perf=0.5, optimizer={}, best_state_dict={},
                state_dict={'module.' + k: v for k, v in bare.items()})
    dst = _pose_model()
    load_checkpoint(dst, ckpt)
    torch.testing.assert_close(_outputs(dst), _outputs(src), rtol=0, atol=0)


def test_official_seg_layout_into_encoder_decoder(log_lines):
    """Official best.pth: FullModel -> model. prefix, bare backbone, last_layer.*, loss buffer."""
    src = _randomise(_seg_model())
    official = {'model.' + k: v for k, v in _strip(src.state_dict(), 'backbone.',
                                                     'decode_head.').items()}
    official['loss.criterion.weight'] = torch.ones(19)
    dst = _seg_model()
    report = load_checkpoint(dst, official, source='best.pth')
    assert report.skipped == ['loss.criterion.weight'] and not report.missing
    torch.testing.assert_close(_outputs(dst), _outputs(src), rtol=0, atol=0)
    total = len(dst.state_dict())
    assert _load_lines(log_lines) == [
        f'load best.pth: loaded {total}/{total} tensors; skipped (1): loss.criterion.weight']


def _mmseg_checkpoint(src: torch.nn.Module) -> dict:
    """mmseg fcn_hr* layout (REFERENCE §2.2): FCNHead convs.0.conv (no bias) / convs.0.bn /
    conv_seg, inside an mmengine container with numpy dataset_meta."""
    renames = (('decode_head.last_layer.0.', 'decode_head.convs.0.conv.'),
               ('decode_head.last_layer.1.', 'decode_head.convs.0.bn.'),
               ('decode_head.last_layer.3.', 'decode_head.conv_seg.'))
    state = {}
    for k, v in src.state_dict().items():
        for old, new in renames:
            k = k.replace(old, new)
        state[k] = v.clone()
    del state['decode_head.convs.0.conv.bias']
    meta = dict(epoch=160, iter=160000, mmengine_version='0.10.7',
                dataset_meta=dict(classes=('road', 'sidewalk'), palette=np.zeros((19, 3)),
                                  label_map=np.arange(19)))
    return dict(meta=meta, state_dict=state, message_hub={}, optimizer={})


def test_mmseg_checkpoint_loads_strictly_with_the_head_bias_filled(tmp_path, log_lines):
    src = _randomise(_seg_model())
    with torch.no_grad():  # a model whose head conv has no bias computes the same
        src.decode_head.last_layer[0].bias.zero_()
    path = tmp_path / 'fcn_hr18s_512x1024_160k_cityscapes.pth'
    torch.save(_mmseg_checkpoint(src), path)
    dst = _seg_model()
    with torch.no_grad():
        dst.decode_head.last_layer[0].bias.fill_(0.5)  # what strict=False used to leave
    report = load_checkpoint(dst, str(path))  # strict; raised "missing ...0.bias" before
    assert report.filled == ['decode_head.last_layer.0.bias'] and not report.missing
    torch.testing.assert_close(_outputs(dst), _outputs(src), rtol=0, atol=0)
    total = len(dst.state_dict())
    assert _load_lines(log_lines) == [
        f'load {path}: loaded {total - 1}/{total} tensors; '
        'filled (1): decode_head.last_layer.0.bias']


def test_mmpose_checkpoint_into_pose_model():
    """mmpose / hrnet-train naming: backbone.* + head.final_layer.*, mmengine container."""
    src = _randomise(_pose_model())
    ckpt = dict(meta=dict(epoch=210, dataset_meta=dict(sigmas=np.full(17, 0.05))),
                state_dict={k: v.clone() for k, v in src.state_dict().items()},
                message_hub=dict(log_scalars={}), optimizer={}, param_schedulers=[])
    dst = _pose_model()
    report = load_checkpoint(dst, ckpt)
    assert len(report.loaded) == report.total
    torch.testing.assert_close(_outputs(dst), _outputs(src), rtol=0, atol=0)


def test_wrong_width_names_the_shapes():
    wide = copy.deepcopy(ARCH_SETTINGS[ARCH])
    for s in ('stage2', 'stage3', 'stage4'):  # the same depth at width 24
        n = wide[s]['num_branches']
        wide[s]['num_channels'] = tuple(24 * 2 ** b for b in range(n))
    ckpt = _pose_model(width=24, extra=wide).state_dict()
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(_pose_model(), ckpt, source='w24.pth')
    msg = str(exc.value)
    assert '\n' not in msg
    assert msg.startswith('w24.pth: ')
    assert 'backbone.transition1.0.0.weight: file (24, 128, 3, 3) vs model (16, 128, 3, 3)' in msg
    assert "the file's backbone has width 24 and the model's 16" in msg
    assert msg.endswith('another width?)')


def test_seg_checkpoint_into_pose_model_names_missing_keys_and_task(log_lines):
    official_seg = _strip(_seg_model().state_dict(), 'backbone.', 'decode_head.')
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(_pose_model(), official_seg, source='hrnet_w18_small_v1_cityscapes.pth')
    msg = str(exc.value)
    assert '\n' not in msg
    assert msg.startswith('hrnet_w18_small_v1_cityscapes.pth does not fit TopdownPoseEstimator '
                          '(348/350 tensors matched): 2 model key(s) missing from the file: '
                          'head.final_layer.weight, head.final_layer.bias; ')
    # the multi-scale fusion rows of stage 4 and the seg head have no place in a pose model
    assert 'file key(s) not in the model: stage4.0.fuse_layers.1.' in msg
    assert ('the file holds decode_head.* (segmentation) but the model is '
            'TopdownPoseEstimator') in msg
    assert _load_lines(log_lines)[0].startswith(
        'load hrnet_w18_small_v1_cityscapes.pth: loaded 348/350 tensors; missing (2): ')


def test_backbone_only_file_into_whole_model_says_so():
    imagenet = _strip(_pose_model().state_dict(), 'backbone.')
    imagenet = {k: v for k, v in imagenet.items() if not k.startswith('head.')}
    with pytest.raises(CheckpointError, match=r"backbone weights only .*init_cfg=dict\("
                                              r"type='Pretrained'"):
        load_checkpoint(_pose_model(), imagenet)
    # fine-tuning a new head on them is an explicit choice
    report = load_checkpoint(_pose_model(), imagenet, ignore_missing=('head.',))
    assert report.missing == ['head.final_layer.weight', 'head.final_layer.bias']


def test_strict_false_only_reports(log_lines):
    official_seg = _strip(_seg_model().state_dict(), 'backbone.', 'decode_head.')
    report = load_checkpoint(_pose_model(), official_seg, strict=False)
    assert len(report.missing) == 2 and report.unexpected
    assert 'TopdownPoseEstimator' in _load_lines(log_lines)[0]  # the hint is in the log line


def test_prefix_selects_a_submodule():
    src = _randomise(_pose_model())
    target = HRNet(ARCH, multi_scale_output=False)
    report = load_checkpoint(target, src.state_dict(), prefix='backbone')
    assert len(report.loaded) == report.total and not report.unexpected
    for k, v in src.backbone.state_dict().items():
        assert torch.equal(target.state_dict()[k], v), k
    with pytest.raises(CheckpointError, match="no key starts with prefix 'neck.'"):
        load_checkpoint(target, src.state_dict(), prefix='neck.')


def test_bare_head_target():
    src = _randomise(_pose_model())
    head = MODELS.build(dict(type='HeatmapHead', in_channels=16, num_keypoints=17))
    report = load_checkpoint(head, _strip(src.state_dict(), 'backbone.', 'head.'),
                             allow_unexpected=True)
    assert report.loaded == ['final_layer.weight', 'final_layer.bias']
    assert torch.equal(head.final_layer.weight, src.head.final_layer.weight)


def test_model_wrapper_is_unwrapped(tmp_path):
    src = _randomise(_pose_model())
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "pg"}', rank=0,
                            world_size=1)
    try:
        wrapped = DistributedDataParallel(_pose_model())
        report = load_checkpoint(wrapped, {'module.' + k: v for k, v in
                                           src.state_dict().items()})
    finally:
        dist.destroy_process_group()
    assert len(report.loaded) == report.total
    torch.testing.assert_close(_outputs(wrapped.module), _outputs(src), rtol=0, atol=0)


def test_urls_go_through_mmengine_loaders_with_the_allow_list(monkeypatch):
    from mmengine.runner.checkpoint import CheckpointLoader
    src = _randomise(HRNet(ARCH))
    calls = []

    def _fake_remote(filename, map_location=None, logger='current'):
        calls.append((filename, map_location, len(torch.serialization.get_safe_globals())))
        return {k: v.clone() for k, v in src.state_dict().items()}

    def _no_local(*args, **kwargs):
        raise AssertionError('a URL must not be read as a local file')

    monkeypatch.setattr(CheckpointLoader, 'load_checkpoint', _fake_remote)
    monkeypatch.setattr(official_weights, 'safe_torch_load', _no_local)
    url = 'open-mmlab://msra/hrnetv2_w18_small'
    target = HRNet(ARCH)
    report = load_checkpoint(target, url)
    assert calls and calls[0][:2] == (url, 'cpu') and calls[0][2] > 0
    assert report.source == url and len(report.loaded) == report.total
    load_checkpoint(HRNet(ARCH), 'https://download.openmmlab.com/x/hrnetv2_w18_small.pth')
    assert calls[1][0].startswith('https://')
