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
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AcecurateError, InputError
from ..io import atomic_write_bytes, read_records, source_name
from ..records import ALIASES
from ..text import NORMALIZER_VERSION, TokenizedCorpus, last_boxed, snippet, tokenize_corpus, tokenize_many
from ..words import phrases, words
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
    asks: np.ndarray | None = None  # int64 per item: tokens of its final ask (the rest is its setup)
    limits: list[np.ndarray] | None = None  # per item: the bounds of its constraint lines (code), ascending
    names: list[np.ndarray] | None = None  # per item: hashes of the names it gives its objects (see `names_of`)
    calls: list[np.ndarray] | None = None  # per item (code): hashes of the calls its examples make (see `calls_of`)

    def in_window(self, window: tuple[str, str] | None) -> np.ndarray:
        """Which items are targets under `window` (items without a date always are)."""
        if window is None:
            return np.ones(len(self.ids), dtype=bool)
        start, end = window
        return np.array([not d or start <= d[:10] < end for d in self.dates], dtype=bool)


SNIPPET_CHARS = 300
QUESTION_TOKENS = 8
# Math spans, so that a dot inside $3.5$ ends no sentence; sentence ends and paragraph breaks.
_MATH_SPAN = re.compile(r"\$\$[^$]*\$\$|\$[^$]*\$|\\\([^\n]*?\\\)|\\\[[^\n]*?\\\]")
_SENTENCE_END = re.compile(r"[.?!](?=\s)|\n[ \t]*\n|\n(?=[ \t]*[A-Z][a-z])")  # a line that starts a sentence too


def final_ask(text: str) -> str:
    """The item's final ask: its last sentence that is no answer-format instruction, with the answer-format sentences
    around it ("The final answer can be written as m/n. What is m+n?", "Find P. Express it as a fraction.")."""
    masked = _MATH_SPAN.sub(lambda m: "x" * len(m.group(0)), text.rstrip())
    starts = [0] + [m.end() for m in _SENTENCE_END.finditer(masked)]
    sentences = [(a, text[a:b].strip()) for a, b in zip(starts, starts[1:] + [len(masked)]) if text[a:b].strip()]
    formats = phrases("answer_format_starts")
    begin, asked = len(text), False
    for at, sentence in reversed(sentences):
        # A closing paragraph that is only a formula or a drawing belongs to the sentence before it ("... is not in the
        # domain of\n\n$f(x)=...$?", "What is the area of this trapezoid?\n\n[asy]...[/asy]").
        trailing = not asked and _WORD.search(_MATH_SPAN.sub(" ", _ASY.sub(" ", sentence))) is None
        is_format = trailing or sentence.lower().lstrip("( ").startswith(formats)
        if asked and not is_format:
            break
        begin, asked = at, asked or not is_format
    return text[begin:]


_WORD = re.compile(r"[A-Za-z]{2,}")


_LIMIT_LINE = re.compile(r"<=|≤|⩽|\\leq?(?![a-z])", re.IGNORECASE)
# A number as constraints write it: m x 10^k (also with the superscript lost in scraping, 2 * 105), b^k, or plain.
_BOUND = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|\*|×|·)\s*10\s*(?:\^|\*\*)?\s*\{?\s*(\d{1,3})\s*\}?(?!\d)"
    r"|(\d+)\s*(?:\^|\*\*)\s*\{?\s*(\d{1,3})\s*\}?|(\d+(?:\.\d+)?)"
)


def _bound_digits(found: re.Match) -> float:
    """A bound as the digits it is written with: 2^8 is 28 and 5 x 10^4 is 5104, which is also how a scrape that lost
    the superscripts writes them (`2 <= n <= 28`, `5 * 104`), so a bound and its scraped copy agree, and two bounds
    that differ (100 and 10^5) still differ."""
    mantissa, exponent, base, power, plain = found.groups()
    if mantissa:
        return float(f"{mantissa}10{exponent}")
    if base:
        return float(f"{base}{power}")
    return float(plain)


def limit_values(text: str) -> np.ndarray:
    """The bound of each constraint line (a line with <=, the last number on it, as written: see `_bound_digits`),
    distinct and ascending: two statements with other bounds are other problems (a "II" that only enlarges the limits
    of its "I"). Lines of the examples are not constraints."""
    bounds = set()
    for line in _EXAMPLES.split(text, maxsplit=1)[0].split("\n") + _CONSTRAINTS_PART(text):
        if len(line) < 300 and _LIMIT_LINE.search(line):
            values = [_bound_digits(m) for m in _BOUND.finditer(line)]
            if values:
                bounds.add(values[-1])
    return np.array(sorted(bounds), dtype=np.float64)


_EXAMPLES = re.compile(r"^[ \t]*(?:example|sample)\b.*$", re.IGNORECASE | re.MULTILINE)
_CONSTRAINTS = re.compile(r"^[ \t]*constraints?:?[ \t]*$(.*)", re.IGNORECASE | re.MULTILINE | re.DOTALL)


def _CONSTRAINTS_PART(text: str) -> list[str]:
    """The lines after a "Constraints:" heading (which comes after the examples on LeetCode)."""
    found = _CONSTRAINTS.search(text)
    return found.group(1).split("\n") if found else []


_CAPITALS = re.compile(r"(?<![\\A-Za-z])[A-Z]{2,}(?![A-Za-z])")  # ELLIPSE, ABC, PROOF (not \LaTeX commands)
_ROMAN = re.compile(r"[IVXLCDM]+")
_ASY = re.compile(r"\[asy\].*?\[/asy\]", re.DOTALL | re.IGNORECASE)


def names_of(text: str, domain: str) -> np.ndarray:
    """Hashes of the names a statement gives its objects, which a copy keeps and a template changes: math, the words in
    capitals (the word ELLIPSE to arrange, the triangle ABC); code, the functions its examples call (`kth_element(`)."""
    from ..text import hash_strings

    if domain == "code":
        found = {call.group(1).lower() for call in code_calls(text)}
    else:
        found = {c.lower() for c in _CAPITALS.findall(_ASY.sub(" ", text)) if not _ROMAN.fullmatch(c)}
    return np.unique(hash_strings(sorted(found))) if found else np.zeros(0, np.uint64)


_CALL_START = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(")
_SPACES = re.compile(r"\s+")
_MAX_ARGS = 300  # characters of arguments read per call


_CODE_LINE = re.compile(r"^(?:assert\b|>>>|print\()")


def code_calls(text: str):
    """The calls a statement writes as code, not prose: "Let (i, j) denote", "points (x1, y1)" and "F(n) = F(n-1)" are
    words and formulas, while a call on an assert or doctest line (`assert similar_elements((3, 4), (4, 5))`,
    `>>> f(2)`) and a code name (an underscore, a digit or a capital inside: `square_perimeter(`, `isPrime(`) are code.
    Builtins are left out (`len(`, `set(`)."""
    for call in _CALL_START.finditer(text):
        name = call.group(1)
        if name.lower() in words("python_builtins") or call.group(0)[len(name)] != "(":
            continue
        line = text[text.rfind("\n", 0, call.start()) + 1 : call.start()].lstrip()
        looks_code = len(name) > 2 and ("_" in name or any(c.isdigit() for c in name) or any(c.isupper() for c in name[1:]))
        if looks_code or _CODE_LINE.match(line):
            yield call


def calls_of(text: str) -> np.ndarray:
    """Hashes of the calls a code statement's examples make, with their arguments, spaces and quote styles aside
    (`square_perimeter(10)`, also inside `math.isclose(volume_sphere(10), ...)`): a row that calls the item's function
    on the item's example is the item's task, however its prose was reworded (EvalPlus rewrote the MBPP prompts and
    kept their first assert). Each call's arguments are read to their closing parenthesis, at most _MAX_ARGS
    characters on, so the scan stays linear."""
    from ..text import hash_strings

    found = set()
    for call in code_calls(text):
        name = call.group(1).lower()
        depth, end = 1, call.end()
        limit = min(len(text), call.end() + _MAX_ARGS)
        while end < limit and depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        args = text[call.end() : end - 1]
        if depth == 0 and args.strip():
            found.add(name + "(" + _SPACES.sub("", args).replace("'", '"') + ")")
    return np.unique(hash_strings(sorted(found))) if found else np.zeros(0, np.uint64)


def ask_lengths(texts: list[str]) -> np.ndarray:
    """Tokens (matching view) of each text's final ask."""
    return np.array([len(t) for t in tokenize_many([final_ask(t) for t in texts], match_view=True)], dtype=np.int64)


def question_hashes(texts: list[str]) -> np.ndarray:
    """One row per item: hashes of the distinct telling words (3+ letters, not plain words) and numbers among its last
    12 tokens, zero-padded: what it asks for. A row that copies the item asks for the same thing. Tokenised in bulk."""
    plain = words("question_plain_words")
    telling = [
        " ".join(dict.fromkeys(t for t in tokens[-12:] if (t.isdigit() or len(t) >= 3) and t not in plain))
        for tokens in tokenize_many(texts, match_view=True)
    ]
    corpus = tokenize_corpus(telling, match_view=True)
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
        name,
        domain,
        description,
        ids,
        tokenize_corpus(texts, match_view=True),
        item_dates,
        snippets,
        question_hashes(texts),
        window,
        ask_lengths(texts),
        [limit_values(t) for t in texts] if domain == "code" else [np.zeros(0)] * len(texts),
        [names_of(t, domain) for t in texts],
        [calls_of(t) for t in texts] if domain == "code" else [np.zeros(0, np.uint64)] * len(texts),
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
        asks=fp.asks,
        limit_values=np.concatenate(fp.limits) if fp.limits else np.zeros(0),
        limit_offsets=np.cumsum([0] + [len(x) for x in fp.limits]),
        name_hashes=np.concatenate(fp.names) if fp.names else np.zeros(0, np.uint64),
        name_offsets=np.cumsum([0] + [len(x) for x in fp.names]),
        call_hashes=np.concatenate(fp.calls) if fp.calls else np.zeros(0, np.uint64),
        call_offsets=np.cumsum([0] + [len(x) for x in (fp.calls or [])]),
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
            data["asks"].astype(np.int64),
            np.split(data["limit_values"].astype(np.float64), data["limit_offsets"][1:-1]),
            np.split(data["name_hashes"].astype(np.uint64), data["name_offsets"][1:-1]),
            np.split(data["call_hashes"].astype(np.uint64), data["call_offsets"][1:-1]) if "call_hashes" in data else None,
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
