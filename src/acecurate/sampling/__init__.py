"""Generation backends (vllm, openai-compatible http, transformers) and the sample store.

Every backend takes the same requests and returns the same completions: text, token count, finish reason, and the
sampling settings used. Heavy libraries are imported inside the backends.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
CODE_INSTRUCTION = (
    "Write a Python 3 solution to the problem below. Put the final code in one ```python code block at the end of your answer."
)


@dataclass(frozen=True)
class SamplingSettings:
    """The paper's evaluation protocol by default: temperature 0.6, top-p 0.95, no system prompt."""

    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 32768
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Request:
    prompt_id: str  # a hash of the prompt text
    prompt: str  # the user message
    n: int  # samples wanted
    first_index: int = 0  # index of the first sample (resuming a prompt that has some samples already)


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int | None
    finish_reason: str  # "stop" or "length"


@dataclass
class BackendInfo:
    backend: str
    model: str
    revision: str  # the model's revision, or a hash of its files
    extra: dict = field(default_factory=dict)


def build_prompt(domain: str, problem: str, starter_code: str | None = None) -> str:
    """The user message: the paper's math instruction, or a code template with and without starter code."""
    if domain == "math":
        return f"{problem}\n{MATH_INSTRUCTION}"
    prompt = f"{CODE_INSTRUCTION}\n\n{problem}"
    if isinstance(starter_code, str) and starter_code.strip():
        prompt += f"\n\nStart from this code:\n```python\n{starter_code.rstrip()}\n```"
    return prompt


def request_seed(settings: SamplingSettings, request: Request) -> int:
    """A seed per prompt and resume point, so a resumed prompt does not repeat the samples it already has."""
    return int(hashlib.sha256(f"{settings.seed}:{request.prompt_id}:{request.first_index}".encode()).hexdigest()[:8], 16)


def prompt_id(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:24]


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
    raise AcecurateError(f"unknown sampling backend {name!r} (known: transformers, openai, vllm)")


def make_backend(name: str, model: str, **options):
    """The backend called `name` ('transformers', 'openai' or 'vllm') for `model`, with its own options checked first."""
    import inspect

    from ..errors import AcecurateError

    cls = backend_class(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "model")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise AcecurateError(f"sampler.options {unknown} are not options of the {name} backend (its options: {', '.join(accepted)})")
    return cls(model, **options)
