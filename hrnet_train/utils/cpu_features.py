"""What the CPU can do natively, for choices that depend on it (bf16 autocast, channels_last
training)."""
from __future__ import annotations

from typing import Optional

# x86 flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic: AVX512-BF16 dot products and
# AMX tiles. Without either, oneDNN emulates bfloat16 and CPU autocast is slower than float32.
NATIVE_BF16_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_flags(path: str = '/proc/cpuinfo') -> Optional[frozenset]:
    """The ``flags`` of the first processor in ``path``, or None where there is no such file
    (not Linux) or it lists no flags (not x86)."""
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == 'flags':
                    return frozenset(value.split())
    except OSError:
        return None
    return None


def has_native_bf16(flags: Optional[frozenset] = None) -> Optional[bool]:
    """True/False when the CPU flags say whether bfloat16 is native; None when unknown.

    Args:
        flags: CPU flags; default :func:`cpu_flags` of this machine.
    """
    return _has_any(NATIVE_BF16_FLAGS, flags)


def has_avx512(flags: Optional[frozenset] = None) -> Optional[bool]:
    """True/False when the CPU flags say whether the CPU has AVX-512 (``avx512f``); None when
    unknown. oneDNN's NHWC weight-gradient kernel is slow without it (docs/benchmark.md).

    Args:
        flags: CPU flags; default :func:`cpu_flags` of this machine.
    """
    return _has_any(('avx512f',), flags)


def _has_any(names: tuple, flags: Optional[frozenset]) -> Optional[bool]:
    """Whether ``flags`` (default: this machine's) holds any of ``names``; None when unknown."""
    flags = cpu_flags() if flags is None else flags
    if flags is None:
        return None
    return any(f in flags for f in names)
