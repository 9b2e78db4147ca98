"""The canonical row, and adapters from the raw layouts in circulation to it.

Canonical columns: id, source, source_row, domain, problem, answer, tests, time_limit_s, starter_code, solutions,
contest_date, url, meta. `time_limit_s` is a code row's own limit per test (validate-tests sets it from its reference
solutions; the grading policy's limit where it is null), kept from any input that has it so that it travels with the
row to rewards, evaluation and exports. `id` is the row's own id as given (made unique only where ids collide across inputs); `source_row` is the row's
1-based position in its file, so every output row can be joined back to its input.
`tests` is one JSON string: {"format": "stdin" | "functional" | "assert", "fn_name": ..., "cases": [...], "check": ...}
(see `acecurate.suites`, which reads, checks and counts it).
Every original field that is not mapped is kept in `meta` (a JSON string), so nothing is lost.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import numbers
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .io import input_files, iter_records
from .suites import FORMATS, dump_tests
from .text import last_boxed

CANONICAL_TYPES = {
    "id": "string",
    "source": "string",
    "source_row": "int64",
    "domain": "string",
    "problem": "string",
    "answer": "string",
    "tests": "string",
    "time_limit_s": "double",
    "starter_code": "string",
    "solutions": "list<string>",
    "contest_date": "string",
    "url": "string",
    "meta": "string",
}
CANONICAL_COLUMNS = list(CANONICAL_TYPES)

# Field names seen in public dumps, in order of preference, for each canonical field.
ALIASES = {
    "id": ["id", "problem_id", "question_id", "task_id", "unique_id", "uid", "idx"],
    "problem": ["problem", "question", "prompt", "statement", "description", "question_content"],
    "answer": ["answer", "final_answer", "gold", "ground_truth", "expected_answer"],
    "solution": ["solution", "reference_solution"],
    "tests": ["tests", "test_cases", "input_output", "public_test_cases"],
    "solutions": ["solutions", "completion", "canonical_solution", "reference_code"],
    "starter_code": ["starter_code"],
    "fn_name": ["fn_name", "entry_point"],
    "time_limit_s": ["time_limit_s"],
    "contest_date": ["contest_date", "date", "release_date"],
    "url": ["url", "source_url", "problem_url", "link"],
}


def _parse_structured(value):
    """Test fields arrive as objects, JSON strings or Python-literal strings (single quotes); accept all three."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("not JSON and not a Python literal") from None


def _method_name(starter_code: str | None) -> str | None:
    if not starter_code:
        return None
    names = re.findall(r"def\s+(\w+)\s*\(\s*self", starter_code) or re.findall(r"def\s+(\w+)\s*\(", starter_code)
    return names[0] if names else None


def _as_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def canonical_tests(raw, *, fn_name: str | None = None, starter_code: str | None = None) -> dict:
    """Map any supported test layout to the canonical tests dict. Raises ValueError naming what is wrong."""
    tests = _parse_structured(raw)
    if isinstance(tests, dict) and isinstance(tests.get("format"), str) and tests["format"] in FORMATS:
        return tests  # already canonical
    if isinstance(tests, dict) and "functional" in tests:
        # rllm LeetCode: `def check(candidate): assert ...` followed by the call that binds the candidate.
        check = tests["functional"]
        called = re.findall(r"check\(\s*([\w.()]+)\s*\)\s*$", check.strip())
        return {"format": "assert", "check": check, "fn_name": called[0] if called else fn_name}
    if isinstance(tests, dict) and ("inputs" in tests or "input" in tests):
        inputs = tests.get("inputs", tests.get("input"))
        outputs = tests.get("outputs", tests.get("output"))
        if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
            raise ValueError("'inputs' and 'outputs' must be lists of equal length")
        name = tests.get("fn_name") or fn_name
        if name:
            # APPS/TACO functional: inputs[i] is the argument list; outputs[i] is usually [return value].
            cases = []
            for args, out in zip(inputs, outputs):
                args = args if isinstance(args, list) else [args]
                if isinstance(out, list) and len(out) == 1:
                    out = out[0]
                cases.append({"input": "\n".join(json.dumps(a) for a in args), "output": json.dumps(out)})
            return {"format": "functional", "fn_name": name, "cases": cases}
        return {"format": "stdin", "cases": [{"input": _as_text(i), "output": _as_text(o)} for i, o in zip(inputs, outputs)]}
    if isinstance(tests, list):
        cases, kinds = [], set()
        for case in tests:
            if not isinstance(case, dict) or "input" not in case or "output" not in case:
                raise ValueError("each test must be an object with 'input' and 'output'")
            kinds.add(case.get("testtype", "stdin"))
            cases.append({"input": _as_text(case["input"]), "output": _as_text(case["output"])})
        if kinds == {"functional"}:
            name = fn_name or _method_name(starter_code)
            if not name:
                raise ValueError("functional tests need a function name (fn_name or starter_code)")
            return {"format": "functional", "fn_name": name, "cases": cases}
        if kinds - {"stdin"}:
            raise ValueError(f"mixed or unknown test types {sorted(kinds)}")
        return {"format": "stdin", "cases": cases}
    raise ValueError(f"unrecognised test layout ({type(tests).__name__})")


def _pick(record: dict, field: str, mapping: dict[str, str]):
    """The source key for a canonical field: the user's --map first, then the known aliases."""
    if field in mapping:
        return mapping[field] if mapping[field] in record else None
    return next((key for key in ALIASES.get(field, [field]) if key in record), None)


def _solutions(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return [value]
        return [s for s in parsed if isinstance(s, str)] if isinstance(parsed, list) else [value]
    return [s for s in value if isinstance(s, str)]


def _answer_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if len(text) >= 2 and text.startswith("$") and text.endswith("$"):
        text = text.strip("$").strip()
    return text


def _time_limit(value, where, index: int, column: str | None) -> float | None:
    """A row's own time limit in seconds (a positive number), or None when it has none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise InputError(where, f"time_limit_s must be a positive number of seconds, got {value!r}", row=index + 1, column=column)
    return float(value)


@dataclass(frozen=True)
class RawFields:
    """Which raw column holds each canonical field, picked once per file from every column its rows have."""

    problem: str
    tests: str | None
    answer: str | None
    solution: str | None
    keys: tuple[tuple[str, str | None], ...]  # (canonical field, raw column) of the other fields

    @property
    def used(self) -> set[str]:
        return {k for k in [self.problem, self.tests, self.answer, *dict(self.keys).values()] if k}


def raw_fields(columns: dict, where, mapping: dict[str, str]) -> RawFields:
    """The raw column of each canonical field among `columns` (every column the file's rows have, in first-seen
    order); a clear error when there is no problem column, no answer or tests column, or a --map names no column."""
    shown = ", ".join(sorted(columns))
    for canonical, raw in mapping.items():
        if raw not in columns:
            raise InputError(where, f"--map {canonical}={raw}: there is no column '{raw}'; columns are: {shown}")
    problem_key = _pick(columns, "problem", mapping)
    if problem_key is None:
        raise InputError(
            where, f"no problem column (looked for {' or '.join(ALIASES['problem'])}; use --map problem=COLUMN); columns are: {shown}"
        )
    tests_key, answer_key, solution_key = (_pick(columns, f, mapping) for f in ("tests", "answer", "solution"))
    if tests_key is None and answer_key is None and solution_key is None:
        raise InputError(
            where,
            "no answer column (math: answer, or a solution with \\boxed{}) and no tests column (code); "
            f"use --map answer=COLUMN or --map tests=COLUMN; columns are: {shown}",
        )
    others = ("id", "solutions", "starter_code", "fn_name", "time_limit_s", "contest_date", "url")
    return RawFields(problem_key, tests_key, answer_key, solution_key, tuple((f, _pick(columns, f, mapping)) for f in others))


# One encoder for every row: json.dumps with options builds a new encoder per call, a third of loading time.
_META_JSON = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _float_json(value: float) -> str:
    return float.__repr__(value) if math.isfinite(value) else _META_JSON(value)


# How the encoder writes a value of each plain type, one C call each (others go through the encoder itself); a row's
# meta is then joined from its key and value texts, as the encoder would join them.
_PLAIN_JSON = {
    str: json.encoder.encode_basestring,
    int: int.__repr__,
    float: _float_json,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}
_KEY_JSON: dict[str, str] = {}


def _meta_json(record: dict, used: set[str]) -> str:
    """`_META_JSON` of the record's fields that are not in `used`, in the record's order (field names are text: every
    reader gives them so, and `raw_fields` sorts them)."""
    parts = []
    for key, value in record.items():
        if key in used:
            continue
        head = _KEY_JSON.get(key)
        if head is None:
            head = _KEY_JSON[key] = json.encoder.encode_basestring(key) + ": "
        parts.append(head + _PLAIN_JSON.get(type(value), _META_JSON)(value))
    return "{" + ", ".join(parts) + "}"


def to_canonical(records: list[dict], source: str, **options) -> list[dict]:
    """Adapt raw records to canonical rows: `canonical_columns` (same options), row by row."""
    columns = canonical_columns(records, source, **options)
    return [dict(zip(CANONICAL_COLUMNS, row)) for row in zip(*(columns[c] for c in CANONICAL_COLUMNS))]


def canonical_columns(
    records: list[dict],
    source: str,
    *,
    path: str | Path | None = None,
    mapping: dict[str, str] | None = None,
    first_row: int = 1,
    fields: RawFields | None = None,
    offset: int = 0,
) -> dict[str, list]:
    """Adapt raw records to canonical rows, as one list per canonical column, built a column at a time (a pass per
    field, not a dict per row). A row with tests is a code row, any other a math row. Errors name the file, the
    1-based row and the column: the first bad row's, as checking row by row would. `first_row` is the `source_row`
    of the first record (the shards of one source are numbered on from the shard before). A file read in chunks
    gives the `fields` picked from all its columns and each chunk's `offset` (rows of the file before it)."""
    mapping = mapping or {}
    where = path or source
    if fields is None:
        fields = raw_fields(dict.fromkeys(itertools.chain.from_iterable(records)), where, mapping)
    keys = dict(fields.keys)
    used = fields.used
    count = len(records)

    def column(key: str | None) -> list:
        return [record.get(key) for record in records] if key else [None] * count

    problems = column(fields.problem)
    bad_problem = next((i for i, problem in enumerate(problems) if not isinstance(problem, str)), count)
    tests_raw = column(fields.tests)
    is_code = [value not in (None, "") for value in tests_raw] if fields.tests else [False] * count
    columns = {name: [None] * count for name in ("answer", "tests", "time_limit_s", "starter_code")}
    columns["solutions"] = [[] for _ in range(count)]
    # Code rows one at a time, in order, up to the first row whose problem is no text: a row's tests are checked after
    # its problem, and an earlier row's error comes first.
    starters, fn_names, limits, solutions = (column(keys[f]) for f in ("starter_code", "fn_name", "time_limit_s", "solutions"))
    for i in itertools.compress(range(bad_problem), is_code):
        try:
            tests = canonical_tests(tests_raw[i], fn_name=fn_names[i], starter_code=starters[i])
        except ValueError as exc:
            raise InputError(where, f"cannot read tests: {exc}", row=offset + i + 1, column=fields.tests) from None
        columns["tests"][i] = dump_tests(tests)
        columns["starter_code"][i] = starters[i] or None
        columns["time_limit_s"][i] = _time_limit(limits[i], where, offset + i, keys["time_limit_s"])
        columns["solutions"][i] = _solutions(solutions[i]) if keys["solutions"] else []
    if bad_problem < count:
        problem = problems[bad_problem]
        raise InputError(where, f"problem must be text, got {type(problem).__name__}", row=offset + bad_problem + 1, column=fields.problem)
    position = first_row - 1 + offset  # of the first record, 0-based
    own_ids = column(keys["id"])
    ids = [
        own
        if type(own) is str
        else str(own)
        if own is not None
        else f"{source}/" + hashlib.sha1(f"{source}:{position + i}".encode()).hexdigest()[:16]
        for i, own in enumerate(own_ids)
    ]
    if fields.answer or fields.solution:
        answers, solution_texts = column(fields.answer), column(fields.solution)
        for i in itertools.compress(range(count), (not code for code in is_code)):
            answer = _answer_text(answers[i]) if fields.answer else None
            if not answer and fields.solution and isinstance(solution_texts[i], str):
                answer = last_boxed(solution_texts[i])
            columns["answer"][i] = answer
    columns.update(
        id=ids,
        source=[source] * count,
        source_row=list(range(position + 1, position + count + 1)),
        domain=["code" if code else "math" for code in is_code],
        problem=problems,
        meta=[_meta_json(record, used) for record in records],
    )
    for field in ("contest_date", "url"):
        columns[field] = [str(value) if value is not None else None for value in column(keys[field])]
    return columns


def parse_mapping(spec: str | None) -> dict[str, str]:
    """`problem=question,answer=final_answer` -> {"problem": "question", "answer": "final_answer"}."""
    if not spec:
        return {}
    mapping = {}
    for part in spec.split(","):
        canonical, _, raw = part.partition("=")
        if not raw or canonical.strip() not in CANONICAL_COLUMNS + ["solution", "fn_name"]:
            raise InputError(
                "--map", f"'{part}' is not CANONICAL=RAW with CANONICAL one of {', '.join(CANONICAL_COLUMNS)}, solution, fn_name"
            )
        mapping[canonical.strip()] = raw.strip()
    return mapping


@dataclass
class LoadedInputs:
    frame: Any  # pandas.DataFrame of canonical rows
    warnings: list[str]


@dataclass
class WrittenInputs:
    path: Path  # parquet of the canonical rows, in input order
    rows: int
    sources: dict[str, int]  # rows per source, in input order
    warnings: list[str]


class _ColumnsGrew(Exception):
    """A later chunk of a file brought columns that change which raw column holds a field: read it again knowing them."""

    def __init__(self, file: str, columns: list[str]):
        self.file, self.columns = file, columns


def _file_rows(file: str, source: str, mapping: dict, first_row: int, known: list[str]):
    """(canonical columns, raw rows read) of one file, a chunk at a time, with the raw column of each field picked from
    every column the file's rows have (as reading it whole would): `known` are those a first reading found."""
    columns = dict.fromkeys(known)
    fields, error, done = None, None, 0
    for records in iter_records(file):
        seen = len(columns)
        columns.update(dict.fromkeys(itertools.chain.from_iterable(records)))  # every key, first-seen order
        if fields is None or len(columns) != seen:
            try:
                picked = raw_fields(columns, file, mapping)
            except InputError as exc:  # a later chunk may bring the column yet
                error, done = exc, done + len(records)
                continue
            if error is not None or (fields is not None and picked != fields):
                raise _ColumnsGrew(file, list(columns))
            fields = picked
        yield canonical_columns(records, source, path=file, mapping=mapping, first_row=first_row, fields=fields, offset=done), len(records)
        done += len(records)
    if fields is None:
        raise error


def write_inputs(paths: list[str], target: Path, *, mapping: dict[str, str] | None = None) -> WrittenInputs:
    """Read and adapt every input into one parquet file of canonical rows, in input order, streamed a chunk at a time;
    ids that collide across rows are made unique (`unique_ids`) in a second pass."""
    known: dict[str, list[str]] = {}
    while True:
        try:
            return _write_inputs(paths, target, mapping or {}, known)
        except _ColumnsGrew as grew:  # rare: a column first seen deep in a file; read again knowing every column
            known[grew.file] = grew.columns


def _write_inputs(paths: list[str], target: Path, mapping: dict, known: dict[str, list[str]]) -> WrittenInputs:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .io import arrow_type, parquet_writer

    schema = pa.schema([pa.field(c, arrow_type(t)) for c, t in CANONICAL_TYPES.items()])
    sources: Counter = Counter()
    with parquet_writer(target, schema) as writer:
        for argument in paths:
            source, files = input_files(argument)
            first_row = 1
            for file in files:
                for columns, read in _file_rows(file, source, mapping, first_row, known.get(file, [])):
                    table = pa.Table.from_arrays([pa.array(columns[f.name], f.type) for f in schema], schema=schema)
                    writer.write_table(table)
                    sources[source] += table.num_rows
                    first_row += read
    ids = pq.read_table(target, columns=["id"]).column("id")
    if pc.count_distinct(ids).as_py() == len(ids):
        return WrittenInputs(target, len(ids), dict(sources), [])
    # Ids collide (rare): rename them, streaming the rows through again.
    renamed, warnings = unique_ids(ids.to_pylist(), pq.read_table(target, columns=["source"]).column("source").to_pylist())
    renamed = pa.array(renamed, pa.string())
    rows = pq.ParquetFile(target)
    with parquet_writer(target, schema) as writer:
        done = 0
        for batch in rows.iter_batches():
            writer.write_table(pa.Table.from_batches([batch]).set_column(0, "id", renamed.slice(done, batch.num_rows)))
            done += batch.num_rows
    return WrittenInputs(target, len(renamed), dict(sources), warnings)


def unique_ids(ids: list[str], sources: list[str]) -> tuple[list[str], list[str]]:
    """Ids as given, except where they collide: those become SOURCE/ID (and SOURCE/ID#k if still equal), with a warning."""
    counts = Counter(ids)
    if len(counts) == len(ids):
        return ids, []
    renamed = [f"{s}/{i}" if counts[i] > 1 else i for i, s in zip(ids, sources)]
    seen: Counter = Counter()
    taken = set(renamed)
    for position, name in enumerate(renamed):
        seen[name] += 1
        if seen[name] > 1:
            candidate = f"{name}#{seen[name]}"
            while candidate in taken:
                seen[name] += 1
                candidate = f"{name}#{seen[name]}"
            renamed[position] = candidate
            taken.add(candidate)
    colliding = [i for i, n in counts.items() if n > 1]
    return renamed, [
        f"{sum(counts[i] for i in colliding)} rows share {len(colliding)} id(s) (first: {colliding[0]!r}); "
        "those rows are named SOURCE/ID (SOURCE/ID#k within one source); `source` and `source_row` locate each"
    ]


def load_inputs(paths: list[str], *, mapping: dict[str, str] | None = None) -> LoadedInputs:
    """Read and adapt every input into one canonical DataFrame, in input order (`write_inputs`, read back as the rows
    it wrote: missing values None, lists as lists)."""
    import tempfile

    import pandas as pd
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        written = write_inputs(paths, Path(tmp) / "input.parquet", mapping=mapping)
        return LoadedInputs(pd.DataFrame(pq.read_table(written.path).to_pylist(), columns=CANONICAL_COLUMNS), written.warnings)
