"""The sample store: one SQLite file in the run directory, written as each prompt's samples are graded.

Each row keeps its verdict with the rule that decided it, the record of the grading policy it was given under
(`verify.policy`: settings and grader versions) and a digest of the row's reference (gold answer or tests, and its own
time limit), so a run under another policy, grader or reference regrades the stored texts instead of reusing their
verdicts.

SQLite rather than parquet shards: each prompt's samples commit in one transaction (a `kill -9` loses at most the
prompt being graded), resume is a keyed lookup, and the file stays one artefact. Each sampling stage also writes
the samples it used to its own `rollouts.parquet`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    prompt_id TEXT NOT NULL,
    model TEXT NOT NULL,
    settings_key TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    row_id TEXT,
    text TEXT NOT NULL,
    tokens INTEGER,
    finish_reason TEXT NOT NULL,
    status TEXT NOT NULL,
    correct INTEGER NOT NULL,
    extracted TEXT,
    rule TEXT,
    policy TEXT,
    reference_key TEXT,
    backend TEXT NOT NULL,
    revision TEXT NOT NULL,
    settings TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (prompt_id, model, settings_key, sample_index)
)
"""
COLUMNS = [
    "prompt_id",
    "model",
    "settings_key",
    "sample_index",
    "row_id",
    "text",
    "tokens",
    "finish_reason",
    "status",
    "correct",
    "extracted",
    "rule",
    "policy",
    "reference_key",
    "backend",
    "revision",
    "settings",
    "created",
]
GRADE_COLUMNS = ("status", "correct", "extracted", "rule", "policy", "reference_key")


class SampleStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a killed process loses nothing committed
        self._db.execute(SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(samples)")}
        for column, kind in (("rule", "TEXT"), ("policy", "TEXT"), ("reference_key", "TEXT")):
            if column not in present:  # a store written before verdicts recorded these
                self._db.execute(f"ALTER TABLE samples ADD COLUMN {column} {kind}")
        self._db.commit()

    def close(self):
        with self._lock:
            self._db.close()

    def indices(self, model: str, settings_key: str) -> dict[str, set[int]]:
        """The sample indices stored so far per prompt id, for this model and these settings. Samples that return one at
        a time (the Ray backend) can leave gaps; only the missing indices are asked for again."""
        stored: dict[str, set[int]] = {}
        with self._lock:
            rows = self._db.execute("SELECT prompt_id, sample_index FROM samples WHERE model=? AND settings_key=?", (model, settings_key))
            for prompt, index in rows:
                stored.setdefault(prompt, set()).add(index)
        return stored

    def add(self, records: list[dict]) -> None:
        """Store graded samples of one or more prompts atomically."""
        now = time.time()
        with self._lock, self._db:
            self._db.executemany(
                f"INSERT OR REPLACE INTO samples ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})",
                [{**r, "created": now, "settings": json.dumps(r["settings"], sort_keys=True)} for r in records],
            )

    def regrade(self, records: list[dict]) -> None:
        """Replace the verdicts of stored samples (keyed by prompt_id, model, settings_key, sample_index)."""
        assignments = ", ".join(f"{c}=:{c}" for c in GRADE_COLUMNS)
        key = "prompt_id=:prompt_id AND model=:model AND settings_key=:settings_key AND sample_index=:sample_index"
        with self._lock, self._db:
            self._db.executemany(f"UPDATE samples SET {assignments} WHERE {key}", records)

    def samples(self, model: str, settings_key: str, prompt_ids: list[str] | None = None):
        """All stored samples (as a DataFrame), optionally only for some prompts."""
        import pandas as pd

        query = f"SELECT {', '.join(COLUMNS)} FROM samples WHERE model=? AND settings_key=?"  # not the columns of older stores
        with self._lock:
            frame = pd.read_sql_query(query + " ORDER BY prompt_id, sample_index", self._db, params=(model, settings_key))
        return frame[frame["prompt_id"].isin(prompt_ids)] if prompt_ids is not None else frame
