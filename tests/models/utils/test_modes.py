"""forward_by_mode: the one dispatch of mmengine's tensor / loss / predict modes."""
import pytest

from hrnet_train.models.utils.modes import forward_by_mode


class _Model:
    def _forward(self, x):
        return ('tensor', x)

    def loss(self, x, samples):
        return ('loss', x, samples)

    def predict(self, x, samples):
        return ('predict', x, samples)


def test_each_mode_calls_its_method():
    m = _Model()
    assert forward_by_mode(m, 1, None, 'tensor') == ('tensor', 1)
    assert forward_by_mode(m, 1, [2], 'loss') == ('loss', 1, [2])
    assert forward_by_mode(m, 1, [2], 'predict') == ('predict', 1, [2])
    with pytest.raises(ValueError, match=r"mode must be one of .*got 'train'"):
        forward_by_mode(m, 1, None, 'train')
