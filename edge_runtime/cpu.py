"""What the running CPU is, and whether int8 or float32 inference is the faster there.

XNNPACK (the CPU backend of LiteRT and tflite-runtime) runs int8 layers fast only where the CPU
has int8 dot-product instructions: every ARM board we target, and x86 with VNNI. On x86 with
AVX2 alone its float32 kernels win by about 2x. Measured with the same convctc-fast network,
`captcha-edge bench --compare convctc-fast-int8 --compare convctc-fast-float32`:

* AMD EPYC, AVX2 without AVX-512/VNNI: int8 invoke 1.05 ms, float32 0.54 ms;
* Intel Xeon (Cascade Lake), AVX-512 VNNI: int8 wins (see converted/README.md for the figures).

A rule on CPU flags costs nothing at start-up and gives the same answer on every run, which a
timed trial at first use would not on boards whose speed drifts.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

#: x86 flags (as /proc/cpuinfo spells them) of the int8 dot-product instructions XNNPACK uses.
X86_INT8_DOT = ("avx512_vnni", "avx_vnni", "amx_int8")
ARM_MACHINES = ("aarch64", "arm64", "armv7l", "armv8l")
ARM_PARTS = {"0xd03": "ARM Cortex-A53", "0xd08": "ARM Cortex-A72", "0xd0b": "ARM Cortex-A76"}


@dataclass(frozen=True)
class Cpu:
    machine: str  # platform.machine(): x86_64, aarch64, ...
    model: str  # the CPU's model name, or the machine when the system does not say
    flags: frozenset[str]  # x86 flags or ARM features, as the kernel lists them


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # "int8" or "float32"
    reason: str  # one line, for info and bench


def read_cpu(cpuinfo: str | None = None, machine: str | None = None) -> Cpu:
    """The CPU described by ``cpuinfo`` (the text of /proc/cpuinfo; read when None)."""
    machine = machine or platform.machine()
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:  # not Linux: no flags, so the rule below decides on the machine alone
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    # x86 says "model name"; Raspberry Pi kernels say "Model" (the board) and list "CPU part".
    part = ARM_PARTS.get(fields.get("CPU part", ""), fields.get("CPU part"))
    model = (fields.get("Model") or fields.get("model name") or fields.get("Hardware") or part
             or platform.processor() or machine)
    flags = fields.get("flags") or fields.get("Features") or ""
    return Cpu(machine, model, frozenset(flags.split()))


@functools.lru_cache(maxsize=1)
def this_cpu() -> Cpu:
    return read_cpu()


def choose_precision(cpu: Cpu) -> PrecisionChoice:
    """int8 where the CPU has int8 dot products (ARM, x86 with VNNI), else float32."""
    if cpu.machine.lower() in ARM_MACHINES:
        return PrecisionChoice("int8", f"{cpu.machine}: XNNPACK's int8 NEON kernels are the fastest on ARM")
    found = [flag for flag in X86_INT8_DOT if flag in cpu.flags]
    if found:
        return PrecisionChoice("int8", f"{cpu.machine} with {found[0]}: int8 dot-product instructions")
    return PrecisionChoice("float32", f"{cpu.machine} without VNNI ({'/'.join(X86_INT8_DOT)}): "
                                      "float32 kernels beat int8 ones here")


def cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
