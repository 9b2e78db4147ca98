"""The benchmark registry: every benchmark acecurate knows, once, under one name, with what decontamination needs (the
file its shipped fingerprint is built from and that file's fields) and what `acecurate eval` needs (where its problems
come from, its grader, the paper's samples per problem). A date window, where a benchmark has one, serves both: eval
keeps the problems dated inside it, decontamination targets only them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The LiveCodeBench evaluation windows (contest dates).
LIVECODEBENCH_WINDOWS = {"v5": ("2024-08-01", "2025-02-01"), "v6": ("2025-02-01", "2025-05-01")}
LIVECODEBENCH_FILES = tuple(f"test{i if i > 1 else ''}.jsonl" for i in range(1, 7))  # release_v6 = test.jsonl .. test6.jsonl
LIVECODEBENCH_LOCAL = ("livecodebench.jsonl", "livecodebench.parquet", "code_generation_lite/test*.jsonl")
LIVECODEBENCH_DATES = ("livecodebench_index.jsonl", "question_title", "contest_date")


@dataclass(frozen=True)
class FingerprintSource:
    """How `acecurate benchmarks build` fingerprints a benchmark for decontamination."""

    file: str  # the shipped fingerprint's name (fingerprints/FILE.npz) and its source file's stem
    source: str  # the file in the benchmark data directory (../shared/data/benchmarks) it is built from
    text_field: str
    id_field: str | None
    description: str
    answer_field: str | None = None  # shown beside a match, so a user can tell a copy from a template
    date: str | None = None  # the date of every item (a contest held on one day)
    dates_from: tuple[str, str, str] | None = None  # (file, key field, date field): per-item dates joined on the id


@dataclass(frozen=True)
class EvalSource:
    """Where `acecurate eval` reads a benchmark's problems, and the protocol's samples per problem."""

    hub_id: str
    samples: int  # k of avg@k under the paper's protocol
    hub_split: str = "test"
    hub_files: tuple[str, ...] = ()  # JSON-lines files of the hub dataset repository, read without its loading script
    local: tuple[str, ...] = ()  # file names (glob patterns) looked for in --data-dir, first match wins
    fields: dict[str, str] = field(default_factory=dict)  # canonical -> source column where the known aliases miss it
    paper: str | None = None  # the column of the paper's results table


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str  # what --bench, decontaminate's `benchmarks:` and `windows:`, and the reason codes say
    title: str
    domain: str  # math: the answer is graded by verify.math; code: the tests run in the sandbox
    window: tuple[str, str] | None = None  # contest dates of its problems: start <= date < end
    fingerprint: FingerprintSource | None = None  # shipped for decontamination
    eval: EvalSource | None = None  # measurable with acecurate eval


def _livecodebench(version: str, fingerprint: FingerprintSource | None = None) -> BenchmarkSpec:
    start, end = LIVECODEBENCH_WINDOWS[version]
    return BenchmarkSpec(
        f"lcb-{version}",
        f"LiveCodeBench {version} ({start} to {end})",
        "code",
        (start, end),
        fingerprint,
        EvalSource(
            "livecodebench/code_generation_lite",
            8,
            hub_files=LIVECODEBENCH_FILES,
            local=LIVECODEBENCH_LOCAL,
            paper=f"LiveCodeBench {version}",
        ),
    )


def _math(name, title, source_file, text_field, id_field, description, answer_field, date, eval_source=None) -> BenchmarkSpec:
    stem = source_file.rsplit(".", 1)[0]
    return BenchmarkSpec(
        name, title, "math", None, FingerprintSource(stem, source_file, text_field, id_field, description, answer_field, date), eval_source
    )


# In the order decontamination has always loaded them: its template verdicts depend on the order (3 of 8,449 MATH
# and DeepScaleR rows change when amc23 and hmmt25 move), which is for the decontamination rules to fix.
REGISTRY: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in [
        _math(
            "aime24", "AIME 2024", "aime24.jsonl", "problem", "id", "AIME 2024 (30)", "answer", "2024-02-01",
            EvalSource("HuggingFaceH4/aime_2024", 64, "train", local=("aime24.jsonl",), paper="AIME24"),
        ),
        _math(
            "aime25", "AIME 2025", "aime25.jsonl", "problem", None, "AIME 2025 (30)", "answer", "2025-02-06",
            EvalSource("MathArena/aime_2025", 64, "train", local=("aime25.jsonl",), fields={"id": "problem_idx"}, paper="AIME25"),
        ),
        _math(
            "amc23", "AMC 2023", "amc23.jsonl", "problem", "id", "AMC 2023 (40)", "answer", "2023-11-08",
            EvalSource("math-ai/amc23", 64, "test", local=("amc23.jsonl",)),
        ),
        # The paper does not say how many samples it drew on MATH-500; 4 over 500 problems gives a standard error near 1 point.
        _math(
            "math500", "MATH-500", "math500.jsonl", "problem", "unique_id", "MATH-500", "answer", "2021-03-05",
            EvalSource("HuggingFaceH4/MATH-500", 4, "test", local=("math500.jsonl",), paper="MATH500"),
        ),
        _math("minerva_math", "Minerva Math", "minerva_math.jsonl", "problem", "idx", "Minerva Math (272)", "solution", "2022-06-29"),
        _math("olympiadbench", "OlympiadBench", "olympiadbench.jsonl", "question", "id", "OlympiadBench (675)", "final_answer", "2024-02-21"),
        _math(
            "hmmt25", "HMMT February 2025", "hmmt25_feb.jsonl", "problem", None, "HMMT February 2025 (30)", "answer", "2025-02-15",
            EvalSource("MathArena/hmmt_feb_2025", 64, "train", local=("hmmt25_feb.jsonl",), fields={"id": "problem_idx"}),
        ),
        _livecodebench(
            "v5",
            FingerprintSource(
                "livecodebench_v5",
                "livecodebench_v5_statements.json",
                "problem",
                "problem_title",
                "LiveCodeBench statements (879, 2023-05 to 2025-01), targets dated 2024-08-01 to 2025-02-01 (v5)",
                dates_from=LIVECODEBENCH_DATES,
            ),
        ),
        _livecodebench("v6"),
        BenchmarkSpec("mbppplus", "MBPP+", "code", fingerprint=FingerprintSource("mbppplus", "mbppplus.jsonl", "prompt", "task_id", "MBPP+ (378)")),
    ]
}  # fmt: skip
# Names the benchmarks had before there was one registry (decontamination's), still read in configs and --bench.
FORMER_NAMES = {"hmmt25_feb": "hmmt25", "livecodebench_v5": "lcb-v5", "livecodebench_v6": "lcb-v6"}


def canonical_name(name: str) -> str:
    """The registry's name for a benchmark (a former name is read as the current one); other names pass unchanged."""
    return FORMER_NAMES.get(name, name)
