"""Suite-wide test isolation and shared fixtures."""
import logging

import pytest


@pytest.fixture
def saved_bytes():
    """``saved_bytes(fn) -> (fn(), bytes)``: the bytes of the tensors autograd keeps for
    backward while ``fn`` runs (each storage counted once; a checkpointed segment keeps only
    its inputs)."""
    import torch

    def count(fn):
        storages = {}

        def pack(t):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = fn()
        return out, sum(storages.values())
    return count


@pytest.fixture
def randomise_bn():
    """``randomise_bn(model) -> model`` in eval mode with every ``BatchNorm2d``'s running
    statistics and affine parameters drawn from a fixed generator (folding them must matter)."""
    import torch
    from torch import nn

    def randomise(model):
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    n = m.num_features
                    m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                    m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.2)
        return model.eval()
    return randomise


@pytest.fixture(autouse=True)
def _drop_log_handlers_on_closed_streams():
    """A tool run inside a test (``capsys``) leaves mmengine loggers whose stream handlers point
    at that test's capture file, closed when it ended; a later test's tool would then print
    ``--- Logging error ---`` tracebacks into its own stderr. One process per tool run, as
    users run them, never has such handlers; drop them before each test."""
    from mmengine.logging import MMLogger
    for logger in list(MMLogger._instance_dict.values()):
        for handler in list(logger.handlers):
            stream = getattr(handler, 'stream', None)
            if isinstance(handler, logging.StreamHandler) and getattr(stream, 'closed', False):
                logger.removeHandler(handler)
    yield
