"""Offline vLLM: `LLM.generate` with `SamplingParams(n=k)`, so each prompt is prefilled once for its k samples.

Needs a GPU and `pip install 'acecurate[vllm]'`. Everything but the engine is plain code (`generate_batches` takes the
engine's `generate` and the SamplingParams class as arguments), so it is tested without vLLM."""

from __future__ import annotations

from ..errors import AcecurateError, missing_extra
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
        """Yields (request, completions) per prompt, `batch_prompts` prompts per `LLM.generate` call."""
        from vllm import SamplingParams

        yield from generate_batches(self.llm.generate, self.tokenizer, requests, settings, self.batch_prompts, SamplingParams)


def completions_of(output) -> list[Completion]:
    """A vLLM RequestOutput's samples: text, generated token count, and "length" when cut at max_tokens."""
    return [Completion(o.text, len(o.token_ids), "length" if o.finish_reason == "length" else "stop") for o in output.outputs]


def generate_batches(llm_generate, tokenizer, requests: list[Request], settings: SamplingSettings, batch_prompts: int, params_class):
    """The vLLM backend's loop: chat-templated prompts and one SamplingParams per request (its n, and a seed per
    prompt and resume point), `batch_prompts` prompts per `llm_generate(prompts, params)` call; outputs come back in
    prompt order, as `LLM.generate` returns them."""
    for start in range(0, len(requests), batch_prompts):
        batch = requests[start : start + batch_prompts]
        params = [params_class(**sampling_params_kwargs(settings, r.n, request_seed(settings, r))) for r in batch]
        outputs = llm_generate(build_prompts(tokenizer, batch), params)
        if len(outputs) != len(batch):
            raise AcecurateError(f"vLLM returned {len(outputs)} outputs for {len(batch)} prompts")
        for request, output in zip(batch, outputs):
            completions = completions_of(output)
            if len(completions) != request.n:
                raise AcecurateError(f"vLLM returned {len(completions)} samples for a prompt that asked for {request.n}")
            yield request, completions
