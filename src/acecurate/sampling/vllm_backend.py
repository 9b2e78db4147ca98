"""Offline vLLM: `LLM.generate` with `SamplingParams(n=k)`, so each prompt is prefilled once for its k samples.

Needs a GPU and `pip install 'acecurate[vllm]'`. Request building is plain code, tested without vLLM."""

from __future__ import annotations

from ..errors import missing_extra
from .protocol import BackendInfo, Completion, Request, SamplingSettings, request_seed


def sampling_params_kwargs(settings: SamplingSettings, n: int, request_seed: int) -> dict:
    return {"n": n, "temperature": settings.temperature, "top_p": settings.top_p, "max_tokens": settings.max_tokens, "seed": request_seed}


def build_prompts(tokenizer, requests: list[Request]) -> list[str]:
    """Chat-templated prompt strings; a tokenizer without a template gets the bare user message."""
    if getattr(tokenizer, "chat_template", None):
        return [
            tokenizer.apply_chat_template([{"role": "user", "content": r.prompt}], add_generation_prompt=True, tokenize=False)
            for r in requests
        ]
    return [r.prompt for r in requests]


class VLLMBackend:
    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        revision: str | None = None,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        batch_prompts: int = 1024,
    ):
        try:
            from vllm import LLM
        except ImportError:
            raise missing_extra("vllm", "vllm") from None
        kwargs = {
            "model": model,
            "revision": revision,
            "tensor_parallel_size": tensor_parallel_size,
            "enable_prefix_caching": True,
            "gpu_memory_utilization": gpu_memory_utilization,
        }
        if data_parallel_size > 1:
            kwargs["data_parallel_size"] = data_parallel_size
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.batch_prompts = batch_prompts
        self.info = BackendInfo(
            "vllm", model, revision or "main", {"tensor_parallel_size": tensor_parallel_size, "data_parallel_size": data_parallel_size}
        )

    def generate(self, requests: list[Request], settings: SamplingSettings):
        from vllm import SamplingParams

        for start in range(0, len(requests), self.batch_prompts):
            batch = requests[start : start + self.batch_prompts]
            params = [SamplingParams(**sampling_params_kwargs(settings, r.n, request_seed(settings, r))) for r in batch]
            outputs = self.llm.generate(build_prompts(self.tokenizer, batch), params)
            for request, output in zip(batch, outputs):
                yield (
                    request,
                    [Completion(o.text, len(o.token_ids), "length" if o.finish_reason == "length" else "stop") for o in output.outputs],
                )
