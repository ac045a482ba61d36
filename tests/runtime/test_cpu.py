"""Which precision of the default network "default" names on a CPU (cpu.py, registry.py). Fast."""

from __future__ import annotations

import pytest

from edge_runtime import registry
from edge_runtime.cpu import Cpu, choose_precision, read_cpu
from edge_runtime.registry import DEFAULT_NETWORK, DEFAULT_PRECISIONS, default_choice, default_variants, resolve

CASCADE_LAKE = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor @ 2.50GHz
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw avx512_vnni
"""
EPYC_ZEN2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse sse2 avx avx2 fma
"""
ALDER_LAKE = "model name\t: 12th Gen Intel(R) Core(TM) i7-1260P\nflags\t\t: avx2 avx_vnni\n"
PI4 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU part\t: 0xd08
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


@pytest.mark.parametrize("text, machine, precision, model", [
    (CASCADE_LAKE, "x86_64", "int8", "Intel(R) Xeon(R) Processor @ 2.50GHz"),
    (EPYC_ZEN2, "x86_64", "float32", "AMD EPYC 7B12"),
    (ALDER_LAKE, "x86_64", "int8", "12th Gen Intel(R) Core(TM) i7-1260P"),
    (PI4, "aarch64", "int8", "Raspberry Pi 4 Model B Rev 1.4"),
    ("", "armv7l", "int8", "armv7l"),  # no /proc/cpuinfo to read: the machine decides
    ("", "x86_64", "float32", None),  # no flags known: no VNNI to count on
])
def test_precision_rule(text, machine, precision, model):
    cpu = read_cpu(text, machine)
    if model is not None:
        assert cpu.model == model
    choice = choose_precision(cpu)
    assert choice.precision == precision
    assert machine in choice.reason


def test_flags_are_words_not_substrings():
    cpu = read_cpu("flags\t: avx512_vnnix avx2\n", "x86_64")
    assert choose_precision(cpu).precision == "float32"


def test_every_precision_of_the_default_network_is_shipped():
    assert set(default_variants()) == set(DEFAULT_PRECISIONS)


@pytest.mark.parametrize("text, machine, precision", [(CASCADE_LAKE, "x86_64", "int8"), (EPYC_ZEN2, "x86_64", "float32"),
                                                      (PI4, "aarch64", "int8")])
def test_default_names_the_variant_for_the_cpu(text, machine, precision):
    choice = default_choice(read_cpu(text, machine))
    assert choice.name == f"{DEFAULT_NETWORK}-{precision}"
    assert choice.reason


def test_missing_variant_falls_back_and_says_so(monkeypatch):
    only_int8 = {p: n for p, n in default_variants().items() if p == "int8"}
    monkeypatch.setattr(registry, "default_variants", lambda: only_int8)
    choice = default_choice(read_cpu(EPYC_ZEN2, "x86_64"))
    assert choice.name == only_int8["int8"] and "float32" in choice.reason and "not installed" in choice.reason


def test_default_resolves_to_this_cpus_choice(shipped):
    assert resolve("default") == resolve(None) == shipped[default_choice().name]


def test_a_forced_variant_is_kept(shipped):
    for name in default_variants().values():
        assert resolve(name) == shipped[name]


def test_info_says_which_variant_and_why(invoke):
    out = invoke("info", "--format", "json")
    assert out.exit_code == 0
    import json

    report = json.loads(out.stdout)
    assert report["default"]["model"] == default_choice().name
    assert report["default"]["reason"] == default_choice().reason
    assert report["file"].endswith(default_choice().name + ".tflite")
    forced = json.loads(invoke("info", "--format", "json", "--model", f"{DEFAULT_NETWORK}-int8").stdout)
    assert "default" not in forced


def test_cpu_is_a_frozen_record():
    cpu = Cpu("x86_64", "x", frozenset())
    with pytest.raises(AttributeError):
        cpu.machine = "aarch64"  # type: ignore[misc]
