"""`clean-prompts`: the prompt is what the policy sees, so what a source put beside the statement goes before any
other stage compares statements. Every rule edits (none removes a row), and each edit is recorded in the row's
`prompt_edits` (a JSON list of {"rule", "text"}: what was removed or moved, as written):

- `hint_tags`: hints to the solution that a judge shows beside the statement (Codeforces tags such as
  `Tags: ['binary search']`, ratings such as `Rating: 1600`) are removed.
- `judge_limits`: time and memory limits (`Time Limit: {'seconds': 2, 'nanos': 0}`, `Memory Limit: 256 MB`) leave the
  statement for the columns `time_limit_s` and `memory_limit_mb`.
- `duplicated_instruction`: a source's instructions about the response, at the start or end of the prompt ("You are an
  expert Python programmer ...", "### Answer: (use the provided format with backticks)", "Please reason step by step,
  and put your final answer within \\boxed{}.") and the headers around the statement ("### Question:", a docstring's
  quotes) are removed: the trainer adds its own instruction (`sampling.build_prompt`).
- `starter_code`: a code stub ending the statement (`class Solution: def f(self, ...)` with no body, fenced or not)
  moves to `starter_code` when that column is empty, and leaves the statement when it repeats that column.
- `broken_escapes` (math): a LaTeX command whose backslash a JSON or Python writer read as an escape gets it back
  (`\frac` stored as a form feed and `rac`, `\times` as a tab and `imes`, `\neq` as a line break and `eq`).

A prompt with no statement left (nothing but instructions) is removed as `empty_statement`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from ..config import setting
from ..stage import StageResult, map_rows, split_by_reason, stage
from ..text import snippet
from ..words import phrases

RULES = ("hint_tags", "judge_limits", "duplicated_instruction", "starter_code", "broken_escapes")

_TAGS = re.compile(
    r"^[ \t]*(?:tags|problem tags|topics)[ \t]*:[ \t]*(?:\[[^\]\n]*\][ \t]*|[^\n\[]+|\n[ \t]*\[[^\]\n]*\][ \t]*)?$",
    re.IGNORECASE | re.MULTILINE,
)
_RATING = re.compile(r"^[ \t]*(?:rating|difficulty(?:[ \t]+rating)?)[ \t]*:[ \t]*\*?\d{3,4}[ \t]*$", re.IGNORECASE | re.MULTILINE)
_LIMIT = re.compile(r"^[ \t]*(time|memory)[ \t]+limit(?:[ \t]+per[ \t]+test)?[ \t]*:?[ \t]*([^\n]*?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_SECONDS = re.compile(r"'seconds'\s*:\s*(\d+)(?:\s*,\s*'nanos'\s*:\s*(\d+))?")
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)", re.IGNORECASE)
_TIME_UNITS = {
    "": 1.0,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 1e-3,
    "millisecond": 1e-3,
    "milliseconds": 1e-3,
}
_MEMORY_UNITS = {
    "": 1.0,
    "mb": 1.0,
    "megabyte": 1.0,
    "megabytes": 1.0,
    "mib": 1.0,
    "kb": 1e-3,
    "kilobytes": 1e-3,
    "gb": 1e3,
    "gigabytes": 1e3,
}
_MEMORY_UNITS.update({"bytes": 1e-6, "byte": 1e-6, "b": 1e-6})
_HEADER = re.compile(r"^[ \t]*(?:#+[ \t]*)?(?:question|problem|problem statement|task)[ \t]*:[ \t]*", re.IGNORECASE)
_QUOTES = re.compile(r"^(?:\"\"\"|''')[ \t]*$")  # a statement given as a docstring, at the top level
_FENCE = re.compile(r"^[ \t]*```")
_STUB_START = re.compile(r"^(?:class[ \t]+\w+|def[ \t]+\w+[ \t]*\()")
_STUB_LINE = re.compile(r"^(?:[ \t]*(?:class[ \t]+\w+.*:|def[ \t]+\w+.*|@\w+.*|pass|\.\.\.|#.*)?[ \t]*)$")
_SENTENCE_END = re.compile(r"[.?!:](?=\s)")
# The control characters that escapes make of a backslash and the letter after it: form feed (\f), backspace (\b), bell
# (\a) and vertical tab (\v) never belong in a statement, so one before a letter is always a lost backslash. A tab,
# carriage return or line break does belong there: it is a lost backslash only before the rest of a command that no
# word or line starts with ("imes" of \times, "ight" of \right, "eq" of \neq).
_ESCAPED = {"\x0c": "f", "\x08": "b", "\x07": "a", "\x0b": "v", "\t": "t", "\r": "r", "\n": "n"}
_BROKEN_ESCAPE = re.compile(
    r"[\x0c\x08\x07\x0b](?=[A-Za-z])"
    r"|\t(?=(?:imes|ext|extbf|extit|heta|riangle|au|ilde|frac|herefore|op|o)(?![A-Za-z]))"
    r"|\r(?=(?:ight|ho|angle|floor|ceil|vert|brace)(?![A-Za-z]))"
    r"|\n(?=(?:eq|eqq|abla|otin|ewline|leq|geq)(?![A-Za-z]))"
)
_LETTERS = re.compile(r"[A-Za-z]*")
_BARE_HEADER = re.compile(r"^[ \t]*(?:#+[ \t]*)?(?:\w+[ \t]*){0,2}:?[ \t]*$")  # "### Answer:", "Format:"


def _seconds(value: str) -> float | None:
    if found := _SECONDS.search(value):
        return int(found.group(1)) + int(found.group(2) or 0) / 1e9
    found = _AMOUNT.search(value)
    scale = _TIME_UNITS.get(found.group(2).lower()) if found else None
    return float(found.group(1)) * scale if scale else None


def _megabytes(value: str) -> float | None:
    found = _AMOUNT.search(value)
    scale = _MEMORY_UNITS.get(found.group(2).lower()) if found else None
    return round(float(found.group(1)) * scale, 3) if scale else None


def _is_instruction(line: str) -> bool:
    return any(map(line.lower().__contains__, phrases("instruction_phrases")))


def _instruction_at(line: str, last: bool) -> int | None:
    """Where an instruction sentence that ends (`last`) or starts the line begins (or ends): the statement keeps the
    rest of the line. None for a line that does not start with one ("What is 2+3? Please reason step by step ...":
    the question comes first, and the instruction is the line's end, taken from there)."""
    lowered = line.lower()
    hits = [lowered.find(p) for p in phrases("instruction_phrases") if p in lowered]
    if not hits:
        return None
    if last:
        start = min(hits)
        ends = [m.end() for m in _SENTENCE_END.finditer(line, 0, start)]
        return ends[-1] if ends else 0
    if _SENTENCE_END.search(line, 0, min(hits)):
        return None
    end = _SENTENCE_END.search(line, max(hits))
    return end.end() if end else len(line)


def _stub(lines: list[str]) -> int | None:
    """The start of an unfenced code stub that ends the lines (a class or def header with no body), or None."""
    for start in range(len(lines) - 1, max(-1, len(lines) - 12), -1):
        if _STUB_START.match(lines[start]):
            if not all(_STUB_LINE.match(line) for line in lines[start:]):
                return None
            while start and lines[start - 1].lstrip().startswith("#"):  # "# Definition for a binary tree node." above it
                start -= 1
            return start
    return None


@dataclass
class Cleaned:
    problem: str
    starter_code: str | None
    time_limit_s: float | None = None
    memory_limit_mb: float | None = None
    edits: list[dict] = field(default_factory=list)


def clean_prompt(problem: str, starter_code: str | None, domain: str, rules: tuple[str, ...] | list[str] = RULES) -> Cleaned:
    """The statement without hints, judge metadata, duplicated instructions and starter code, and what was edited."""
    out = Cleaned(problem, starter_code if isinstance(starter_code, str) and starter_code.strip() else None)

    def edit(rule: str, text: str) -> None:
        out.edits.append({"rule": rule, "text": snippet(text, 300)})

    text = problem
    found = list(_BROKEN_ESCAPE.finditer(text)) if domain == "math" and "broken_escapes" in rules else []
    if found:
        repaired = Counter("\\" + _ESCAPED[m.group()] + _LETTERS.match(text, m.end()).group() for m in found)
        text = _BROKEN_ESCAPE.sub(lambda m: "\\" + _ESCAPED[m.group()], text)
        edit("broken_escapes", ", ".join(f"{command} x{n}" if n > 1 else command for command, n in repaired.items()))
    if domain == "code" and "hint_tags" in rules:
        for pattern in (_TAGS, _RATING):
            for found in pattern.finditer(text):
                edit("hint_tags", found.group(0).strip())
            text = pattern.sub("", text)
    if domain == "code" and "judge_limits" in rules:
        for found in _LIMIT.finditer(text):
            if found.group(1).lower() == "time":
                out.time_limit_s = _seconds(found.group(2))
            else:
                out.memory_limit_mb = _megabytes(found.group(2))
            edit("judge_limits", found.group(0).strip())
        text = _LIMIT.sub("", text)
    lines = text.split("\n")
    quoted = False
    if "duplicated_instruction" in rules:
        lines, quoted = _strip_start(lines, edit)
    lines = _strip_end(lines, edit, out, domain, rules, quoted)
    out.problem = "\n".join(lines).strip()
    return out


def _strip_start(lines: list[str], edit) -> tuple[list[str], bool]:
    """The lines without leading instructions and headers, and whether they opened a top-level docstring."""
    quoted = False
    while lines:
        line = lines[0]
        if not line.strip():
            lines = lines[1:]
            continue
        if _QUOTES.match(line) and not quoted:
            edit("duplicated_instruction", line.strip())
            lines, quoted = lines[1:], True
            continue
        header = _HEADER.match(line)
        if header and header.end() > 0:
            edit("duplicated_instruction", header.group(0).strip())
            rest = line[header.end() :]
            lines = ([rest] if rest.strip() else []) + lines[1:]
            continue
        cut = _instruction_at(line, last=False)
        if cut is not None:
            rest = line[cut:] if not _BARE_HEADER.match(line[cut:]) else ""
            edit("duplicated_instruction", line[: len(line) - len(rest)].strip())
            lines = ([rest] if rest.strip() else []) + lines[1:]
            continue
        return lines, quoted
    return lines, quoted


def _strip_end(lines: list[str], edit, out: Cleaned, domain: str, rules, quoted: bool) -> list[str]:
    while lines:
        line = lines[-1]
        if not line.strip():
            lines = lines[:-1]
            continue
        if quoted and _QUOTES.match(line):  # the docstring that the statement opened with closes here
            edit("duplicated_instruction", line.strip())
            lines, quoted = lines[:-1], False
            continue
        if "duplicated_instruction" in rules and (_HEADER.match(line) or _is_instruction(line)):
            cut = 0 if _HEADER.match(line) else _instruction_at(line, last=True)
            cut = 0 if _BARE_HEADER.match(line[:cut]) else cut
            edit("duplicated_instruction", line[cut:].strip())
            lines = lines[:-1] + ([line[:cut]] if line[:cut].strip() else [])
            continue
        if domain != "code" or "starter_code" not in rules:
            return lines
        if _FENCE.match(line):  # a fenced block ends the statement: starter code?
            opening = next((k for k in range(len(lines) - 2, -1, -1) if _FENCE.match(lines[k])), None)
            code = "\n".join(lines[opening + 1 : -1]) if opening is not None else ""
            start = _stub(code.split("\n")) if code.strip() else None
            if opening is None or start != 0 or not any(s.strip() for s in lines[:opening]) or not _take_stub(code, edit, out):
                return lines
            lines = lines[:opening]
            continue
        start = _stub(lines)
        if start is None or not any(s.strip() for s in lines[:start]) or not _take_stub("\n".join(lines[start:]), edit, out):
            return lines
        lines = lines[:start]
    return lines


def _take_stub(code: str, edit, out: Cleaned) -> bool:
    """Move the stub to starter_code (or drop it where it repeats starter_code); False when the column holds other code."""
    if out.starter_code is None:
        out.starter_code = code.rstrip() + "\n"
        edit("starter_code", code.strip())
        return True
    if " ".join(code.split()) == " ".join(out.starter_code.split()):
        edit("starter_code", code.strip())
        return True
    return False


@dataclass
class CleanPromptsConfig:
    rules: list[str] = setting(factory=lambda: list(RULES), help=f"Edits to make, of {', '.join(RULES)}.")

    def __post_init__(self):
        unknown = [r for r in self.rules if r not in RULES]
        if unknown:
            raise ValueError(f"rules: unknown rule(s) {unknown} (known: {', '.join(RULES)})")


@stage(
    "clean-prompts",
    CleanPromptsConfig,
    requires=("domain", "problem"),
    reads=("starter_code",),
    adds={"time_limit_s": "double", "memory_limit_mb": "double", "prompt_edits": "string"},
    modifies=("problem", "starter_code"),
    example="acecurate clean-prompts dumps/codeforces.jsonl --set rules=[judge_limits] --out runs/clean",
)
def clean_prompts(frame, config: CleanPromptsConfig, ctx) -> StageResult:
    """Strip hints (tags, ratings), judge metadata (time and memory limits, kept as columns) and duplicated
    instructions from the prompts, and move starter code out of the statement; each edit is recorded in prompt_edits."""
    starters = list(frame["starter_code"]) if "starter_code" in frame else [None] * len(frame)
    columns = [list(frame["problem"]), starters, list(frame["domain"])]
    cleaned = list(ctx.track(map_rows(clean_prompt, columns, (tuple(config.rules),), ctx.workers), len(frame), "prompts"))
    reasons = [None if c.problem else "empty_statement" for c in cleaned]
    evidence = [None if c.problem else f"nothing but instructions: {snippet(p, 200)}" for c, p in zip(cleaned, frame["problem"])]
    frame = frame.assign(
        problem=[c.problem or p for c, p in zip(cleaned, frame["problem"])],
        starter_code=[c.starter_code for c in cleaned],
        time_limit_s=[c.time_limit_s for c in cleaned],
        memory_limit_mb=[c.memory_limit_mb for c in cleaned],
        prompt_edits=[json.dumps(c.edits, ensure_ascii=False) if c.edits else None for c in cleaned],
    )
    edited: dict[str, int] = {}
    for c in cleaned:
        for rule in dict.fromkeys(e["rule"] for e in c.edits):
            edited[rule] = edited.get(rule, 0) + 1
    result = split_by_reason(frame, reasons, evidence, stats={"edited": edited})
    if edited:
        result.report["prompts edited"] = ", ".join(f"{rule}: {n} rows" for rule, n in edited.items())
    return result
