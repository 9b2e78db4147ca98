"""The stages, in one explicit list. A pipeline YAML names stages from it; `acecurate <stage>` runs one alone.

Follow a row: `cli.py` -> `pipeline.run_pipeline` -> the stage function listed here -> `card.py`.
"""

from __future__ import annotations

from ..stage import Stage
from .answer_check import answer_check
from .clean_prompts import clean_prompts
from .decontaminate import decontaminate
from .dedup import exact_dedup, near_dedup
from .format_filter import format_filter
from .input_check import input_check
from .sampled import difficulty, majority_check, response_length
from .validate_tests import validate_tests

STAGES: tuple[Stage, ...] = (
    input_check,  # first in every pipeline (the runner adds it when a pipeline does not list it)
    clean_prompts,
    exact_dedup,
    near_dedup,
    decontaminate,
    format_filter,
    answer_check,
    validate_tests,
    majority_check,
    response_length,
    difficulty,
)
STAGE_BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
