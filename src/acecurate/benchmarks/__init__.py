"""Benchmark fingerprints: for each benchmark item, its sequence of normalised-token hashes.

The package ships fingerprints, not benchmark texts. Any n-gram size can be matched from token hashes, so one
fingerprint file serves math (n=9) and code (n=14). `acecurate benchmarks build` rebuilds them from the source files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AcecurateError, InputError
from ..io import atomic_write_bytes, read_records
from ..records import ALIASES
from ..text import NORMALIZER_VERSION, TokenizedCorpus, tokenize_corpus

FINGERPRINT_DIR = Path(__file__).parent / "fingerprints"


@dataclass(frozen=True)
class BenchmarkSource:
    name: str
    file: str  # relative to the benchmark data directory (../shared/data/benchmarks)
    domain: str
    text_field: str
    id_field: str | None
    description: str


SHIPPED = [
    BenchmarkSource("aime24", "aime24.jsonl", "math", "problem", "id", "AIME 2024 (30)"),
    BenchmarkSource("aime25", "aime25.jsonl", "math", "problem", None, "AIME 2025 (30)"),
    BenchmarkSource("amc23", "amc23.jsonl", "math", "problem", "id", "AMC 2023 (40)"),
    BenchmarkSource("math500", "math500.jsonl", "math", "problem", "unique_id", "MATH-500"),
    BenchmarkSource("minerva_math", "minerva_math.jsonl", "math", "problem", "idx", "Minerva Math (272)"),
    BenchmarkSource("olympiadbench", "olympiadbench.jsonl", "math", "question", "id", "OlympiadBench (675)"),
    BenchmarkSource("hmmt25_feb", "hmmt25_feb.jsonl", "math", "problem", None, "HMMT February 2025 (30)"),
    BenchmarkSource(
        "livecodebench_v5",
        "livecodebench_v5_statements.json",
        "code",
        "problem",
        "problem_title",
        "LiveCodeBench v5 problem statements (879)",
    ),
    BenchmarkSource("mbppplus", "mbppplus.jsonl", "code", "prompt", "task_id", "MBPP+ (378)"),
]


@dataclass
class Fingerprint:
    name: str
    domain: str
    description: str
    ids: list[str]
    corpus: TokenizedCorpus


def _fingerprint_from_records(
    name: str, domain: str, description: str, records: list[dict], text_field: str | None, id_field: str | None, path
) -> Fingerprint:
    text_field = text_field or next((k for k in ALIASES["problem"] if k in records[0]), None)
    if text_field is None:
        raise InputError(path, f"no problem text column (looked for {', '.join(ALIASES['problem'])}); columns are: {', '.join(records[0])}")
    texts, ids = [], []
    for index, record in enumerate(records):
        text = record.get(text_field)
        if not isinstance(text, str):
            raise InputError(path, f"expected text, got {type(text).__name__}", row=index, column=text_field)
        texts.append(text)
        ids.append(str(record[id_field]) if id_field and record.get(id_field) is not None else str(index))
    return Fingerprint(name, domain, description, ids, tokenize_corpus(texts))


def fingerprint_file(
    path: str | Path, domain: str, name: str | None = None, text_field: str | None = None, id_field: str | None = None
) -> Fingerprint:
    """A user's own benchmark file (any format `read_records` reads), fingerprinted on the fly."""
    path = Path(path)
    records = read_records(path)
    if id_field is None:
        id_field = next((k for k in ALIASES["id"] if k in records[0]), None)
    return _fingerprint_from_records(name or path.stem, domain, f"user benchmark {path.name}", records, text_field, id_field, path)


def save_fingerprint(fp: Fingerprint, directory: Path = FINGERPRINT_DIR) -> Path:
    import io

    meta = {
        "name": fp.name,
        "domain": fp.domain,
        "description": fp.description,
        "items": len(fp.ids),
        "normalizer_version": NORMALIZER_VERSION,
    }
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, token_hashes=fp.corpus.hashes, offsets=fp.corpus.offsets, ids=np.array(fp.ids, dtype=str), meta=np.array(json.dumps(meta))
    )
    path = directory / f"{fp.name}.npz"
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_fingerprint(name: str, directory: Path = FINGERPRINT_DIR) -> Fingerprint:
    path = directory / f"{name}.npz"
    if not path.exists():
        raise AcecurateError(
            f"no benchmark fingerprint '{name}' (shipped: {', '.join(shipped_names())}); add your own benchmark file with --benchmark FILE"
        )
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta["normalizer_version"] != NORMALIZER_VERSION:
            raise AcecurateError(
                f"{path} was built with normaliser version {meta['normalizer_version']}, this is "
                f"{NORMALIZER_VERSION}: rebuild it with `acecurate benchmarks build`"
            )
        corpus = TokenizedCorpus(data["token_hashes"].astype(np.uint64), data["offsets"].astype(np.int64))
        return Fingerprint(meta["name"], meta["domain"], meta["description"], [str(i) for i in data["ids"]], corpus)


def shipped_names(domain: str | None = None) -> list[str]:
    return [s.name for s in SHIPPED if domain in (None, s.domain) and (FINGERPRINT_DIR / f"{s.name}.npz").exists()]


def build_shipped(data_dir: str | Path, out_dir: Path = FINGERPRINT_DIR) -> list[tuple[str, int, Path]]:
    """Rebuild the shipped fingerprints from the benchmark files in `data_dir`."""
    data_dir = Path(data_dir)
    built = []
    for source in SHIPPED:
        path = data_dir / source.file
        if not path.exists():
            raise AcecurateError(f"{path}: benchmark file missing (expected for '{source.name}')")
        fp = _fingerprint_from_records(
            source.name, source.domain, source.description, read_records(path), source.text_field, source.id_field, path
        )
        built.append((source.name, len(fp.ids), save_fingerprint(fp, out_dir)))
    return built
