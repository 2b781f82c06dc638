"""torch.compile of the network modules: equal outputs and gradients to eager, unchanged
checkpoint keys, and the eager fallback where torch.compile does not work."""
import copy
import warnings

import pytest
import torch

from hrnet_train.models.utils import compile as compile_mod
from hrnet_train.models.utils.compile import compile_network, inductor_available


def _pose_model():
    from hrnet_train.registry import MODELS
    from hrnet_train.utils.setup_env import register_all_modules
    register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    stage = [dict(num_modules=1, num_branches=n, block='BASIC', num_blocks=(1,) * n,
                  num_channels=tuple(8 * 2 ** b for b in range(n))) for n in (2, 3, 4)]
    extra = dict(stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,),
                             num_channels=(8,)),
                 stage2=stage[0], stage3=stage[1], stage4=stage[2])
    backbone = dict(type='HRNet', arch=None, extra=extra, multi_scale_output=False)
    return MODELS.build(dict(
        type='TopdownPoseEstimator', backbone=backbone,
        head=dict(type='HeatmapHead', num_keypoints=17),
        codec=dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)))


def test_unknown_module_name_is_an_error():
    with pytest.raises(ValueError, match="has no module 'neck'"):
        compile_network(_pose_model(), modules=['neck'])


def test_fallback_to_eager_when_compile_does_not_work(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError('InvalidCxxCompiler: No working C++ compiler found\nmore lines')
    monkeypatch.setattr(compile_mod, '_PROBES', {})
    monkeypatch.setattr(torch, 'compile', broken)
    model = _pose_model().eval()
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        ref = model(x, mode='tensor')
    with pytest.warns(UserWarning, match=r'torch.compile is not available here '
                                         r'\(RuntimeError: InvalidCxxCompiler.*\); running'):
        assert compile_network(model) == []
    assert inductor_available() == (False, 'RuntimeError: InvalidCxxCompiler: No working C++ '
                                           'compiler found')
    with torch.no_grad():
        assert torch.equal(model(x, mode='tensor'), ref)


@pytest.mark.slow
def test_inductor_outputs_and_gradients_equal_eager():
    """Training (no freezing) and inference (freezing: BN folded by inductor) graphs of the
    backbone and head match eager within fp32 rounding; state_dict keys are unchanged."""
    if not inductor_available()[0]:
        pytest.skip(f'torch.compile does not work here: {inductor_available()[1]}')
    eager = _pose_model()
    x = torch.randn(2, 3, 64, 48)
    target = torch.rand(2, 17, 16, 12)
    weights = torch.ones(2, 17)

    train = copy.deepcopy(eager)
    assert compile_network(train) == ['backbone', 'head']
    assert list(train.state_dict()) == list(eager.state_dict())
    losses = []
    for m in (eager, train):
        m.train()
        loss = m.loss_module(m(x, mode='tensor'), target, weights)
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-4, atol=1e-7)
    for (n, a), b in zip(eager.named_parameters(), train.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-6, msg=n)
    for (n, a), b in zip(eager.named_buffers(), train.buffers()):  # BN running statistics
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=n)

    infer = copy.deepcopy(eager).eval()
    eager.eval()
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no fallback warning
        assert compile_network(infer, freeze=True) == ['backbone', 'head']
    with torch.no_grad():
        ref = eager(x, mode='tensor')
        out = infer(x, mode='tensor')
    assert out.shape == (2, 17, 16, 12)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
