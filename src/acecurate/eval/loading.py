"""Reading a benchmark's problems for `acecurate eval`: a registered benchmark (`acecurate.benchmarks.REGISTRY`: its
eval source, fields, window and protocol samples) from a file in `--data-dir` or else the Hugging Face hub, and any file
`acecurate filter` reads (`--bench-file`), into canonical rows.

Any file that `acecurate filter` reads is also a benchmark (`--bench-file`), and so is LiveCodeBench's released format
(`question_content`, `starter_code`, `public_test_cases`, `private_test_cases` as base64 of zlib of a pickled JSON
string, `metadata` with `func_name`, `contest_date`, `difficulty`).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import pickle
import pickletools
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..benchmarks import REGISTRY, BenchmarkSpec, canonical_name
from ..errors import AcecurateError, InputError
from ..io import read_records
from ..records import ALIASES, to_canonical
from ..sampling import MATH_INSTRUCTION

MAX_PRIVATE_TESTS_BYTES = 1 << 30  # decompressed; the largest LiveCodeBench problem holds a few hundred MB


BENCH_FILE_SAMPLES = 8  # avg@k for a --bench-file benchmark unless --samples says otherwise


@dataclass
class Benchmark:
    name: str
    title: str
    domain: str
    source: str  # the file(s) or hub id it was read from
    samples: int
    rows: object  # pandas.DataFrame: canonical rows plus benchmark, item_id, difficulty
    window: tuple[str, str] | None = None
    paper: str | None = None
    notes: list[str] = field(default_factory=list)


class _Refused(pickle.UnpicklingError):
    pass


# The opcodes of a pickled string (any protocol): no containers, no globals, no calls. Checking them before loading
# also keeps out pickles that build huge structures from a small input.
STRING_PICKLE_OPCODES = {
    "PROTO",
    "FRAME",
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "UNICODE",
    "MEMOIZE",
    "BINPUT",
    "LONG_BINPUT",
    "PUT",
    "STOP",
}


def _check_string_pickle(data: bytes) -> None:
    """Raise _Refused at the first opcode a pickled string does not have, naming the global it asks for if any."""
    strings: list[str] = []
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in STRING_PICKLE_OPCODES:
            if isinstance(arg, str):
                strings = [*strings[-1:], arg]
            continue
        if opcode.name == "GLOBAL" or opcode.name == "INST":
            wanted = f" for {str(arg).replace(' ', '.')}"
        elif opcode.name == "STACK_GLOBAL" and len(strings) == 2:
            wanted = f" for {strings[0]}.{strings[1]}"
        else:
            wanted = ""
        raise _Refused(f"it holds {opcode.name}{wanted}, and only a pickled string is accepted")


class _StringOnlyUnpickler(pickle.Unpickler):
    """Unpickles nothing but plain data: every class or function lookup (the way a pickle runs code) is refused."""

    def find_class(self, module, name):
        raise _Refused(f"it asks for {module}.{name}, and only a pickled string is accepted")

    def persistent_load(self, pid):
        raise _Refused("it asks for a persistent object, and only a pickled string is accepted")


def decode_private_tests(value) -> list:
    """LiveCodeBench's `private_test_cases`: a JSON list, or base64 of zlib of a pickled JSON string. The pickle is
    read by an unpickler that can build nothing but plain values, and it must hold a string. Raises ValueError."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str) or not value.strip():
        return []
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
    try:
        compressed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("neither a JSON list nor base64 text") from None
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(compressed, MAX_PRIVATE_TESTS_BYTES)
    except zlib.error as exc:
        raise ValueError(f"base64 text that is not zlib data ({exc})") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"more than {MAX_PRIVATE_TESTS_BYTES >> 20} MB once decompressed")
    try:
        _check_string_pickle(data)
        # The opcodes are those of a string; the unpickler that refuses every global stays as a second guard.
        decoded = _StringOnlyUnpickler(io.BytesIO(data)).load()
    except _Refused as exc:
        raise ValueError(f"refused to unpickle: {exc}") from None
    except Exception as exc:  # a damaged pickle fails in many ways; the user needs to know which row, not the class
        raise ValueError(f"not a readable pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(decoded, str):
        raise ValueError(f"the pickle holds a {type(decoded).__name__}; only a pickled JSON string is accepted")
    try:
        tests = json.loads(decoded)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the pickled string is not JSON ({exc.msg})") from None
    if not isinstance(tests, list):
        raise ValueError(f"the pickled JSON is a {type(tests).__name__}, not a list of tests")
    return tests


def is_livecodebench(record: dict) -> bool:
    return "question_content" in record and ("private_test_cases" in record or "public_test_cases" in record)


def livecodebench_record(record: dict, path, row: int) -> dict:
    """One released LiveCodeBench row as a row the canonical reader takes: public and private tests together (as
    LiveCodeBench grades), the function name from `metadata`, and the small descriptive fields."""
    tests = {}
    for column in ("public_test_cases", "private_test_cases"):
        try:
            tests[column] = decode_private_tests(record.get(column))
        except ValueError as exc:
            raise InputError(path, f"cannot read the tests: {exc}", row=row, column=column) from None
    metadata = record.get("metadata") or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata.strip() else {}
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON ({exc.msg})", row=row, column="metadata") from None
    keep = ("question_id", "question_title", "question_content", "starter_code", "contest_date", "difficulty", "platform", "contest_id")
    return {
        **{k: record[k] for k in keep if k in record},
        "tests": tests["public_test_cases"] + tests["private_test_cases"],
        "fn_name": metadata.get("func_name") if isinstance(metadata, dict) else None,
        "private_tests": len(tests["private_test_cases"]),
    }


def _date(value) -> str | None:
    return None if value is None or value == "" else str(value)[:10]


def benchmark_rows(records: list[dict], name: str, domain: str | None, path, *, fields=None, window=None, limit=None):
    """Canonical rows of one benchmark: LiveCodeBench rows decoded, the date window applied (before decoding, so
    only the kept rows' tests are inflated), the math instruction removed where a file already appends it (the
    prompt adds it), and `benchmark`, `item_id` (the row's own id, else its 1-based row number) and `difficulty`."""
    import pandas as pd

    numbered = list(enumerate(records, start=1))
    if window:
        missing = next((i for i, r in numbered if _date(r.get("contest_date")) is None), None)
        if missing is not None:
            raise InputError(
                path,
                f"{name} keeps problems dated {window[0]} to {window[1]}, and this row has no date",
                row=missing,
                column="contest_date",
            )
        numbered = [(i, r) for i, r in numbered if window[0] <= _date(r["contest_date"]) < window[1]]
    if limit is not None:
        numbered = numbered[:limit]
    if not numbered:
        raise AcecurateError(f"{path}: no {name} problems" + (f" dated {window[0]} to {window[1]}" if window else ""))
    records, private = [], []
    for i, record in numbered:
        if is_livecodebench(record):
            record = livecodebench_record(record, path, i)
            private.append(record.pop("private_tests"))
        else:
            private.append(None)
        records.append(record)
    columns = {key for r in records for key in r}
    mapping = {canonical: raw for canonical, raw in (fields or {}).items() if raw in columns}
    frame = pd.DataFrame(to_canonical(records, name, path=path, mapping=mapping))
    if domain and set(frame["domain"]) != {domain}:
        other = frame.index[frame["domain"] != domain][0]
        raise InputError(
            path, f"{name} is a {domain} benchmark, and this row reads as {frame['domain'].iat[other]}", row=numbered[other][0]
        )
    own_id = mapping.get("id") or next((k for k in ALIASES["id"] if k in columns), None)
    frame["item_id"] = [str(r[own_id]) if own_id and r.get(own_id) is not None else str(i) for (i, _), r in zip(numbered, records)]
    if frame["item_id"].duplicated().any():
        raise InputError(
            path, f"{name}: the id {frame['item_id'][frame['item_id'].duplicated()].iat[0]!r} is given to two rows", column=own_id
        )
    frame["id"] = name + "/" + frame["item_id"]
    frame["benchmark"] = name
    frame["problem"] = [_without_instruction(p) if d == "math" else p for p, d in zip(frame["problem"], frame["domain"])]
    frame["difficulty"] = [r.get("difficulty") if isinstance(r.get("difficulty"), str) and r.get("difficulty") else None for r in records]
    frame["private_tests"] = pd.array(private, dtype="Int64")  # LiveCodeBench rows: how many of the tests are hidden ones
    return frame


def _notes(name: str, rows) -> list[str]:
    released = rows["private_tests"].dropna()
    if len(released) and (released == 0).all():
        return [f"{name}: the source holds no private tests, so the score uses the public tests only and overstates the model"]
    return []


def _without_instruction(problem: str) -> str:
    text = problem.rstrip()
    return text[: -len(MATH_INSTRUCTION)].rstrip() if text.endswith(MATH_INSTRUCTION) else problem


def evaluable() -> dict[str, BenchmarkSpec]:
    """The registered benchmarks that acecurate eval can read (those with an eval source)."""
    return {name: spec for name, spec in REGISTRY.items() if spec.eval is not None}


def _local_files(spec: BenchmarkSpec, data_dir: str | Path | None) -> list[Path]:
    if data_dir is None:
        return []
    for pattern in spec.eval.local:
        found = sorted(Path(data_dir).glob(pattern), key=lambda p: (len(p.name), p.name))  # test.jsonl, test2.jsonl, ...
        if found:
            return found
    return []


def _hub_records(spec: BenchmarkSpec, looked_in: str) -> list[dict]:
    source = spec.eval
    try:
        from datasets import load_dataset

        if source.hub_files:
            files = [f"hf://datasets/{source.hub_id}/{name}" for name in source.hub_files]
            return load_dataset("json", data_files=files, split="train").to_list()
        return load_dataset(source.hub_id, split=source.hub_split).to_list()
    except Exception as exc:  # datasets raises many types (offline, missing, network); the user needs what to do
        offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
        why = (
            "this machine is offline (HF_HUB_OFFLINE is set) and the dataset is not in the local cache"
            if offline
            else str(exc).splitlines()[0][:300]
        )
        raise AcecurateError(
            f"benchmark {spec.name} comes from the Hugging Face hub ({source.hub_id}), and it could not be loaded: {why}. "
            f"Download it where the hub is reachable and {looked_in}, or pass the file with --bench-file FILE"
        ) from None


def load_benchmark(name: str, data_dir: str | Path | None = None, limit: int | None = None) -> Benchmark:
    """A registered benchmark, from `data_dir` when it holds the benchmark's file, else from the hub."""
    spec = evaluable().get(canonical_name(name))
    if spec is None:
        raise AcecurateError(f"unknown benchmark {name!r} (known: {', '.join(evaluable())}); add your own with --bench-file FILE")
    source = spec.eval
    files = _local_files(spec, data_dir)
    looked_in = f"put it in --data-dir as {' or '.join(source.local)}" + (f" (nothing found in {data_dir})" if data_dir else "")
    if files:
        records = [record for path in files for record in read_records(path)]
        origin = ", ".join(str(p) for p in files)
    else:
        records = _hub_records(spec, looked_in)
        origin = source.hub_id
    rows = benchmark_rows(records, spec.name, spec.domain, origin, fields=source.fields, window=spec.window, limit=limit)
    notes = _notes(spec.name, rows)
    return Benchmark(spec.name, spec.title, spec.domain, origin, source.samples, rows, spec.window, source.paper, notes)


def load_bench_file(argument: str, limit: int | None = None) -> Benchmark:
    """`--bench-file [NAME=]FILE`: any file `acecurate filter` reads, or LiveCodeBench's released format."""
    name, sep, path = argument.partition("=")
    if not sep or "/" in name or not name:
        name, path = Path(argument).stem, argument
    records = read_records(path)
    rows = benchmark_rows(records, name, None, path, limit=limit)
    domain = rows["domain"].iat[0]
    if set(rows["domain"]) != {domain}:
        raise InputError(path, f"{name} mixes math rows (no tests) and code rows (with tests); give each domain its own file")
    return Benchmark(name, name, domain, str(path), BENCH_FILE_SAMPLES, rows, notes=_notes(name, rows))
