"""ImageClassifier: loss / predict / tensor modes, batch augments, dataset checks and the
official / timm / hrnet-train checkpoint layouts (REFERENCE §2.2, §2.3)."""
import logging
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement

import hrnet_train.models.heads.cls_head  # noqa: F401  registers HRNetClsHead
from hrnet_train.models.detectors.classifier import ImageClassifier, _top1_accuracy
from hrnet_train.models.utils.official_weights import canonical_key, load_checkpoint
from hrnet_train.registry import MODELS
from hrnet_train.utils.errors import CheckpointError, ConfigError, DataError

ARCH = 'w18-small-v1'  # branches 16/32/64/128
PREPROCESSOR = dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375])
OFFICIAL_ROOTS = {'conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1', 'transition2',
                  'transition3', 'stage2', 'stage3', 'stage4', 'incre_modules',
                  'downsamp_modules', 'final_layer', 'classifier'}


def _model(num_classes=5, **kw):
    torch.manual_seed(0)
    return ImageClassifier(backbone=dict(type='HRNet', arch=ARCH),
                           head=dict(type='HRNetClsHead', num_classes=num_classes),
                           data_preprocessor=PREPROCESSOR, **kw)


def _samples(labels):
    return [BaseDataElement(gt_label=torch.tensor([c]), metainfo=dict(img_shape=(32, 32)))
            for c in labels]


def _inputs(n=4, size=32, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _randomise(model, seed=0):
    """O(1) weights and BN statistics, so that two random models give different logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * 0.2)
    return model.eval()


def _logits(model):
    with torch.no_grad():
        return model(_inputs(2, 40, seed=1), mode='tensor')


@pytest.fixture()
def log_lines():
    lines = []

    class _Collect(logging.Handler):
        def emit(self, record):
            lines.append((record.levelname, record.getMessage()))

    handler = _Collect(level=logging.DEBUG)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


# ------------------------------------------------------------------------------------ modes
def test_head_takes_the_backbone_widths():
    model = _model()
    assert model.cls_head.in_channels == (16, 32, 64, 128)
    assert model.num_classes == 5
    assert {k.split('.', 1)[0] for k in model.state_dict()} == {'backbone', 'cls_head'}


def test_w32_state_dict_matches_timm_entry_count():
    """REFERENCE §2.1: the timm W32 classifier has 1956 entries and 41.2M parameters."""
    with torch.device('meta'):
        model = ImageClassifier(backbone=dict(type='HRNet', arch='w32'),
                                head=dict(type='HRNetClsHead'))
    assert len(model.state_dict()) == 1956
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 41.2


def test_loss_backward_predict_and_tensor():
    model = _model()
    model.train()
    out = model(_inputs(), _samples([0, 1, 2, 3]), mode='loss')
    assert set(out) == {'loss_cls', 'acc_top1'}
    assert out['loss_cls'].dim() == 0 and torch.isfinite(out['loss_cls'])
    assert not out['acc_top1'].requires_grad and 0 <= float(out['acc_top1']) <= 100
    out['loss_cls'].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)

    model.eval()
    logits = model(_inputs(), mode='tensor')
    assert tuple(logits.shape) == (4, 5)
    preds = model(_inputs(), _samples([0, 1, 2, 3]), mode='predict')
    for pred, row in zip(preds, logits):
        assert pred.pred_score.dtype == torch.float32 and tuple(pred.pred_score.shape) == (5,)
        assert abs(float(pred.pred_score.sum()) - 1) < 1e-6
        torch.testing.assert_close(pred.pred_score, row.softmax(0))
        assert pred.pred_label.dtype == torch.int64 and tuple(pred.pred_label.shape) == (1,)
        assert int(pred.pred_label) == int(row.argmax())
        assert int(pred.gt_label) in range(5)  # the input samples are filled in, not replaced
    assert len(model(_inputs(3), None, mode='predict')) == 3
    with pytest.raises(ValueError, match=r"mode must be one of \('tensor', 'loss', 'predict'\)"):
        model(_inputs(), mode='bad')


def test_through_the_data_preprocessor():
    model = _model().eval()
    data = dict(inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8) for _ in range(2)],
                data_samples=_samples([1, 4]))
    preds = model.test_step(data)
    assert [tuple(p.pred_score.shape) for p in preds] == [(5,), (5,)]


def test_loss_and_top1_by_hand(monkeypatch):
    """Fixed logits: argmax 0, 1, 0, 0 against labels 0, 1, 2, 3 -> 50 % top-1."""
    logits = torch.tensor([[3., 0., 0., 0., 0.], [0., 2., 1., 0., 0.], [1., 0., .5, 0., 0.],
                           [2., 0., 0., 1., 0.]])
    labels = torch.tensor([0, 1, 2, 3])
    assert float(_top1_accuracy(logits, labels)) == 50.0
    assert float(_top1_accuracy(logits[:0], labels[:0])) == 0.0
    for smoothing in (0.0, 0.1):
        model = _model(loss=dict(type='CrossEntropyLoss', label_smoothing=smoothing))
        monkeypatch.setattr(model, '_forward', lambda inputs: logits)
        out = model.loss(_inputs(), _samples(labels.tolist()))
        assert float(out['acc_top1']) == 50.0
        expected = F.cross_entropy(logits, labels, label_smoothing=smoothing)
        torch.testing.assert_close(out['loss_cls'], expected)


def test_class_255_is_a_class_not_ignored(monkeypatch):
    """CrossEntropyLoss's default ignore_index is 255 (segmentation); ImageNet has a class 255."""
    model = _model(num_classes=300)
    logits = torch.randn(2, 300, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(model, '_forward', lambda inputs: logits)
    out = model.loss(_inputs(2), _samples([255, 3]))
    torch.testing.assert_close(out['loss_cls'], F.cross_entropy(logits, torch.tensor([255, 3])))


def test_batch_augments_train_mode_only_and_seeded():
    model = _model(train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8),
                                            dict(type='CutMix', alpha=1.0)]))
    plain = _model()
    inputs, samples = _inputs(), _samples([0, 1, 2, 3])
    model.eval()
    plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.loss(inputs, samples)['loss_cls'],
                                   plain.loss(inputs, samples)['loss_cls'])
        model.train()
        plain.train()
        torch.manual_seed(0)  # CutMix, lam 0.54, partners 2, 1, 0, 3
        first = model.loss(inputs.clone(), samples)['loss_cls']
        torch.manual_seed(0)  # CutMix, lam 0.54, partners 2, 1, 0, 3
        again = model.loss(inputs.clone(), samples)['loss_cls']
        torch.manual_seed(0)  # CutMix, lam 0.54, partners 2, 1, 0, 3
        unmixed = plain.loss(inputs.clone(), samples)['loss_cls']
    assert torch.equal(first, again)
    assert not torch.allclose(first, unmixed)


def test_mixed_targets_reach_the_loss(monkeypatch):
    """The loss sees the augment's (N, C) probabilities; acc_top1 uses their largest class."""
    seen = {}

    def swap_halves(inputs, targets):
        mixed = 0.7 * targets + 0.3 * targets.flip(0)
        seen['targets'] = mixed
        return inputs, mixed

    model = _model(train_cfg=dict(augments=[swap_halves]))
    logits = torch.tensor([[2., 1., 0., 0., 0.], [1., 2., 0., 0., 0.]])
    monkeypatch.setattr(model, '_forward', lambda inputs: logits)
    out = model.train().loss(_inputs(2), _samples([0, 1]))
    targets = torch.tensor([[0.7, 0.3, 0., 0., 0.], [0.3, 0.7, 0., 0., 0.]])
    torch.testing.assert_close(seen['targets'], targets)
    torch.testing.assert_close(out['loss_cls'], F.cross_entropy(logits, targets))
    assert float(out['acc_top1']) == 100.0


def test_probs_zero_never_mixes():
    model = _model(train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8)], probs=[0.0]))
    plain = _model()
    inputs, samples = _inputs(), _samples([0, 1, 2, 3])
    with torch.no_grad():
        for _ in range(3):
            torch.testing.assert_close(model.train().loss(inputs, samples)['loss_cls'],
                                       plain.train().loss(inputs, samples)['loss_cls'])


def test_check_dataset_meta():
    model = _model(num_classes=5)
    model.check_dataset_meta(dict(classes=tuple('abcde')), split='val')
    model.check_dataset_meta(dict())  # no classes: nothing to compare
    with pytest.raises(ConfigError, match=r'model\.head\.num_classes=5 but the train dataset '
                                          r'\(ImageFolderDataset\) has 3 classes'):
        model.check_dataset_meta(dict(classes=('a', 'b', 'c')),
                                 split='train dataset (ImageFolderDataset)')


def test_config_errors():
    with pytest.raises(ConfigError, match='multi_scale_output must be True'):
        ImageClassifier(backbone=dict(type='HRNet', arch=ARCH, multi_scale_output=False),
                        head=dict(type='HRNetClsHead'))
    with pytest.raises(ConfigError, match=r'model\.head\.in_channels=\(18, 36, 72, 144\) but the '
                                          r'HRNet \(w18-small-v1\) gives \(16, 32, 64, 128\)'):
        ImageClassifier(backbone=dict(type='HRNet', arch=ARCH),
                        head=dict(type='HRNetClsHead', in_channels=(18, 36, 72, 144)))
    with pytest.raises(ConfigError, match=r"model\.train_cfg: unknown keys \['mixup'\]"):
        _model(train_cfg=dict(mixup=0.8))
    with pytest.raises(ConfigError, match=r'model\.train_cfg\.probs must give one probability'):
        _model(train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8)], probs=[0.5, 0.5]))


def test_bad_labels():
    model = _model(num_classes=5)
    with pytest.raises(DataError, match=r'gt_label must be in \[0, 5\) \(model\.head\.num_cl'):
        model.loss(_inputs(2), _samples([1, 5]))
    bad = [BaseDataElement(gt_label=torch.tensor([1, 2]))]
    with pytest.raises(DataError, match='data sample 0: gt_label must hold one class index'):
        model.loss(_inputs(1), bad)


def test_backbone_kaiming_init_of_the_official_classifier():
    """The official cls code inits every conv kaiming-normal (fan_out); HRNet's default is the
    pose/seg normal(std=0.001), so the cls configs pass the initializer in init_cfg."""
    model = ImageClassifier(
        backbone=dict(type='HRNet', arch=ARCH,
                      init_cfg=dict(type='Kaiming', layer='Conv2d', mode='fan_out',
                                    nonlinearity='relu', distribution='normal')),
        head=dict(type='HRNetClsHead', num_classes=5))
    model.init_weights()
    w = model.backbone.stage4[0].branches[3][0].conv1.weight  # (128, 128, 3, 3)
    assert abs(w.std().item() / math.sqrt(2 / (128 * 9)) - 1) < 0.05
    w = model.cls_head.final_layer[0].weight
    assert abs(w.std().item() / math.sqrt(2 / 2048) - 1) < 0.05


# ------------------------------------------------------------------------------ checkpoints
def _official(state):
    """Our keys -> the official / timm file's: bare backbone keys and bare head keys."""
    return {k.split('.', 1)[1]: v for k, v in state.items()}


def test_canonical_names_of_the_official_head_keys():
    assert canonical_key('incre_modules.0.0.downsample.1.weight') == (
        'cls_head.incre_modules.0.0.downsample.1.weight')
    assert canonical_key('downsamp_modules.2.0.bias') == 'cls_head.downsamp_modules.2.0.bias'
    assert canonical_key('final_layer.0.weight') == 'cls_head.final_layer.0.weight'
    assert canonical_key('final_layer.1.running_var') == 'cls_head.final_layer.1.running_var'
    assert canonical_key('classifier.weight') == 'cls_head.classifier.weight'
    assert canonical_key('stage4.0.fuse_layers.3.0.0.0.weight') == (
        'backbone.stage4.0.fuse_layers.3.0.0.0.weight')
    assert canonical_key('final_layer.weight') == 'head.final_layer.weight'  # pose, not cls


@pytest.mark.parametrize('layout', ['official', 'official-train', 'timm', 'ours'])
def test_imagenet_layouts_load_strictly_with_identical_logits(layout):
    src = _randomise(_model(num_classes=10))
    state = src.state_dict()
    if layout == 'official':  # hrnetv2_w18_imagenet_pretrained.pth, final_state.pth.tar
        ckpt = _official(state)
        assert {k.split('.', 1)[0] for k in ckpt} == OFFICIAL_ROOTS
    elif layout == 'official-train':  # tools/train.py checkpoint.pth.tar ('model' is a name)
        ckpt = dict(epoch=100, model='cls_hrnet', state_dict=_official(state), perf=0.77,
                    optimizer=dict(state={}, param_groups=[]))
    elif layout == 'timm':  # timm/models/hrnet.py: the official names; files of older torch
        ckpt = {k: v for k, v in _official(state).items()
                if not k.endswith('num_batches_tracked')}
    else:  # hrnet-train / mmengine: backbone.* + cls_head.*
        ckpt = dict(meta=dict(epoch=1), state_dict=state)
    dst = _randomise(_model(num_classes=10), seed=1)
    assert not torch.allclose(_logits(dst), _logits(src))
    report = load_checkpoint(dst, ckpt, strict=True)
    assert not report.missing and not report.unexpected and not report.skipped
    assert len(report.loaded) + len(report.filled) == report.total == len(state)
    assert all(k.endswith('num_batches_tracked') for k in report.filled)
    assert torch.equal(_logits(dst), _logits(src))


def test_another_num_classes_fails_in_one_line():
    ckpt = _official(_randomise(_model(num_classes=10)).state_dict())
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(_model(num_classes=5), ckpt, source='hrnet_w18_small_v1.pth')
    msg = str(err.value)
    assert '\n' not in msg
    assert msg.startswith('hrnet_w18_small_v1.pth: 2 tensor(s) of another shape: ')
    assert 'cls_head.classifier.weight: file (10, 2048) vs model (5, 2048)' in msg
    assert 'cls_head.classifier.bias: file (10,) vs model (5,)' in msg


def test_imagenet_backbone_with_ignored_classifier():
    """Fine-tuning on another class count: load everything but the classifier."""
    src = _randomise(_model(num_classes=10))
    ckpt = {k: v for k, v in _official(src.state_dict()).items()
            if not k.startswith('classifier.')}
    dst = _model(num_classes=5)
    report = load_checkpoint(dst, ckpt, ignore_missing=('cls_head.classifier.',))
    assert report.missing == ['cls_head.classifier.weight', 'cls_head.classifier.bias']
    assert torch.equal(dst.cls_head.final_layer[0].weight, src.cls_head.final_layer[0].weight)


def test_classification_checkpoint_initialises_a_pose_backbone(tmp_path, log_lines):
    src = _randomise(_model(num_classes=10))
    state = src.state_dict()
    path = tmp_path / 'hrnet-w18-small-v1_imagenet.pth'
    torch.save(dict(meta=dict(epoch=100), state_dict=state), path)
    pose = MODELS.build(dict(
        type='TopdownPoseEstimator',
        backbone=dict(type='HRNet', arch=ARCH, multi_scale_output=False,
                      init_cfg=dict(type='Pretrained', checkpoint=str(path))),
        head=dict(type='HeatmapHead', num_keypoints=17),
        codec=dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2),
        test_cfg=dict(flip_test=False)))
    pose.init_weights()
    backbone = pose.backbone.state_dict()
    for k, v in backbone.items():
        assert torch.equal(v, state['backbone.' + k]), k
    lines = [msg for level, msg in log_lines if msg.startswith(f'load {path}:')]
    assert len(lines) == 1 and ('INFO', lines[0]) in log_lines
    n = len(backbone)
    head_keys = [k for k in state if k.startswith('cls_head.')]
    fuse_rows = [k for k in state if k.startswith('backbone.')
                 and k[len('backbone.'):] not in backbone]
    assert len(head_keys) == 126
    assert fuse_rows and all(k.startswith('backbone.stage4.0.fuse_layers.') for k in fuse_rows)
    assert lines[0].startswith(f'load {path}: loaded {n}/{n} tensors; unexpected '
                               f'({len(fuse_rows)}): backbone.stage4.0.fuse_layers.1.')
    assert 'missing' not in lines[0]
    assert f'; skipped (126): {head_keys[0]}, ' in lines[0]
