"""Generation backends (vllm, openai-compatible http, transformers, ray) and the sample store.

Every backend takes the same requests and returns the same completions: text, token count, finish reason, and the
sampling settings used. Heavy libraries are imported inside the backends.
"""

from __future__ import annotations

import hashlib

from .protocol import BackendInfo, Completion, Request, SamplingSettings, request_seed

__all__ = [
    "GRPO_TYPES",
    "BackendInfo",
    "Completion",
    "Request",
    "SamplingSettings",
    "backend_class",
    "build_prompt",
    "grpo_row",
    "make_backend",
    "prompt_id",
    "request_seed",
]

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
CODE_INSTRUCTION = (
    "Write a Python 3 solution to the problem below. Put the final code in one ```python code block at the end of your answer."
)


def build_prompt(domain: str, problem: str, starter_code: str | None = None) -> str:
    """The user message: the paper's math instruction, or a code template with and without starter code."""
    if domain == "math":
        return f"{problem}\n{MATH_INSTRUCTION}"
    prompt = f"{CODE_INSTRUCTION}\n\n{problem}"
    if isinstance(starter_code, str) and starter_code.strip():
        prompt += f"\n\nStart from this code:\n```python\n{starter_code.rstrip()}\n```"
    return prompt


def prompt_id(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:24]


def grpo_row(domain: str, record: dict) -> dict:
    """A curated row as `acecurate train` gives it to GRPOTrainer (and the `trl` export writes it): the chat prompt, its
    id, and the columns the reward function reads (`time_limit_s`: the row's own code limit, None without one)."""
    import math

    text = build_prompt(domain, record["problem"], record.get("starter_code"))
    limit = record.get("time_limit_s")
    return {
        "prompt": [{"role": "user", "content": text}],
        "prompt_id": prompt_id(text),
        "domain": domain,
        # A null of the one type (never "" or a float NaN): math and code rows share one schema and concatenate.
        "answer": _text_or_none(record.get("answer")) if domain == "math" else None,
        "tests": _text_or_none(record.get("tests")) if domain == "code" else None,
        "time_limit_s": float(limit) if isinstance(limit, (int, float)) and math.isfinite(limit) and limit > 0 else None,
    }


GRPO_TYPES = {"prompt_id": "string", "domain": "string", "answer": "string", "tests": "string", "time_limit_s": "double"}


def _text_or_none(value) -> str | None:
    return value if isinstance(value, str) and value else None


def backend_class(name: str):
    from ..errors import AcecurateError

    if name == "transformers":
        from .transformers_backend import TransformersBackend

        return TransformersBackend
    if name == "openai":
        from .openai_backend import OpenAIBackend

        return OpenAIBackend
    if name == "vllm":
        from .vllm_backend import VLLMBackend

        return VLLMBackend
    if name == "ray":
        from .ray_backend import RayBackend

        return RayBackend
    raise AcecurateError(f"unknown sampling backend {name!r} (known: transformers, openai, vllm, ray)")


def make_backend(name: str, model: str, **options):
    """The backend called `name` ('transformers', 'openai', 'vllm' or 'ray') for `model`, with its own options checked
    first (a backend whose options depend on each other, as the ray backend's on its engine, checks its own)."""
    import inspect

    from ..errors import AcecurateError

    cls = backend_class(name)
    parameters = inspect.signature(cls.__init__).parameters
    accepted = [p for p, v in parameters.items() if p not in ("self", "model") and v.kind is not inspect.Parameter.VAR_KEYWORD]
    unknown = sorted(set(options) - set(accepted))
    if unknown and not any(v.kind is inspect.Parameter.VAR_KEYWORD for v in parameters.values()):
        raise AcecurateError(f"sampler.options {unknown} are not options of the {name} backend (its options: {', '.join(accepted)})")
    return cls(model, **options)
