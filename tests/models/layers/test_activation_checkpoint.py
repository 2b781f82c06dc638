"""checkpoint(): the recomputation in backward leaves batch-norm statistics alone, and only the
inputs of the segment are kept for backward."""
import pytest
import torch
import torch.nn as nn
import torch.utils.checkpoint as torch_cp

from hrnet_train.models.backbones import HRNet
from hrnet_train.models.layers.checkpoint import checkpoint


def _segment(momentum=0.1):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8, momentum=momentum),
                         nn.ReLU(inplace=True), nn.Conv2d(8, 4, 1)).train()


@pytest.mark.parametrize('momentum', [0.1, None])
def test_statistics_updated_once_as_without_checkpointing(momentum):
    x = torch.randn(2, 3, 6, 5, requires_grad=True)
    plain, ours, torchs = _segment(momentum), _segment(momentum), _segment(momentum)
    plain(x).sum().backward()
    checkpoint(ours, x, modules=[ours]).sum().backward()
    torch_cp.checkpoint(torchs, x, use_reentrant=False).sum().backward()
    bn, bn_ours, bn_torch = plain[1], ours[1], torchs[1]
    assert torch.equal(bn.running_mean, bn_ours.running_mean)
    assert torch.equal(bn.running_var, bn_ours.running_var)
    assert int(bn_ours.num_batches_tracked) == 1 and bn_ours.momentum == momentum
    for p, q in zip(plain.parameters(), ours.parameters()):
        assert torch.equal(p.grad, q.grad)
    # what this guards against: torch's checkpoint updates them again while recomputing
    assert int(bn_torch.num_batches_tracked) == 2
    if momentum is not None:  # (a cumulative average of the same batch twice is that batch)
        assert not torch.allclose(bn.running_mean, bn_torch.running_mean)


def test_stage1_segment_keeps_only_the_input_of_the_stem(saved_bytes):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)

    def _saved_bytes(model, x) -> int:  # one training forward, then its backward
        out, n = saved_bytes(lambda: model(x))
        sum(o.sum() for o in out).backward()
        return n
    kw = dict(recompute_bn_relu=False)  # checkpointing alone
    plain = _saved_bytes(HRNet('w18-small-v1', **kw).train(), x)
    stage1 = _saved_bytes(HRNet('w18-small-v1', with_cp='stage1', **kw).train(), x)
    blocks = _saved_bytes(HRNet('w18-small-v1', with_cp=True, **kw).train(), x)
    # the stem and stage 1 at 1/2 and 1/4 resolution: 64 channels at 32x32 (conv1) and 16x16
    # (conv2), 64/256-channel bottleneck at 16x16
    stem_and_stage1_min = 2 * 4 * (2 * 64 * 32 * 32 + 64 * 16 * 16 + 256 * 16 * 16)
    assert plain - stage1 > stem_and_stage1_min
    assert blocks < plain
