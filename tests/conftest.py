"""Suite-wide test isolation."""
import logging

import pytest


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
