"""The benchmarks: one registry (`registry.py`: every benchmark under one name, with its decontamination fingerprint
source and its eval source) and the fingerprints decontamination matches against (`fingerprint.py`; the shipped files
are in `fingerprints/`). `acecurate eval` reads the benchmarks' problems with `eval.loading`."""

from .fingerprint import (
    FINGERPRINT_DIR,
    Fingerprint,
    build_shipped,
    fingerprint_file,
    load_fingerprint,
    resolve_dates,
    shipped_names,
)
from .registry import LIVECODEBENCH_WINDOWS, REGISTRY, BenchmarkSpec, canonical_name

__all__ = [
    "FINGERPRINT_DIR",
    "LIVECODEBENCH_WINDOWS",
    "REGISTRY",
    "BenchmarkSpec",
    "Fingerprint",
    "build_shipped",
    "canonical_name",
    "fingerprint_file",
    "load_fingerprint",
    "resolve_dates",
    "shipped_names",
]
