"""Which compute precision training uses (TrainConfig.precision, ``facedepth-train train --precision``).

bfloat16 arithmetic with float32 weights ("mixed_bfloat16") trains the same networks 1.5-2x faster than
float32 on CPUs that compute bfloat16 natively (bench/train_throughput.py); elsewhere it is emulated and slower.
"""

from __future__ import annotations

from pathlib import Path

PRECISIONS = ("auto", "float32", "mixed_bfloat16")


def cpu_has_native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU flags list AVX512-BF16 or AMX-BF16 (False where the file is missing)."""
    try:
        flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """"auto" -> "mixed_bfloat16" where the CPU computes bfloat16 natively and TensorFlow sees no GPU (whose
    precision has not been measured), else "float32"; the other names are returned once checked."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    if not cpu_has_native_bfloat16(cpuinfo):
        return "float32"
    import tensorflow as tf

    return "float32" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
