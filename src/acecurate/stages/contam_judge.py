"""The optional judge of decontaminate: where the rules leave a row near a benchmark item but no copy (a rewritten
final ask, a paraphrase, a converted multiple-choice item), a model reads both and says whether they are the same
problem. Retrieval is the rules' own (each row's best candidate item); the judge sees one short prompt per pair, through
any sampling backend (an OpenAI-compatible server, as NeMo-Skills does for contamination, vLLM or transformers). Off by
default; when on, the card names the model, and every removal it makes carries the prompt and the answer as evidence.
Answers are cached in the run folder (cache/contam_judge.jsonl), keyed by model and prompt, so a rerun asks nothing again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config import setting

PROMPT = (
    "Are these two math or programming problems the same problem, so that solving one solves the other? A reworded "
    "statement, other notation or an answer asked in another form (a fraction asked as m+n) is the same problem; other "
    "numbers, another condition or another quantity asked is a different problem.\n\n"
    "Problem A (a benchmark item):\n{item}\n\nProblem B:\n{row}\n\nAnswer with one word: SAME or DIFFERENT."
)


@dataclass
class ContamJudgeConfig:
    model: str | None = setting(None, "A model to judge borderline pairs (off without one).")
    backend: str = setting("openai", "openai (any OpenAI-compatible server), vllm or transformers.")
    options: dict = setting(factory=dict, help="Backend options: base_url, api_key, concurrency, ...")
    min_coverage: float = setting(0.25, "A kept row is judged when its best candidate holds this share of the item's n-grams.")
    max_pairs: int = setting(2000, "At most this many pairs are judged per run (the closest first).")
    max_chars: int = setting(1500, "Each problem is cut to this many characters in the prompt.")
    max_tokens: int = 8
    temperature: float = 0.0


@dataclass
class JudgeOutcome:
    """Per judged row: the prompt and the model's answer, and whether it said the two are the same problem."""

    prompts: dict[int, str] = field(default_factory=dict)
    answers: dict[int, str] = field(default_factory=dict)
    same: dict[int, bool] = field(default_factory=dict)
    asked: int = 0
    cached: int = 0


def judge_prompt(item_text: str, row_text: str, max_chars: int) -> str:
    return PROMPT.format(item=item_text.strip()[:max_chars], row=row_text.strip()[:max_chars])


def _says_same(answer: str) -> bool:
    words = answer.strip().upper().split()
    return bool(words) and words[0].strip(".,:;!\"'") in ("SAME", "YES")


class _Cache:
    """Answers by (model, prompt), one JSON line each, in the run folder."""

    def __init__(self, path: Path):
        self.path = path
        self.answers: dict[str, str] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.answers[entry["key"]] = entry["answer"]

    @staticmethod
    def key(model: str, prompt: str) -> str:
        return hashlib.sha256(f"{model}\n{prompt}".encode()).hexdigest()[:32]

    def add(self, key: str, answer: str) -> None:
        self.answers[key] = answer
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps({"key": key, "answer": answer}) + "\n")


def run_judge(pairs: list[tuple[int, str, str]], config: ContamJudgeConfig, cache_path: Path) -> JudgeOutcome:
    """Judge (row, item text, row text) pairs; the answers come from the cache where it has them."""
    from ..sampling import Request, SamplingSettings, make_backend, prompt_id

    outcome = JudgeOutcome()
    cache = _Cache(cache_path)
    todo: dict[str, list[int]] = {}
    for row, item_text, row_text in pairs[: config.max_pairs]:
        prompt = judge_prompt(item_text, row_text, config.max_chars)
        outcome.prompts[row] = prompt
        key = cache.key(config.model, prompt)
        if key in cache.answers:
            outcome.answers[row] = cache.answers[key]
            outcome.cached += 1
        else:
            todo.setdefault(prompt, []).append(row)
    if todo:
        backend = make_backend(config.backend, config.model, **config.options)
        settings = SamplingSettings(temperature=config.temperature, top_p=1.0, max_tokens=config.max_tokens, seed=0)
        requests = [Request(prompt_id(p), p, 1) for p in todo]
        by_id = {prompt_id(p): p for p in todo}
        for request, completions in backend.generate(requests, settings):
            prompt = by_id[request.prompt_id]
            answer = completions[0].text.strip() if completions else ""
            cache.add(cache.key(config.model, prompt), answer)
            outcome.asked += 1
            for row in todo[prompt]:
                outcome.answers[row] = answer
    outcome.same = {row: _says_same(answer) for row, answer in outcome.answers.items()}
    return outcome
