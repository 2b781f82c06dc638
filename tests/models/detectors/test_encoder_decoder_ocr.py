"""EncoderDecoder with a multi-output head (OCRHead) and test_cfg.flip_label_pairs."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement

from hrnet_train.models.detectors.encoder_decoder import swap_label_channels
from hrnet_train.registry import MODELS
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.errors import ConfigError

register_all_modules()
K = 4


def _ocr_model(**kw):
    torch.manual_seed(0)
    cfg = dict(type='EncoderDecoder', backbone=dict(type='HRNet', arch='w18-small-v1'),
               neck=dict(type='HRNetV2Concat'),
               decode_head=dict(type='OCRHead', num_classes=K, channels=16, key_channels=8),
               loss_weights=(0.4, 1.0),
               data_preprocessor=dict(type='SegDataPreprocessor', mean=[0., 0., 0.],
                                      std=[1., 1., 1.]))
    cfg.update(kw)
    return MODELS.build(cfg)


def _samples(n=2, h=32, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        s = BaseDataElement(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        gt = torch.randint(0, K, (1, h, w), generator=g)
        gt[0, :2] = 255
        s.gt_seg_map = gt
        samples.append(s)
    return samples


def test_each_output_gets_the_loss_times_its_weight():
    model = _ocr_model().eval()  # eval: dropout off, so two forwards agree
    x, samples = torch.randn(2, 3, 32, 48), _samples()
    labels = torch.stack([s.gt_seg_map[0] for s in samples])
    with torch.no_grad():
        losses = model(x, samples, mode='loss')
        aux, main = model.extract_outputs(x)
    assert set(losses) == {'aux.loss_ce', 'loss_ce', 'acc_seg'}
    ce = [F.cross_entropy(F.interpolate(o, size=(32, 48), mode='bilinear'), labels,
                          ignore_index=255) for o in (aux, main)]
    torch.testing.assert_close(losses['aux.loss_ce'], 0.4 * ce[0])
    torch.testing.assert_close(losses['loss_ce'], ce[1])
    # acc_seg and 'tensor' mode use the main (last) output: official TEST.OUTPUT_INDEX = -1
    valid = labels != 255
    up = F.interpolate(main, size=(32, 48), mode='bilinear')
    expected = ((up.argmax(1) == labels) & valid).sum() / valid.sum()
    torch.testing.assert_close(losses['acc_seg'], expected.float())
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'), main)
        pred = model(x, [BaseDataElement(metainfo=dict(img_shape=(32, 48), ori_shape=(32, 48)))
                         for _ in range(2)], mode='predict')
    assert torch.equal(pred[0].pred_seg_map, up[0].argmax(0))


def test_aux_loss_replaces_the_loss_of_the_auxiliary_output():
    # The official OHEM criterion: OHEM on the main output, plain CE on the auxiliary one.
    model = _ocr_model(loss=dict(type='OhemCrossEntropyLoss', thresh=0.9, min_kept=10),
                       aux_loss=dict(type='CrossEntropyLoss', loss_name='loss_aux_ce'))
    losses = model(torch.randn(2, 3, 32, 48), _samples(), mode='loss')
    assert set(losses) == {'aux.loss_aux_ce', 'loss_ce', 'acc_seg'}
    assert type(model.losses[0]).__name__ == 'OhemCrossEntropyLoss'


def test_openseg_rmi_recipe_rmi_on_main_ce_on_aux():
    model = _ocr_model(loss=dict(type='RMILoss'), aux_loss=dict(type='CrossEntropyLoss'))
    losses = model(torch.randn(2, 3, 32, 48), _samples(), mode='loss')
    assert set(losses) == {'aux.loss_ce', 'loss_rmi', 'acc_seg'}
    assert torch.isfinite(losses['loss_rmi']) and losses['loss_rmi'].requires_grad


def test_default_weights_are_one_and_bad_weights_fail():
    model = _ocr_model(loss_weights=None)
    assert model.loss_weights == (1.0, 1.0) and model.num_outputs == 2
    for bad in ((1.0,), (0.4, 1.0, 1.0), (-0.1, 1.0), 'ab'):
        with pytest.raises(ConfigError, match=r'model\.loss_weights must be 2 non-negative'):
            _ocr_model(loss_weights=bad)
    seg = dict(type='SegHead', num_classes=K)
    with pytest.raises(ConfigError, match=r'model\.loss_weights must be 1'):
        _ocr_model(decode_head=seg)  # (0.4, 1.0) for a single output
    with pytest.raises(ConfigError, match=r'model\.aux_loss is set but decode_head SegHead'):
        _ocr_model(decode_head=seg, loss_weights=None, aux_loss=dict(type='CrossEntropyLoss'))


def test_single_output_head_is_unchanged():
    model = _ocr_model(decode_head=dict(type='SegHead', num_classes=K), loss_weights=None)
    losses = model(torch.randn(2, 3, 32, 48), _samples(), mode='loss')
    assert set(losses) == {'loss_ce', 'acc_seg'}
    # a single weight scales the loss
    weighted = _ocr_model(decode_head=dict(type='SegHead', num_classes=K), loss_weights=(0.5,))
    torch.testing.assert_close(weighted(torch.randn(2, 3, 32, 48), _samples(),
                                        mode='loss')['loss_ce'], 0.5 * losses['loss_ce'])


def test_swap_label_channels():
    x = torch.arange(5.).reshape(1, 5, 1, 1)
    assert swap_label_channels(x, [(1, 3)]).flatten().tolist() == [0., 3., 2., 1., 4.]
    assert swap_label_channels(x, []) is x


def test_flip_label_pairs_hand_computed():
    """3 classes, pair (1, 2); a fake network whose logits are (0, 2x, -x) on a 1x2 image
    x = [0, 1] (so the flipped view sees [1, 0]). exp_sum combination:

    view 0:                    c0 [0, 0], c1 [0, 2], c2 [0, -1]
    flipped view, unflipped:   c0 [0, 0], c1 [0, 2], c2 [0, -1]; swapped: c1 [0, -1], c2 [0, 2]
    mean -> exp:               c0 [1, 1], c1 [1, e^0.5], c2 [1, e^0.5]
    """
    def fake_logits(x):
        v = x[:, :1]
        return torch.cat([torch.zeros_like(v), 2 * v, -v], dim=1)

    def build(pairs):
        model = _ocr_model(decode_head=dict(type='SegHead', num_classes=3), loss_weights=None,
                           test_cfg=dict(flip=True, tta_combine='exp_sum',
                                         flip_label_pairs=pairs))
        model._single_view_logits = fake_logits
        return model

    x = torch.tensor([0., 1.]).reshape(1, 1, 1, 2).expand(1, 3, 1, 2)
    e = torch.exp(torch.tensor(0.5)).item()
    out = build([(1, 2)]).inference(x)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([[1., 1.], [1., e], [1., e]]))
    plain = build([]).inference(x)  # without the pairs: c1 [0, 2], c2 [0, -1] -> exp
    torch.testing.assert_close(plain[0, :, 0], torch.tensor(
        [[1., 1.], [1., torch.exp(torch.tensor(2.)).item()], [1., torch.exp(torch.tensor(-1.))
                                                               .item()]]))


@pytest.mark.parametrize('pairs,match', [
    ([(1, 3)], r'entry \(1, 3\) must name two different classes in \[0, 3\)'),
    ([(1, 1)], r'entry \(1, 1\) must name two different classes'),
    ([(0, 1), (1, 2)], r'class 1 is in two pairs'),
    ([(0,)], r'got entry \(0,\)'),
    ([('a', 1)], r'got entry'),
    (5, r'must be a list of \(a, b\) class index pairs, got 5'),
])
def test_flip_label_pairs_are_validated(pairs, match):
    with pytest.raises(ConfigError, match=r'model\.test_cfg\.flip_label_pairs.*' + match):
        _ocr_model(decode_head=dict(type='SegHead', num_classes=3), loss_weights=None,
                   test_cfg=dict(flip=True, flip_label_pairs=pairs))


def test_tiny_ocr_model_trains():
    """A few SGD steps on one random batch lower both losses (official recipe: SGD, [0.4, 1])."""
    model = _ocr_model()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    inputs = [torch.randint(0, 256, (3, 32, 48), dtype=torch.uint8) for _ in range(2)]
    history = []
    for _ in range(8):
        data = dict(inputs=inputs, data_samples=_samples())
        log_vars = model.train_step(data, wrapper)
        history.append(tuple(float(log_vars[k].detach()) for k in ('aux.loss_ce', 'loss_ce')))
    assert all(torch.isfinite(torch.tensor(h)).all() for h in history)
    assert history[-1][0] < history[0][0] and history[-1][1] < history[0][1], history
