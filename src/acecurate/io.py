"""Readers for raw dumps (jsonl, json, parquet, csv, compressed or not, folders and globs of shards, a Hugging Face
dataset id) and the atomic writers.

Every reader error names the file and the line or row, so a user can open the file at the right place.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from .errors import InputError

SUPPORTED_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".csv")
# Text dumps are often shipped compressed; the suffix after the format names the codec (x.jsonl.gz, x.jsonl.zst).
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
_MAGIC = {b"\x1f\x8b": ".gz", b"\x28\xb5\x2f\xfd": ".zst", b"BZh": ".bz2"}
_GLOB_CHARS = "*?["
CHUNK_ROWS = 50_000  # rows per chunk of a dump read as a stream


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (some Windows editors write one) is not data
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(path, f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8", line=line) from None


def _read_json(path: Path, data: bytes) -> list[dict]:
    text = _decode(path, data)
    if not text.strip():
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg} at column {exc.colno})", line=exc.lineno) from None
    if isinstance(value, dict):
        lists = {k: v for k, v in value.items() if isinstance(v, list)}
        if lists and len(lists) == len(value) and len({len(v) for v in lists.values()}) == 1:
            # An object of equal-length arrays: one array per column.
            keys = list(lists)
            return [dict(zip(keys, row)) for row in zip(*lists.values())]
        if len(value) == 1 and isinstance(next(iter(value.values())), list):
            value = next(iter(value.values()))  # {"data": [...]}
        else:
            raise InputError(path, "a JSON object must hold equal-length arrays (one per column) or a single array of rows")
    if not isinstance(value, list):
        raise InputError(path, f"expected a JSON array of objects, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InputError(path, f"expected a JSON object, got {type(item).__name__}", row=i + 1)
    return value


def _read_csv(path: Path, data: bytes) -> list[dict]:
    """Strict CSV: a quote that is never closed (which a lenient reader turns into one row holding the rest of the
    file) or a row with more or fewer fields than the header is an error naming the line where that row starts."""
    import csv
    import io

    text = _decode(path, data)
    reader = csv.DictReader(io.StringIO(text), strict=True)
    records, starts = [], 1
    try:
        reader.fieldnames  # noqa: B018 - reads the header, so that line_num counts from it
        starts = reader.line_num + 1  # the line the next row starts on (a quoted field may span lines)
        for record in reader:
            if None in record:
                raise InputError(path, f"{len(record[None])} more field(s) than the header has", line=starts)
            if None in record.values():
                missing = sum(v is None for v in record.values())
                raise InputError(path, f"{missing} field(s) fewer than the header has", line=starts)
            records.append(record)
            starts = reader.line_num + 1
    except csv.Error as exc:
        why = "a quoted field opened on this line is never closed" if "unexpected end of data" in str(exc) else str(exc)
        raise InputError(path, f"not valid CSV ({why})", line=starts) from None
    return records


def _read_hub(dataset_id: str, split: str) -> list[dict]:
    from datasets import load_dataset

    try:
        return load_dataset(dataset_id, split=split).to_list()
    except Exception as exc:  # datasets raises many types; the user needs the message, not the class
        raise InputError(dataset_id, f"could not load this Hugging Face dataset (split '{split}'): {exc}") from None


def looks_like_hub_id(source: str) -> bool:
    """`owner/name` with no file suffix, not a relative or absolute path, and whose owner is not a local folder."""
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not source.startswith((".", "~")) and not Path(source).suffix and not Path(parts[0]).exists()


def _suffixes(path: Path) -> tuple[str, str | None]:
    """(format suffix, compression suffix or None): x.jsonl.gz -> (.jsonl, .gz), x.csv -> (.csv, None)."""
    name = path.name.lower()
    compression = next((c for c in COMPRESSIONS if name.endswith(c)), None)
    plain = Path(name[: -len(compression)]) if compression else Path(name)
    return plain.suffix, compression


def source_name(path: str | Path) -> str:
    """The name a file's rows carry as `source`: its name without the format and compression suffixes."""
    path = Path(path)
    _, compression = _suffixes(path)
    return Path(path.name[: -len(compression)] if compression else path.name).stem


def is_dump_file(path: Path) -> bool:
    return path.is_file() and _suffixes(path)[0] in SUPPORTED_SUFFIXES


def input_files(argument: str) -> tuple[str, list[str]]:
    """(source name, files) of one input argument. A file (or a hub id) is itself; a folder is every dump file
    directly in it, and a glob pattern (quoted, so that the shell left it) every file it matches: the shards of one
    dataset, in name order, as one source named after the folder or the pattern (`data/train-*.parquet` is `train`)."""
    import glob

    path = Path(argument)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if is_dump_file(p))
        if not files:
            shown = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "nothing"
            raise InputError(path, f"a folder of shards, and it holds no dump file ({', '.join(SUPPORTED_SUFFIXES)}); it holds: {shown}")
        return path.resolve().name, [str(p) for p in files]
    if not path.exists() and any(c in argument for c in _GLOB_CHARS):
        files = sorted(p for p in glob.glob(argument) if Path(p).is_file())
        if not files:
            raise InputError(argument, "no file matches this pattern")
        stem = path.name.split("*")[0].split("?")[0].split("[")[0].rstrip("-_.")
        return stem or path.parent.resolve().name, files
    return (source_name(path) if path.exists() else argument), [argument]


def _not_misnamed(path: Path, head: bytes) -> None:
    """A compressed file under a plain name is an error that says so (read as text it would be junk)."""
    codec = next((ext for magic, ext in _MAGIC.items() if head.startswith(magic)), None)
    if codec and _suffixes(path)[0] != ".parquet":
        raise InputError(path, f"the file is {COMPRESSIONS[codec]}-compressed, but its name does not say so: rename it {path.name}{codec}")


def _open(path: Path):
    """A binary stream of the file's bytes, decompressed when its name says it is compressed."""
    import pyarrow as pa

    _, compression = _suffixes(path)
    if compression is None:
        with path.open("rb") as handle:
            _not_misnamed(path, handle.read(4))
        return path.open("rb")
    return pa.input_stream(str(path), compression=COMPRESSIONS[compression])


def _read_bytes(path: Path) -> bytes:
    import pyarrow as pa

    try:
        with _open(path) as stream:
            return stream.read()
    except (OSError, pa.ArrowInvalid) as exc:
        if _suffixes(path)[1] is None:
            raise
        raise InputError(path, f"not valid {COMPRESSIONS[_suffixes(path)[1]]} data ({exc})") from None


def read_records(source: str | Path, split: str = "train") -> list[dict]:
    """Rows of a raw dump as dicts (`iter_records`, whole)."""
    return [row for chunk in iter_records(source, split) for row in chunk]


def iter_records(source: str | Path, split: str = "train", rows: int | None = None):
    """Rows of a raw dump as lists of at most `rows` dicts, decompressed when the name ends in .gz, .zst or .bz2
    (x.jsonl.gz). jsonl is read as a stream and parquet a batch at a time, so a dump of 10^7 rows is never held whole;
    a JSON array, CSV or a hub dataset (a path that does not exist but looks like `owner/name`) is read whole, then
    handed on in chunks."""
    rows = rows or CHUNK_ROWS
    path = Path(source)
    if not path.exists():
        if looks_like_hub_id(str(source)):
            yield from _chunks(_read_hub(str(source), split), rows)
            return
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, f"is a directory; give the files in it (for example {path}/*.jsonl)")
    suffix, compression = _suffixes(path)
    if suffix not in SUPPORTED_SUFFIXES or (compression and suffix == ".parquet"):
        kind = f"file type '{suffix}{compression or ''}'" if suffix else "file without an extension"
        raise InputError(
            path,
            f"unsupported {kind} (supported: {', '.join(SUPPORTED_SUFFIXES)}, text ones also as .gz, .zst or .bz2); "
            "rename it to say its format",
        )
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty")
    if suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_chunks(path, rows)
    elif suffix == ".parquet":
        yield from _parquet_chunks(path, rows)
    else:
        data = _read_bytes(path)
        if not data:
            raise InputError(path, "the file is empty once decompressed")
        records = {".json": _read_json, ".csv": _read_csv}[suffix](path, data)
        if not records:
            raise InputError(path, "the file holds no rows")
        yield from _chunks(records, rows)


def _chunks(records: list[dict], rows: int):
    for start in range(0, len(records), rows):
        yield records[start : start + rows]


def _jsonl_chunks(path: Path, rows: int):
    """The rows of a jsonl file, `rows` at a time, read as a stream. Errors name the line."""
    import pyarrow as pa

    chunk, line_no, offset, rest, total = [], 0, 0, b"", 0
    try:
        with _open(path) as stream:
            for block in iter(lambda: stream.read(1 << 24), b""):
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                for start in range(0, len(lines), rows):
                    part = lines[start : start + rows]
                    chunk.extend(_jsonl_rows(path, part, line_no, offset))
                    line_no, offset = line_no + len(part), offset + sum(len(raw) + 1 for raw in part)
                    if len(chunk) >= rows:
                        total += len(chunk)
                        yield chunk
                        chunk = []
    except (OSError, pa.ArrowInvalid) as exc:
        if _suffixes(path)[1] is None:
            raise
        raise InputError(path, f"not valid {COMPRESSIONS[_suffixes(path)[1]]} data ({exc})") from None
    if rest:
        chunk.extend(_jsonl_rows(path, [rest], line_no, offset))
    if not total and not chunk:
        raise InputError(path, "the file holds no rows" if offset or rest else "the file is empty once decompressed")
    if chunk:
        yield chunk


def _jsonl_rows(path: Path, lines: list[bytes], line_no: int, offset: int) -> list[dict]:
    """The rows of jsonl `lines` (blank ones skipped) that follow line `line_no` at byte `offset`: parsed as one JSON
    array (one call, not one per line); on any error line by line, for the error that names the line."""
    if line_no == 0 and lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines = [lines[0][3:], *lines[1:]]  # a byte-order mark (some Windows editors write one) is not data
        offset += 3
    try:
        filled = [raw for raw in lines if raw.strip()]
        rows = json.loads(b"[" + b",".join(filled) + b"]")
        if len(rows) == len(filled) and all(isinstance(row, dict) for row in rows):  # `{..},{..}` on one line is an error
            return rows
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    rows = []
    for number, raw in enumerate(lines, start=line_no + 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(path, f"byte 0x{raw[exc.start]:02x} at offset {offset + exc.start} is not UTF-8", line=number) from None
        offset += len(raw) + 1
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON ({exc.msg} at column {exc.colno})", line=number) from None
        if not isinstance(value, dict):
            raise InputError(path, f"expected a JSON object, got {type(value).__name__}", line=number)
        rows.append(value)
    return rows


def _parquet_chunks(path: Path, rows: int):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        if not handle.metadata.num_rows:
            raise InputError(path, "the file holds no rows")
        for batch in handle.iter_batches(batch_size=rows):
            yield batch.to_pylist()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, f"not a readable parquet file ({exc})") from None


def _readable_by_others(path: str) -> None:
    """mkstemp creates files 0600; a dataset is for others to read too, as far as the umask allows."""
    os.chmod(path, 0o666 & ~_UMASK)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def _atomic_target(path: Path):
    """(fd, temporary path) beside `path`; on success the file is made readable as the umask allows and renamed over
    `path`, on any error removed, so a crash never leaves a complete-looking file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        yield fd, tmp
        _readable_by_others(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with _atomic_target(path) as (fd, _), os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """A matplotlib figure as PNG, written atomically like every other output."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())


def write_json(path: Path, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: Path, rows) -> None:
    """One JSON object per line, written atomically."""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows))


def arrow_table(frame, types: dict[str, str] | None = None):
    """A pyarrow Table of `frame` in which the columns named in `types` have those Arrow types (a column that pandas
    left all-null or untyped gets its declared type, so outputs of different runs share one schema)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if types:
        fields = [pa.field(f.name, arrow_type(types[f.name])) if f.name in types else f for f in table.schema]
        table = table.cast(pa.schema(fields))
    return table


def arrow_type(name: str):
    import pyarrow as pa

    if name == "list<string>":
        return pa.list_(pa.string())
    return {"string": pa.string(), "int64": pa.int64(), "double": pa.float64(), "bool": pa.bool_()}[name]


@contextlib.contextmanager
def parquet_writer(path: Path, schema):
    """A `pyarrow.parquet.ParquetWriter` for rows written batch by batch; the file appears under `path` only once the
    block ends without error (written to a temp file beside it and renamed), so a crash never leaves a
    complete-looking file."""
    import pyarrow.parquet as pq

    with _atomic_target(path) as (fd, tmp):
        os.close(fd)
        writer = pq.ParquetWriter(tmp, schema)
        try:
            yield writer
        finally:
            writer.close()


def write_parquet(path: Path, frame, types: dict[str, str] | None = None) -> None:
    """Write a DataFrame as parquet, atomically (`parquet_writer`)."""
    table = arrow_table(frame, types)
    with parquet_writer(path, table.schema) as writer:
        writer.write_table(table)


def read_parquet(path: Path, columns: list[str] | None = None):
    import pandas as pd

    return pd.read_parquet(path, columns=columns)
