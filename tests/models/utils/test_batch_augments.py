"""Mixup / CutMix: the maths by hand, then the seeded classes (timm / mmpretrain semantics)."""
import pytest
import torch
import torch.nn.functional as F

from hrnet_train.models.utils.batch_augments import (
    CutMix,
    Mixup,
    RandomBatchAugment,
    _sample_beta,
    cutmix_batch,
    cutmix_box,
    mixup_batch,
)
from hrnet_train.registry import TASK_UTILS
from hrnet_train.utils.errors import ConfigError

N, K = 6, 10


def _batch(n=N, size=(8, 10)):
    """Sample i is the constant image i, labelled class i: an image's mean then equals
    ``targets[i] @ arange(K)`` for any mixing of images and targets by the same weights."""
    h, w = size
    inputs = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, h, w).clone()
    return inputs, F.one_hot(torch.arange(n), K).float()


def test_mixup_by_hand():
    inputs, targets = _batch(2)
    mixed, mixed_targets = mixup_batch(inputs, targets, 0.25, torch.tensor([1, 0]))
    assert torch.equal(mixed[0], torch.full((3, 8, 10), 0.75))  # 0.25 * 0 + 0.75 * 1
    assert torch.equal(mixed[1], torch.full((3, 8, 10), 0.25))
    assert mixed_targets[0, :2].tolist() == [0.25, 0.75]
    assert mixed_targets[1, :2].tolist() == [0.75, 0.25]
    assert torch.equal(inputs, _batch(2)[0])  # the arguments are unchanged


def test_cutmix_box_by_hand():
    # 10 wide, 8 high, lam 0.75: sides int(10 * 0.5) = 5 and int(8 * 0.5) = 4 around (5, 4);
    # timm's +-cut // 2 makes the odd side 4, not 5
    assert cutmix_box((10, 8), 0.75, (5, 4)) == (3, 2, 7, 6)
    assert cutmix_box((10, 8), 0.75, (0, 0)) == (0, 0, 2, 2)  # clipped at the corner
    assert cutmix_box((10, 8), 0.75, (9, 7)) == (7, 5, 10, 8)
    assert cutmix_box((10, 8), 1.0, (5, 4)) == (5, 4, 5, 4)  # empty box
    assert cutmix_box((10, 8), 0.0, (5, 4)) == (0, 0, 10, 8)  # the whole image


def test_cutmix_lambda_is_the_pasted_area():
    inputs, targets = _batch(2)
    mixed, mixed_targets, lam = cutmix_batch(inputs, targets, (3, 2, 7, 6), torch.tensor([1, 0]))
    assert lam == 1 - 16 / 80 == 0.8  # not the 0.75 the box was drawn for
    assert torch.equal(mixed[0, :, 2:6, 3:7], torch.ones(3, 4, 4))  # sample 1's pixels
    assert int((mixed[0] != 0).sum()) == 3 * 16  # nothing else changed
    assert torch.equal(mixed[1, :, 2:6, 3:7], torch.zeros(3, 4, 4))
    torch.testing.assert_close(mixed_targets[0, :2], torch.tensor([0.8, 0.2]))
    assert torch.equal(inputs, _batch(2)[0])  # a copy, not in place
    _, _, lam = cutmix_batch(inputs, targets, (0, 0, 2, 2), torch.tensor([1, 0]))
    assert lam == 1 - 4 / 80
    with pytest.raises(ValueError, match=r'box \(x1, y1, x2, y2\) must lie in the 10x8 image'):
        cutmix_batch(inputs, targets, (0, 0, 11, 2), torch.tensor([1, 0]))


def test_bad_arguments():
    inputs, targets = _batch(2)
    with pytest.raises(ValueError, match='lam must be in'):
        mixup_batch(inputs, targets, 1.5, torch.tensor([1, 0]))
    with pytest.raises(ValueError, match='targets must be float'):
        mixup_batch(inputs, torch.tensor([0, 1]), 0.5, torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r'index must be a \(2,\) permutation'):
        mixup_batch(inputs, targets, 0.5, torch.tensor([1, 0, 2]))
    with pytest.raises(ConfigError, match='Mixup alpha must be > 0'):
        Mixup(alpha=0)
    with pytest.raises(ConfigError, match='CutMix alpha must be > 0'):
        CutMix(alpha=-1.0)


@pytest.mark.parametrize('augment', [Mixup(alpha=0.8), CutMix(alpha=1.0)],
                         ids=['mixup', 'cutmix'])
def test_images_and_targets_mixed_alike(augment):
    inputs, targets = _batch()
    for seed in range(20):
        torch.manual_seed(seed)
        mixed, mixed_targets = augment(inputs, targets)
        assert mixed.shape == inputs.shape and mixed_targets.shape == (N, K)
        torch.testing.assert_close(mixed_targets.sum(1), torch.ones(N))
        assert bool((mixed_targets >= 0).all())
        # each image holds its classes in the proportions of its targets
        torch.testing.assert_close(mixed.mean(dim=(1, 2, 3)),
                                   mixed_targets @ torch.arange(K, dtype=torch.float32))
    assert torch.equal(inputs, _batch()[0])


def test_cutmix_targets_follow_the_pasted_pixels():
    inputs, targets = _batch(size=(15, 13))  # odd sides: the box is often smaller than drawn
    for seed in range(20):
        torch.manual_seed(seed)
        mixed, mixed_targets = CutMix(alpha=1.0)(inputs, targets)
        for i in range(N):
            changed = (mixed[i] != i).float().mean()
            torch.testing.assert_close(changed, 1 - mixed_targets[i, i])


@pytest.mark.parametrize('augment', [Mixup(alpha=0.8), CutMix(alpha=1.0)],
                         ids=['mixup', 'cutmix'])
def test_seeded_determinism(augment):
    inputs, targets = torch.randn(N, 3, 16, 16), _batch()[1]
    torch.manual_seed(3)
    a = augment(inputs, targets)
    torch.manual_seed(3)
    b = augment(inputs, targets)
    torch.manual_seed(4)
    c = augment(inputs, targets)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_beta_lambda_moments():
    """Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) (0.0962 for a = 0.8, 1/12 for a = 1)."""
    torch.manual_seed(0)
    for alpha in (0.8, 1.0):
        lams = torch.tensor([_sample_beta(alpha) for _ in range(4000)], dtype=torch.float64)
        assert abs(float(lams.mean()) - 0.5) < 0.015
        assert abs(float(lams.var()) - 1 / (4 * (2 * alpha + 1))) < 0.006


def test_random_batch_augment_chooses_with_probs():
    calls = []

    def tag(name):
        def augment(inputs, targets):
            calls.append(name)
            return inputs, targets
        return augment

    inputs, targets = _batch()
    torch.manual_seed(0)
    chooser = RandomBatchAugment([tag('a'), tag('b')], probs=[0.5, 0.3])
    for _ in range(3000):
        out = chooser(inputs, targets)
        assert out[0] is inputs and out[1] is targets
    assert abs(calls.count('a') / 3000 - 0.5) < 0.03
    assert abs(calls.count('b') / 3000 - 0.3) < 0.03  # 0.2 of the batches: unchanged
    calls.clear()
    uniform = RandomBatchAugment([tag('a'), tag('b')])
    for _ in range(2000):
        uniform(inputs, targets)
    assert len(calls) == 2000 and abs(calls.count('a') / 2000 - 0.5) < 0.035


def test_random_batch_augment_builds_from_task_utils():
    chooser = RandomBatchAugment([dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)])
    assert [type(a) for a in chooser.augments] == [Mixup, CutMix]
    assert chooser.augments[0].alpha == 0.8
    assert type(TASK_UTILS.build(dict(type='CutMix', alpha=1.0))) is CutMix
    with pytest.raises(ConfigError, match=r'x\.probs must give one probability >= 0 per augment '
                                          r'\(2\) with a sum <= 1, got \[0\.6, 0\.6\]'):
        RandomBatchAugment([Mixup(0.8), CutMix(1.0)], probs=[0.6, 0.6], key='x')
    with pytest.raises(ConfigError, match='probs must give one probability'):
        RandomBatchAugment([Mixup(0.8), CutMix(1.0)], probs=[1.0])
    with pytest.raises(ConfigError, match='augments must list at least one'):
        RandomBatchAugment([])
