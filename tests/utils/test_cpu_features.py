"""hrnet_train.utils.cpu_features on cpuinfo files in the real /proc/cpuinfo format."""
from hrnet_train.utils.cpu_features import cpu_flags, has_native_bf16

# Abridged /proc/cpuinfo entries: AMD EPYC (AVX2 only) and a Sapphire Rapids Xeon (AMX).
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 avx avx2 fma bmi2
"""
XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile
processor\t: 1
flags\t\t: fpu
"""
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm
"""


def test_flags_of_the_first_processor(tmp_path):
    (tmp_path / 'epyc').write_text(EPYC)
    (tmp_path / 'xeon').write_text(XEON)
    assert cpu_flags(str(tmp_path / 'epyc')) == frozenset(
        ['fpu', 'vme', 'sse', 'sse2', 'avx', 'avx2', 'fma', 'bmi2'])
    assert 'amx_bf16' in cpu_flags(str(tmp_path / 'xeon'))  # the first processor's line


def test_native_bf16_is_true_false_or_unknown(tmp_path):
    (tmp_path / 'arm').write_text(ARM)
    assert has_native_bf16(frozenset(['avx2', 'fma'])) is False
    assert has_native_bf16(frozenset(['avx512f', 'avx512_bf16'])) is True
    assert has_native_bf16(frozenset(['amx_bf16'])) is True
    assert cpu_flags(str(tmp_path / 'arm')) is None  # no x86 flags: unknown
    assert cpu_flags(str(tmp_path / 'missing')) is None


def test_avx512_is_true_false_or_unknown(tmp_path):
    from hrnet_train.utils.cpu_features import has_avx512
    (tmp_path / 'epyc').write_text(EPYC)
    (tmp_path / 'xeon').write_text(XEON)
    assert has_avx512(cpu_flags(str(tmp_path / 'epyc'))) is False
    assert has_avx512(cpu_flags(str(tmp_path / 'xeon'))) is True
    assert has_avx512(frozenset(['avx2', 'avx512_vnni'])) is False  # no avx512f: not AVX-512
