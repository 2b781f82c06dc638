"""Backend choice of hrnet_train.ops, and the cross-check against torchvision where it imports."""
import builtins
import sys

import pytest
import torch

from hrnet_train.ops import _backend, batched_nms, box_iou, nms, roi_align
from hrnet_train.utils.errors import ConfigError

ROI = sys.modules[roi_align.__module__]
NMS = sys.modules[nms.__module__]
TV = _backend.torchvision_ops()
NO_TV = f'torchvision.ops cannot be used here ({_backend.torchvision_unavailable_reason()})'


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(_backend.ENV_VAR, raising=False)


def test_names_and_environment_variable(no_env, monkeypatch):
    assert _backend.resolve_backend('torch') == 'torch'
    with pytest.raises(ConfigError, match=r"backend must be 'auto', 'torch' or 'torchvision', "
                                          r"got 'cuda'"):
        _backend.resolve_backend('cuda')
    monkeypatch.setenv(_backend.ENV_VAR, 'torch')
    assert _backend.resolve_backend(None) == 'torch'
    monkeypatch.setenv(_backend.ENV_VAR, 'tv')
    with pytest.raises(ConfigError, match=r"HRNET_OPS_BACKEND must be .* got 'tv'"):
        _backend.resolve_backend(None)
    with pytest.raises(ConfigError, match='HRNET_OPS_BACKEND'):
        nms(torch.zeros(1, 4), torch.zeros(1), 0.5)


def test_auto_follows_availability(no_env):
    expected = 'torchvision' if TV is not None else 'torch'
    assert _backend.resolve_backend('auto') == _backend.resolve_backend(None) == expected
    assert _backend.available_backends() == (('torch', 'torchvision') if TV else ('torch',))


@pytest.mark.skipif(TV is not None, reason='torchvision imports here: auto routes to it')
def test_pure_path_is_what_runs_here(no_env, monkeypatch):
    calls = []
    for mod, name in ((ROI, '_roi_align_torch'), (NMS, '_nms_torch'),
                      (NMS, '_batched_nms_torch')):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _r=real, _n=name: calls.append(_n) or _r(*a))
    roi_align(torch.ones(1, 1, 4, 4), torch.tensor([[0., 0., 0., 2., 2.]]), 2)
    nms(torch.tensor([[0., 0., 1., 1.]]), torch.ones(1), 0.5)
    batched_nms(torch.tensor([[0., 0., 1., 1.]]), torch.ones(1), torch.zeros(1).long(), 0.5)
    assert calls == ['_roi_align_torch', '_nms_torch', '_batched_nms_torch', '_nms_torch']
    with pytest.raises(ConfigError, match=r"backend='torchvision' but torchvision.ops cannot "
                                          r"be used here \(.+\); use 'torch' or 'auto'"):
        nms(torch.zeros(1, 4), torch.zeros(1), 0.5, backend='torchvision')


def test_a_failing_import_means_unavailable(monkeypatch):
    """import torchvision raising RuntimeError (a build for another torch) is caught."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith('torchvision'):
            raise RuntimeError('operator torchvision::nms does not exist')
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', fake_import)
    _backend._probe_torchvision.cache_clear()
    try:
        assert _backend.torchvision_ops() is None
        assert _backend.torchvision_unavailable_reason() == \
            'RuntimeError: operator torchvision::nms does not exist'
        assert _backend.resolve_backend('auto') == 'torch'
    finally:
        monkeypatch.undo()
        _backend._probe_torchvision.cache_clear()


class _FakeTorchvisionOps:
    """Records the calls routed to 'torchvision' and answers with the pure implementation."""

    def __init__(self):
        self.calls = []

    def roi_align(self, input, rois, size, scale, ratio, aligned):
        self.calls.append(('roi_align', rois.shape, rois.dtype, size, scale, ratio, aligned))
        return ROI._roi_align_torch(input, rois, size, scale, ratio, aligned)

    def nms(self, boxes, scores, thr):
        self.calls.append(('nms', thr))
        return NMS._nms_torch(boxes, scores, thr)

    def batched_nms(self, boxes, scores, idxs, thr):
        self.calls.append(('batched_nms', thr))
        return NMS._batched_nms_torch(boxes, scores, idxs, thr)


def test_routing_to_torchvision(no_env, monkeypatch):
    fake = _FakeTorchvisionOps()
    monkeypatch.setattr(_backend, '_probe_torchvision', lambda: (fake, ''))
    assert _backend.resolve_backend(None) == 'torchvision'
    feat = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    out = roi_align(feat, [torch.tensor([[0., 0., 3., 3.]]), torch.zeros(2, 4)], 2, 0.5, 0, True)
    assert out.shape == (3, 3, 2, 2)
    assert fake.calls == [('roi_align', (3, 5), torch.float64, (2, 2), 0.5, 0, True)]
    nms(torch.tensor([[0., 0., 1., 1.]]), torch.ones(1), 0.6)
    batched_nms(torch.tensor([[0., 0., 1., 1.]]), torch.ones(1), torch.zeros(1).long(), 0.4)
    assert fake.calls[1:] == [('nms', 0.6), ('batched_nms', 0.4)]
    nms(torch.tensor([[0., 0., 1., 1.]]), torch.ones(1), 0.6, backend='torch')
    assert len(fake.calls) == 3  # an explicit 'torch' never routes


# ------------------------------------------------------------------------------------------------
# The cross-check: runs only where torchvision imports
# ------------------------------------------------------------------------------------------------
needs_tv = pytest.mark.skipif(TV is None, reason=NO_TV)


@needs_tv
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('ratio,aligned', [(-1, False), (0, True), (2, False), (2, True)])
def test_roi_align_equals_torchvision(dtype, ratio, aligned):
    g = torch.Generator().manual_seed(ratio + 3 * aligned)
    feat = torch.randn(2, 5, 11, 13, generator=g, dtype=dtype)
    xy = torch.rand(40, 2, generator=g, dtype=dtype) * 60 - 8
    wh = torch.rand(40, 2, generator=g, dtype=dtype) * 40 - 4  # some inverted, some empty
    rois = torch.cat([torch.randint(0, 2, (40, 1), generator=g).to(dtype), xy, xy + wh], 1)
    outs, grads = [], []
    for backend in ('torch', 'torchvision'):
        x = feat.clone().requires_grad_(True)
        out = roi_align(x, rois, (3, 4), 0.25, ratio, aligned, backend=backend)
        out.backward(torch.ones_like(out))
        outs.append(out.detach())
        grads.append(x.grad)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=tol)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=tol * 10)


@needs_tv
@pytest.mark.parametrize('n', [50, 800, 3000])
def test_nms_equals_torchvision(n):
    g = torch.Generator().manual_seed(n)
    xy = torch.rand(n, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 60 + 1], 1)
    scores = torch.randint(0, 20, (n,), generator=g).float()  # many ties
    idxs = torch.randint(0, 7, (n,), generator=g)
    for thr in (0.3, 0.5, 0.7):
        assert torch.equal(nms(boxes, scores, thr, backend='torch'), TV.nms(boxes, scores, thr))
        assert torch.equal(batched_nms(boxes, scores, idxs, thr, backend='torch'),
                           TV.batched_nms(boxes, scores, idxs, thr))
    torch.testing.assert_close(box_iou(boxes, boxes[:10]), TV.box_iou(boxes, boxes[:10]),
                               rtol=0, atol=0, equal_nan=True)
