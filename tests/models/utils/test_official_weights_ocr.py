"""Released HRNet-OCR checkpoints (hrnet_ocr_*.pth) load strictly into EncoderDecoder + OCRHead.

Official layout (HRNet/HRNet-Semantic-Segmentation, branch HRNet-OCR): ``FullModel(model, loss)``
saved as ``model.<key>`` (lib/utils/utils.py), with the HighResolutionNet of
lib/models/seg_hrnet_ocr.py holding the backbone at the root (``conv1.*``, ``stage4.*``) and the
head roots ``aux_head``, ``conv3x3_ocr``, ``ocr_distri_head``, ``cls_head``; the class-weighted
criterion adds ``loss.criterion.weight``. tools/test.py unwraps ``state_dict`` when present.
"""
import logging

import pytest
import torch
from mmengine.logging import MMLogger

from hrnet_train.models.heads import OCRHead
from hrnet_train.models.utils.official_weights import (
    canonical_key,
    is_ocr_layout,
    load_checkpoint,
)
from hrnet_train.registry import MODELS
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import CheckpointError

register_all_modules()


def _ocr_model(num_classes: int = 19, head: str = 'OCRHead') -> torch.nn.Module:
    head_cfg = dict(type=head, num_classes=num_classes)
    if head == 'OCRHead':
        head_cfg.update(channels=16, key_channels=8)
    return MODELS.build(dict(type='EncoderDecoder',
                             backbone=dict(type='HRNet', arch='w18-small-v1',
                                           upsample_mode='bilinear', align_corners=True),
                             neck=dict(type='HRNetV2Concat', align_corners=True),
                             decode_head=head_cfg, loss_weights=(0.4, 1.0)
                             if head == 'OCRHead' else None))


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * 0.2)
    return model.eval()


def to_official_ocr_layout(state: dict, *, num_classes: int = 19) -> dict:
    """Our EncoderDecoder + OCRHead state dict -> the released HRNet-OCR naming:
    ``backbone.X`` and ``decode_head.X`` -> ``model.X`` (the neck has no weights), plus the
    ``loss.criterion.weight`` buffer of the official class-weighted criterion."""
    out = {}
    for key, value in state.items():
        for prefix in ('backbone.', 'decode_head.'):
            if key.startswith(prefix):
                out['model.' + key[len(prefix):]] = value.clone()
                break
        else:
            raise AssertionError(f'unexpected key {key}')
    out['loss.criterion.weight'] = torch.ones(num_classes)
    return out


def _outputs(model):
    x = torch.randn(1, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model.eval().extract_outputs(x)


@pytest.fixture()
def log_lines():
    lines = []

    class _Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = _Collect(level=logging.DEBUG)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_official_layout_has_the_released_key_names():
    official = to_official_ocr_layout(_ocr_model().state_dict())
    roots = {k.split('.')[1] for k in official if k.startswith('model.')}
    assert {'conv1', 'stage4', 'aux_head', 'conv3x3_ocr', 'ocr_distri_head', 'cls_head'} <= roots
    assert 'model.cls_head.weight' in official and 'model.aux_head.3.bias' in official
    assert ('model.ocr_distri_head.object_context_block.f_pixel.1.0.running_var' in official)


@pytest.mark.parametrize('wrap,prefix', [(False, True), (True, True), (False, False),
                                         (True, False)])
def test_released_file_loads_strictly_with_identical_logits(tmp_path, log_lines, wrap, prefix):
    src = _randomise(_ocr_model())
    official = to_official_ocr_layout(src.state_dict())
    if not prefix:
        official = {k[len('model.'):] if k.startswith('model.') else k: v
                    for k, v in official.items()}
    path = tmp_path / 'hrnet_ocr_cs_8162_torch11.pth'
    torch.save({'epoch': 484, 'state_dict': official} if wrap else official, path)
    dst = _ocr_model()
    assert not torch.equal(_outputs(dst)[1], _outputs(src)[1])
    report = load_checkpoint(dst, str(path), strict=True)
    assert report.skipped == ['loss.criterion.weight'] and not report.missing
    for a, b in zip(_outputs(dst), _outputs(src)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    total = len(dst.state_dict())
    assert [line for line in log_lines if line.startswith('load ')] == [
        f'load {path}: loaded {total}/{total} tensors; skipped (1): loss.criterion.weight']


def test_wrong_class_count_fails_with_one_line():
    official = to_official_ocr_layout(_randomise(_ocr_model(num_classes=19)).state_dict())
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(_ocr_model(num_classes=59), official, source='hrnet_ocr_cs.pth')
    msg = str(err.value)
    assert '\n' not in msg
    assert msg.startswith('hrnet_ocr_cs.pth: 4 tensor(s) of another shape: ')
    assert 'decode_head.aux_head.3.weight: file (19, 240, 1, 1) vs model (59, 240, 1, 1)' in msg
    assert 'the file classifies 19 outputs and the model 59: another num_classes?' in msg


def test_ocr_file_into_a_plain_v2_model_says_so():
    official = to_official_ocr_layout(_ocr_model().state_dict())
    with pytest.raises(CheckpointError, match='the file holds an HRNet-OCR head .OCRHead. and '
                                              'the model a plain one'):
        load_checkpoint(_ocr_model(head='SegHead'), official)


def test_bare_ocr_head_target():
    src = _randomise(_ocr_model())
    head_keys = {k: v for k, v in to_official_ocr_layout(src.state_dict()).items()
                 if k.split('.')[1] in ('aux_head', 'conv3x3_ocr', 'ocr_distri_head', 'cls_head')}
    head = OCRHead(in_channels=240, num_classes=19, channels=16, key_channels=8)
    report = load_checkpoint(head, head_keys, strict=True)
    assert len(report.loaded) == len(head.state_dict())
    assert torch.equal(head.cls_head.weight, src.decode_head.cls_head.weight)


def test_cls_head_is_the_ocr_classifier_only_next_to_ocr_keys():
    assert canonical_key('model.cls_head.weight') == 'cls_head.weight'  # ImageNet / ours
    assert canonical_key('model.cls_head.weight', ocr=True) == 'decode_head.cls_head.weight'
    assert canonical_key('model.aux_head.3.bias') == 'decode_head.aux_head.3.bias'
    assert canonical_key('decode_head.cls_head.weight') == 'decode_head.cls_head.weight'
    assert is_ocr_layout(['model.conv1.weight', 'model.ocr_distri_head.x'])
    assert not is_ocr_layout(['cls_head.classifier.weight', 'cls_head.incre_modules.0.x',
                              'decode_head.aux_head.0.weight'])
