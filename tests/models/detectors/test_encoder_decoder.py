import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement

from hrnet_train.models.detectors import EncoderDecoder, slide_windows
from hrnet_train.registry import MODELS

NUM_CLASSES = 5
TINY_EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,),
                num_channels=(8,)),
    stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1),
                num_channels=(4, 8)),
    stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1),
                num_channels=(4, 8, 16)),
    stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1),
                num_channels=(4, 8, 16, 32)),
)


def _model(**kw) -> EncoderDecoder:
    torch.manual_seed(0)
    cfg = dict(
        type='EncoderDecoder',
        backbone=dict(type='HRNet', extra=TINY_EXTRA, upsample_mode='bilinear'),
        neck=dict(type='HRNetV2Concat', in_channels=(4, 8, 16, 32)),
        decode_head=dict(type='SegHead', in_channels=60, num_classes=NUM_CLASSES),
    )
    cfg.update(kw)
    model = MODELS.build(cfg)
    # Make the logits non-trivial (the official init gives near-constant outputs).
    for p in model.decode_head.parameters():
        if p.dim() == 4:
            torch.nn.init.normal_(p, std=0.3)
    return model


def _batch(sizes, *, with_gt=True, ori_shapes=None):
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i, (h, w) in enumerate(sizes):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8))
        ori = ori_shapes[i] if ori_shapes else (h, w)
        s = BaseDataElement(metainfo=dict(img_shape=(h, w), ori_shape=ori))
        if with_gt:
            gt = torch.randint(0, NUM_CLASSES, (1, h, w), generator=g)
            gt[0, :3] = 255
            s.gt_seg_map = gt
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_loss_mode_with_padding_and_train_step():
    model = _model()
    data = model.data_preprocessor(_batch([(64, 96), (50, 75)]), training=True)
    assert data['inputs'].shape == (2, 3, 64, 96)
    gt1 = data['data_samples'][1].gt_seg_map
    assert gt1.shape == (1, 64, 96) and (gt1[:, 50:] == 255).all() and (gt1[:, :, 75:] == 255).all()
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_ce', 'acc_seg'}
    assert torch.isfinite(losses['loss_ce']) and losses['loss_ce'].requires_grad
    assert 0.0 <= losses['acc_seg'].item() <= 1.0
    # Through mmengine's train_step (preprocessor with training=True, backward, step).
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    log_vars = model.train_step(_batch([(64, 96), (50, 75)]), wrapper)
    assert torch.isfinite(log_vars['loss'])


def test_accuracy_value():
    model = _model()
    data = model.data_preprocessor(_batch([(32, 40)]), training=True)
    with torch.no_grad():
        logits = model(data['inputs'], mode='tensor')
        up = torch.nn.functional.interpolate(logits, size=(32, 40), mode='bilinear')
        gt = data['data_samples'][0].gt_seg_map[0]
        valid = gt != 255
        expected = ((up[0].argmax(0) == gt) & valid).sum() / valid.sum()
        acc = model(**data, mode='loss')['acc_seg']
    torch.testing.assert_close(acc, expected.float())


def test_multiple_losses():
    model = _model(loss=[dict(type='CrossEntropyLoss'),
                         dict(type='OhemCrossEntropyLoss', min_kept=50, loss_name='loss_ohem')])
    data = model.data_preprocessor(_batch([(32, 48)]), training=True)
    assert set(model(**data, mode='loss')) == {'loss_ce', 'loss_ohem', 'acc_seg'}
    with pytest.raises(ValueError, match='distinct loss_name'):
        _model(loss=[dict(type='CrossEntropyLoss'), dict(type='OhemCrossEntropyLoss')])


@pytest.mark.parametrize('loss_corners', [False, True])
def test_one_resize_for_all_losses_gives_each_loss_and_gradient(loss_corners):
    """The logits are resized to the labels once for every loss (and acc_seg); each loss and the
    gradients equal the losses called on the stride-4 logits, which resize them themselves."""
    loss = [dict(type='CrossEntropyLoss', align_corners=loss_corners),
            dict(type='OhemCrossEntropyLoss', min_kept=50, loss_name='loss_ohem',
                 align_corners=loss_corners)]
    model = _model(loss=loss)
    data = model.data_preprocessor(_batch([(32, 48), (32, 48)]), training=True)
    labels = torch.stack([s.gt_seg_map[0] for s in data['data_samples']]).long()
    losses = model(**data, mode='loss')
    grads = torch.autograd.grad(losses['loss_ce'] + losses['loss_ohem'],
                                model.decode_head.parameters())

    logits = model(data['inputs'], mode='tensor')  # (2, K, 8, 12)
    assert logits.shape[-2:] == (8, 12)
    ce, ohem = model.losses[0](logits, labels), model.losses[1](logits, labels)
    torch.testing.assert_close(losses['loss_ce'], ce, rtol=0, atol=0)
    torch.testing.assert_close(losses['loss_ohem'], ohem, rtol=0, atol=0)
    for got, want in zip(grads, torch.autograd.grad(ce + ohem, model.decode_head.parameters())):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # acc_seg always resizes with the model's align_corners (False here)
    with torch.no_grad():
        up = torch.nn.functional.interpolate(logits, size=(32, 48), mode='bilinear')
        valid = labels != 255
        expected = ((up.argmax(1) == labels) & valid).sum() / valid.sum()
    torch.testing.assert_close(losses['acc_seg'], expected.float())


def test_losses_say_how_they_resize():
    assert MODELS.build(dict(type='CrossEntropyLoss')).label_resize is False
    assert MODELS.build(dict(type='CrossEntropyLoss', align_corners=True)).label_resize is True
    assert MODELS.build(dict(type='CrossEntropyLoss', use_sigmoid=True)).label_resize is None
    assert MODELS.build(dict(type='OhemCrossEntropyLoss')).label_resize is False
    assert MODELS.build(dict(type='RMILoss')).label_resize is False


def test_tensor_mode_shape_odd_size():
    model = _model().eval()
    out = model(torch.randn(2, 3, 100, 150), mode='tensor')
    assert out.shape == (2, NUM_CLASSES, 25, 38)


def test_predict_original_size_and_padding():
    model = _model().eval()
    # Sample 1 was resized from 100x150 to 50x75 by the pipeline and padded in the batch.
    batch = _batch([(64, 96), (50, 75)], with_gt=False, ori_shapes=[(64, 96), (100, 150)])
    data = model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        out = model(**data, mode='predict')
        logits = model.inference(data['inputs'])
    assert out[0].pred_seg_map.shape == (64, 96) and out[0].pred_seg_map.dtype == torch.long
    assert out[1].pred_seg_map.shape == (100, 150)
    assert int(out[1].pred_seg_map.max()) < NUM_CLASSES
    torch.testing.assert_close(out[0].pred_seg_map, logits[0].argmax(0))
    ref = torch.nn.functional.interpolate(logits[1:, :, :50, :75], size=(100, 150),
                                          mode='bilinear').argmax(1)[0]
    assert torch.equal(out[1].pred_seg_map, ref)


def test_val_step_keeps_gt_at_original_size():
    model = _model().eval()
    batch = _batch([(40, 60)], ori_shapes=[(40, 60)])
    out = model.val_step(batch)
    assert out[0].pred_seg_map.shape == (40, 60)
    assert out[0].gt_seg_map.shape == (1, 40, 60)
    assert out[0].metainfo['batch_input_shape'] == (40, 60)


def test_predict_without_data_samples_odd_size():
    model = _model().eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 100, 150), mode='predict')
    assert out[0].pred_seg_map.shape == (100, 150)


def test_slide_windows_grid():
    wins = slide_windows((100, 150), crop_size=(64, 64), stride=(48, 48))
    assert len(wins) == 2 * 3
    assert wins[0] == (0, 64, 0, 64)
    assert wins[-1] == (36, 100, 86, 150)  # last window snapped back to the border
    cover = torch.zeros(100, 150)
    for y1, y2, x1, x2 in wins:
        assert y2 - y1 == 64 and x2 - x1 == 64
        cover[y1:y2, x1:x2] += 1
    assert (cover > 0).all()
    # A window larger than the image is clipped to the image.
    assert slide_windows((40, 50), crop_size=(64, 64), stride=(32, 32)) == [(0, 40, 0, 50)]


def test_slide_equals_whole_when_window_covers_image():
    whole = _model().eval()
    slide = _model(test_cfg=dict(mode='slide', crop_size=(160, 128), stride=(100, 100))).eval()
    slide.load_state_dict(whole.state_dict())
    x = torch.randn(1, 3, 100, 150)
    with torch.no_grad():
        torch.testing.assert_close(slide.inference(x), whole.inference(x))
        # Several windows: same shape, averaged, finite.
        slide._parse_test_cfg(dict(mode='slide', crop_size=(64, 64), stride=(48, 48)))
        multi = slide.inference(x)
    assert multi.shape == (1, NUM_CLASSES, 100, 150) and torch.isfinite(multi).all()


def test_flip_tta_softmax_average_and_equivariance():
    model = _model(test_cfg=dict(flip=True)).eval()
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        probs = model.inference(x)
        a = model._whole_logits(x).softmax(1)
        b = model._whole_logits(x.flip(-1)).softmax(1).flip(-1)
        torch.testing.assert_close(probs, (a + b) / 2)
        # Flip TTA is mirror-equivariant: TTA(mirror(x)) == mirror(TTA(x)).
        torch.testing.assert_close(model.inference(x.flip(-1)), probs.flip(-1))


def test_multiscale_exp_sum_official():
    model = _model(test_cfg=dict(scales=[0.5, 1.0], flip=True, tta_combine='exp_sum')).eval()
    x = torch.randn(1, 3, 48, 64)
    F = torch.nn.functional
    with torch.no_grad():
        out = model.inference(x)
        expected = torch.zeros_like(out)
        for s in (0.5, 1.0):
            xs = F.interpolate(x, size=(int(48 * s + 0.5), int(64 * s + 0.5)), mode='bilinear')
            lg = (model._whole_logits(xs) + model._whole_logits(xs.flip(-1)).flip(-1)) / 2
            expected += F.interpolate(lg.exp(), size=(48, 64), mode='bilinear')
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize('test_cfg,match', [
    (dict(mode='sliding'), "'whole' or 'slide'"),
    (dict(mode='slide', crop_size=(64, 64)), 'needs crop_size and stride'),
    (dict(mode='slide', crop_size=(64,), stride=(32, 32)), 'test_cfg.crop_size'),
    (dict(flip=True, tta='x'), 'unknown test_cfg keys'),
    (dict(tta_combine='mean'), 'tta_combine'),
    (dict(scales=[1.0, -0.5]), 'test_cfg.scales'),
])
def test_bad_test_cfg(test_cfg, match):
    with pytest.raises(ValueError, match=match):
        _model(test_cfg=test_cfg)


def test_official_checkpoint_layout_loads_strictly():
    """Official seg checkpoints: `model.` + backbone keys + `last_layer.*` + the loss weight."""
    from hrnet_train.models.utils import load_official_weights
    src, dst = _model(), _model()
    official = {'model.' + k.replace('backbone.', '', 1).replace('decode_head.', '', 1): v.clone()
                for k, v in src.state_dict().items()}
    official['loss.criterion.weight'] = torch.ones(NUM_CLASSES)
    load_official_weights(dst, official, strict=True)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
