"""What every generation backend takes and returns: requests, completions, sampling settings, backend info.
Backends import these from here (not from the package), so the package can pick a backend without an import cycle."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


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


def request_seed(settings: SamplingSettings, request: Request) -> int:
    """A seed per prompt and resume point, so a resumed prompt does not repeat the samples it already has."""
    return int(hashlib.sha256(f"{settings.seed}:{request.prompt_id}:{request.first_index}".encode()).hexdigest()[:8], 16)
