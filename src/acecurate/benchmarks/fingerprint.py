"""Benchmark fingerprints, for decontamination: for each benchmark item, its sequence of normalised-token hashes in the matching view of
`text.tokenize` (with which tokens are numbers), the hashes of the words of its question, its date, and the start of
its text with its answer.

The package ships fingerprints, not whole benchmark texts: the snippet (the first 300 characters) is there so that a
match can be judged from its evidence. Any n-gram size can be matched from token hashes, so one fingerprint file
serves math (n=9) and code (n=14). A benchmark may have an evaluation window (LiveCodeBench v5: 2024-08-01 to
2025-02-01): items dated outside it are not targets. `acecurate benchmarks build` rebuilds the shipped fingerprints
(`registry.REGISTRY`, each benchmark's `fingerprint`) from the source files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AcecurateError, InputError
from ..io import atomic_write_bytes, read_records, source_name
from ..records import ALIASES
from ..text import NORMALIZER_VERSION, TokenizedCorpus, last_boxed, snippet, tokenize_corpus, tokenize_many
from .registry import REGISTRY, BenchmarkSpec, canonical_name

FINGERPRINT_DIR = Path(__file__).parent / "fingerprints"


@dataclass
class Fingerprint:
    name: str
    domain: str
    description: str
    ids: list[str]
    corpus: TokenizedCorpus
    dates: list[str]  # ISO date per item, "" when unknown
    snippets: list[str]  # the start of each item's text and its answer, for the evidence of a match
    questions: np.ndarray  # (items, QUESTION_TOKENS) uint64: hashes of the words of each item's question, 0-padded
    window: tuple[str, str] | None = None  # items dated outside [start, end) are not targets

    def in_window(self, window: tuple[str, str] | None) -> np.ndarray:
        """Which items are targets under `window` (items without a date always are)."""
        if window is None:
            return np.ones(len(self.ids), dtype=bool)
        start, end = window
        return np.array([not d or start <= d[:10] < end for d in self.dates], dtype=bool)


SNIPPET_CHARS = 300
QUESTION_TOKENS = 8
# Words that say nothing about what a question asks for.
_PLAIN_WORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "that",
        "with",
        "what",
        "which",
        "find",
        "compute",
        "determine",
        "evaluate",
        "calculate",
        "value",
        "values",
        "then",
        "this",
        "these",
        "those",
        "its",
        "your",
        "answer",
        "express",
        "enter",
        "form",
        "give",
        "write",
        "are",
        "was",
        "were",
        "is",
        "be",
        "can",
        "may",
        "how",
        "many",
        "much",
        "there",
        "where",
        "when",
        "let",
    ]
)


def question_hashes(texts: list[str]) -> np.ndarray:
    """One row per item: hashes of the distinct telling words (3+ letters, not plain words) and numbers among its last
    12 tokens, zero-padded: what it asks for. A row that copies the item asks for the same thing. Tokenised in bulk."""
    words = [
        " ".join(dict.fromkeys(t for t in tokens[-12:] if (t.isdigit() or len(t) >= 3) and t not in _PLAIN_WORDS))
        for tokens in tokenize_many(texts, match_view=True)
    ]
    corpus = tokenize_corpus(words, match_view=True)
    out = np.zeros((len(texts), QUESTION_TOKENS), np.uint64)
    for k in range(len(texts)):
        hashes = corpus.hashes[corpus.offsets[k] : corpus.offsets[k + 1]][:QUESTION_TOKENS]
        out[k, : len(hashes)] = hashes
    return out


def _item_snippet(text: str, answer) -> str:
    shown = snippet(text, SNIPPET_CHARS)
    if answer in (None, "", "None"):
        return shown
    if isinstance(answer, str) and "\\boxed" in answer:
        answer = last_boxed(answer) or answer
    return f"{shown} [answer: {snippet(answer, 80)}]"


def _fingerprint_from_records(
    name: str,
    domain: str,
    description: str,
    records: list[dict],
    text_field: str | None,
    id_field: str | None,
    path,
    answer_field: str | None = None,
    dates: dict[str, list[str]] | None = None,
    date: str | None = None,
    window: tuple[str, str] | None = None,
) -> Fingerprint:
    text_field = text_field or next((k for k in ALIASES["problem"] if k in records[0]), None)
    if text_field is None:
        raise InputError(path, f"no problem text column (looked for {', '.join(ALIASES['problem'])}); columns are: {', '.join(records[0])}")
    answer_field = answer_field or next((k for k in ALIASES["answer"] if k in records[0]), None)
    date_field = next((k for k in ALIASES["contest_date"] if k in records[0]), None)
    texts, item_dates, snippets = [], [], []
    ids = [str(r[id_field]) if id_field and r.get(id_field) is not None else str(i) for i, r in enumerate(records)]
    joined = resolve_dates(ids, dates) if dates else {}
    for index, record in enumerate(records):
        text = record.get(text_field)
        if not isinstance(text, str):
            raise InputError(path, f"expected text, got {type(text).__name__}", row=index + 1, column=text_field)
        texts.append(text)
        own_date = str(record.get(date_field) or "") if date_field else ""
        item_dates.append((joined.get(index) or own_date or date or "")[:10])
        snippets.append(_item_snippet(text, record.get(answer_field) if answer_field else None))
    return Fingerprint(
        name, domain, description, ids, tokenize_corpus(texts, match_view=True), item_dates, snippets, question_hashes(texts), window
    )


def fingerprint_file(
    path: str | Path, domain: str, name: str | None = None, text_field: str | None = None, id_field: str | None = None
) -> Fingerprint:
    """A user's own benchmark file (any format `read_records` reads), fingerprinted on the fly. A `contest_date` (or
    `date`) column gives item dates."""
    path = Path(path)
    records = read_records(path)
    if id_field is None:
        id_field = next((k for k in ALIASES["id"] if k in records[0]), None)
    name = canonical_name(name or source_name(path))  # a file named after a registered benchmark is that benchmark
    window = REGISTRY[name].window if name in REGISTRY else None
    return _fingerprint_from_records(name, domain, f"user benchmark {path.name}", records, text_field, id_field, path, window=window)


def save_fingerprint(fp: Fingerprint, directory: Path = FINGERPRINT_DIR, file: str | None = None) -> Path:
    import io

    meta = {
        "name": fp.name,
        "domain": fp.domain,
        "description": fp.description,
        "items": len(fp.ids),
        "normalizer_version": NORMALIZER_VERSION,
        "window": list(fp.window) if fp.window else None,
    }
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        token_hashes=fp.corpus.hashes,
        offsets=fp.corpus.offsets,
        numeric=np.packbits(fp.corpus.numeric),
        ids=np.array(fp.ids, dtype=str),
        dates=np.array(fp.dates, dtype=str),
        snippets=np.array(fp.snippets, dtype=str),
        questions=fp.questions,
        meta=np.array(json.dumps(meta)),
    )
    path = directory / f"{file or fp.name}.npz"
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _shipped(spec: BenchmarkSpec, directory: Path) -> Path | None:
    path = directory / f"{spec.fingerprint.file}.npz" if spec.fingerprint else None
    return path if path is not None and path.exists() else None


def load_fingerprint(name: str, directory: Path = FINGERPRINT_DIR) -> Fingerprint:
    """A registered benchmark's shipped fingerprint, named as the registry names it (a former name is read too)."""
    spec = REGISTRY.get(canonical_name(name))
    path = _shipped(spec, directory) if spec else None
    if path is None:
        raise AcecurateError(
            f"no benchmark fingerprint '{name}' (shipped: {', '.join(shipped_names())}); add your own benchmark file with --benchmark-files FILE"
        )
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta["normalizer_version"] != NORMALIZER_VERSION:
            raise AcecurateError(
                f"{path} was built with normaliser version {meta['normalizer_version']}, this is "
                f"{NORMALIZER_VERSION}: rebuild it with `acecurate benchmarks build`"
            )
        hashes = data["token_hashes"].astype(np.uint64)
        numeric = np.unpackbits(data["numeric"], count=len(hashes)).astype(bool)
        corpus = TokenizedCorpus(hashes, data["offsets"].astype(np.int64), numeric)
        return Fingerprint(
            spec.name,
            spec.domain,
            meta["description"],
            [str(i) for i in data["ids"]],
            corpus,
            [str(d) for d in data["dates"]],
            [str(s) for s in data["snippets"]],
            data["questions"].astype(np.uint64),
            spec.window,
        )


def shipped_names(domain: str | None = None) -> list[str]:
    """The registered benchmarks of `domain` (all when None) whose fingerprint ships."""
    return [s.name for s in REGISTRY.values() if domain in (None, s.domain) and _shipped(s, FINGERPRINT_DIR)]


def _joined_dates(data_dir: Path, spec: tuple[str, str, str]) -> dict[str, list[str]]:
    """Candidate dates per key from a date index (a key such as a title may name several problems)."""
    file, key_field, date_field = spec
    path = data_dir / file
    if not path.exists():
        raise AcecurateError(f"{path}: date index missing (it gives each item's date)")
    candidates: dict[str, list[str]] = {}
    for record in read_records(path):
        if record.get(date_field):
            candidates.setdefault(str(record.get(key_field)), []).append(str(record[date_field])[:10])
    return candidates


def resolve_dates(keys: list[str], candidates: dict[str, list[str]], reach: int = 3) -> dict[int, str]:
    """One date per item. A key with several candidate dates (LiveCodeBench has four titles shared by two or three
    problems) takes the candidate nearest to the date of its nearest unambiguous neighbour in the file, whose items
    come contest by contest; without one within `reach`, the earliest."""
    from datetime import date

    def day(text: str) -> int:
        return date.fromisoformat(text).toordinal()

    def unambiguous(k: int) -> str | None:
        options = set(candidates.get(keys[k], [])) if 0 <= k < len(keys) else set()
        return options.pop() if len(options) == 1 else None

    resolved = {}
    for position, key in enumerate(keys):
        options = sorted(set(candidates.get(key, [])))
        if len(options) <= 1:
            if options:
                resolved[position] = options[0]
            continue
        neighbour = next((d for step in range(1, reach + 1) for k in (position - step, position + step) if (d := unambiguous(k))), None)
        resolved[position] = min(options, key=lambda d: abs(day(d) - day(neighbour))) if neighbour else options[0]
    return resolved


def build_shipped(data_dir: str | Path, out_dir: Path = FINGERPRINT_DIR) -> list[tuple[str, int, Path]]:
    """Rebuild the shipped fingerprints (every registered benchmark with a `fingerprint`) from the files in `data_dir`."""
    data_dir = Path(data_dir)
    built = []
    for spec in REGISTRY.values():
        source = spec.fingerprint
        if source is None:
            continue
        path = data_dir / source.source
        if not path.exists():
            raise AcecurateError(f"{path}: benchmark file missing (expected for '{spec.name}')")
        fp = _fingerprint_from_records(
            spec.name,
            spec.domain,
            source.description,
            read_records(path),
            source.text_field,
            source.id_field,
            path,
            source.answer_field,
            _joined_dates(data_dir, source.dates_from) if source.dates_from else None,
            source.date,
            spec.window,
        )
        built.append((spec.name, len(fp.ids), save_fingerprint(fp, out_dir, source.file)))
    return built
