"""keep_freed_memory: glibc keeps a freed large block in the heap (no munmap), so the next step
reuses it instead of faulting fresh pages in; checked through the RSS of a child process."""
import subprocess
import sys

import pytest

CHILD = r'''
import sys
import numpy as np
if sys.argv[1] == '1':
    from hrnet_train.utils.malloc import keep_freed_memory
    assert keep_freed_memory() is True and keep_freed_memory() is True  # idempotent
def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096 / 2 ** 20
a = np.ones(64 * 2 ** 20 // 8)  # 64 MiB, touched
peak = rss_mb()
del a
print(peak - rss_mb())  # MiB returned to the system by the free
'''


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc mallopt')
def test_freed_large_blocks_stay_in_the_process_only_when_applied():
    def returned(flag):
        out = subprocess.run([sys.executable, '-c', CHILD, flag], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return float(out.stdout.split()[-1])
    assert returned('0') > 60  # glibc default: the 64 MiB block was mmap'd and is unmapped
    assert returned('1') < 4  # kept in the heap for the next allocation

