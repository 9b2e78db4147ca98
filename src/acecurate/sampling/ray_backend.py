"""Sampling spread over a Ray cluster (`sampler.backend: ray`, `pip install 'acecurate[ray]'`).

Two engines:
- `openai`: Ray actors, each running acecurate's OpenAI client (openai_backend: round-robin over the endpoints that are
  up, a concurrency limit per endpoint, retries elsewhere) against a list of OpenAI-compatible endpoints (`vllm serve`
  replicas, a load balancer). The actors restart when their process dies and Ray retries the calls they had.
- `vllm`: Ray Data's vLLM engine processor (`ray.data.llm`), which places `replicas` vLLM engines of
  `tensor_parallel_size` GPUs each on the cluster's GPU nodes and streams rows through them. Needs vLLM on the GPU
  nodes (the nodes' own install; never the `ray[llm]` extra here). The rows it takes and gives are plain functions
  (`vllm_request`, `vllm_sample`), tested against Ray's own output schema without a GPU.

Either way the unit is one (prompt, sample index) pair with its own seed, sent only when the sample store lacks it,
and every sample is handed back (and so graded and stored by `collect`) as soon as it returns: a killed worker loses
only the samples it had in flight, a killed driver only those not yet stored, and the rerun asks for nothing else.
"""

from __future__ import annotations

import functools
import math

from ..cluster import connect_ray, unwrap_ray_error
from ..errors import AcecurateError
from .openai_backend import OpenAIBackend, base_urls
from .protocol import BackendInfo, Completion, Request, SamplingSettings, request_seed
from .vllm_backend import sampling_params_kwargs

ENGINES = ("openai", "vllm")
OPENAI_OPTIONS = ("base_url", "api_key", "concurrency", "timeout", "max_retries", "backoff", "workers")
VLLM_OPTIONS = (
    "replicas",
    "tensor_parallel_size",
    "batch_size",
    "accelerator_type",
    "gpu_memory_utilization",
    "max_model_len",
    "engine_kwargs",
)


def sample_units(requests: list[Request]) -> list[Request]:
    """One request per (prompt, sample index): what the Ray engines send and hand back one at a time."""
    return [Request(r.prompt_id, r.prompt, 1, r.first_index + j) for r in requests for j in range(r.n)]


class EndpointWorker:
    """A Ray actor (async: many requests at once) that samples with acecurate's OpenAI client."""

    def __init__(self, model: str, options: dict):
        self.backend = OpenAIBackend(model, supports_n=False, **options)
        self.client = None

    async def sample(self, unit: Request, settings: SamplingSettings) -> list[Completion]:
        if self.client is None:
            self.client = self.backend.new_client()
        return await self.backend.complete(self.client, unit, settings)


def vllm_request(settings: SamplingSettings, row: dict) -> dict:
    """Ray Data's vLLM processor input for one sample: the chat messages (its chat-template stage applies the model's
    template with the generation prompt, as the vllm backend does) and vLLM SamplingParams with n=1 and the sample's
    seed."""
    return {
        "messages": [{"role": "user", "content": row["user_message"]}],
        "sampling_params": sampling_params_kwargs(settings, 1, int(row["seed"])),
    }


def vllm_sample(max_tokens: int, row: dict) -> dict:
    """Our columns from a row of Ray Data's vLLM processor (`generated_text`, `num_generated_tokens`). Ray's output
    has no finish reason: a sample that used every token it was allowed is taken as cut off ("length"), which
    counts it as a failure even in the rare case that it ended exactly at the limit."""
    tokens = int(row["num_generated_tokens"])
    return {
        "prompt_id": row["prompt_id"],
        "sample_index": int(row["sample_index"]),
        "text": row["generated_text"],
        "tokens": tokens,
        "finish_reason": "length" if tokens >= max_tokens else "stop",
    }


def _ray_data_llm():
    try:
        import ray.data.llm
    except ImportError as exc:  # it needs aiohttp and pydantic (acecurate[ray] has them) and transformers
        raise AcecurateError(f"Ray Data's LLM processors cannot be imported ({exc}): pip install 'acecurate[ray]' transformers") from None
    return ray.data.llm


def vllm_processor_config(model: str, options: dict):
    """Ray Data's vLLM engine processor config for `model`: `replicas` engines of `tensor_parallel_size` GPUs each,
    prefix caching on (the samples of a prompt are adjacent rows), the model's chat template and tokenizer in CPU
    stages (the processor's defaults)."""
    engine_kwargs = {
        "tensor_parallel_size": options.get("tensor_parallel_size", 1),
        "enable_prefix_caching": True,
        "gpu_memory_utilization": options.get("gpu_memory_utilization", 0.9),
        **({"max_model_len": options["max_model_len"]} if options.get("max_model_len") else {}),
        **options.get("engine_kwargs", {}),
    }
    return _ray_data_llm().vLLMEngineProcessorConfig(
        model_source=model,
        engine_kwargs=engine_kwargs,
        concurrency=options.get("replicas", 1),
        batch_size=options.get("batch_size", 16),
        accelerator_type=options.get("accelerator_type"),
    )


def vllm_processor(model: str, settings: SamplingSettings, options: dict):
    """The processor itself: our rows in (`vllm_request`), our samples out (`vllm_sample`)."""
    return _ray_data_llm().build_processor(
        vllm_processor_config(model, options),
        preprocess=functools.partial(vllm_request, settings),
        postprocess=functools.partial(vllm_sample, settings.max_tokens),
    )


class RayBackend:
    def __init__(self, model: str, engine: str = "openai", address: str | None = None, revision: str | None = None, **options):
        if engine not in ENGINES:
            raise AcecurateError(f"sampler.options.engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
        mine, other = (OPENAI_OPTIONS, VLLM_OPTIONS) if engine == "openai" else (VLLM_OPTIONS, OPENAI_OPTIONS)
        unknown = sorted(set(options) - set(mine))
        if unknown:
            wrong = "only for engine " + ("vllm" if engine == "openai" else "openai") if set(unknown) <= set(other) else "unknown"
            raise AcecurateError(
                f"sampler.options {unknown} are {wrong} (options of the ray backend with engine {engine}: address, revision, {', '.join(mine)})"
            )
        if engine == "openai" and "base_url" not in options:
            raise AcecurateError("the ray backend's openai engine needs sampler.options.base_url: one URL or a list of them")
        self.model, self.engine, self.options = model, engine, options
        self.ray = connect_ray(address)  # an unreachable cluster is an error now, before anything is sampled
        extra = {"engine": engine, "address": address or "auto"}
        if engine == "openai":
            extra["base_url"] = base_urls(options["base_url"])
        else:
            extra.update({k: options[k] for k in ("replicas", "tensor_parallel_size") if k in options})
        self.info = BackendInfo("ray", model, revision or ("server" if engine == "openai" else "main"), extra)

    def generate(self, requests: list[Request], settings: SamplingSettings):
        """Yields (one-sample request, [completion]) as samples return, in no fixed order."""
        units = sample_units(requests)
        if units:
            yield from self._endpoints(units, settings) if self.engine == "openai" else self._vllm(units, settings)

    def _endpoints(self, units: list[Request], settings: SamplingSettings):
        ray = self.ray
        urls = base_urls(self.options["base_url"])
        workers = int(self.options.get("workers") or max(1, sum(1 for node in ray.nodes() if node["Alive"])))  # default: one per node
        concurrency = int(self.options.get("concurrency", 64))
        per_worker = max(1, math.ceil(concurrency / workers))  # `concurrency` stays the limit per endpoint
        options = {k: v for k, v in self.options.items() if k != "workers"} | {"concurrency": per_worker}
        actor = ray.remote(EndpointWorker).options(max_restarts=-1, max_task_retries=-1, num_cpus=0, scheduling_strategy="SPREAD")
        actors = [actor.remote(self.model, options) for _ in range(workers)]
        limit = per_worker * workers * len(urls)
        queue = iter(units)
        inflight: dict = {}
        turns = iter(range(len(units)))

        def submit() -> None:
            while len(inflight) < limit and (unit := next(queue, None)) is not None:
                inflight[actors[next(turns) % workers].sample.remote(unit, settings)] = unit

        try:
            submit()
            while inflight:
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    unit = inflight.pop(ref)
                    try:
                        completions = ray.get(ref)
                    except Exception as exc:
                        raise unwrap_ray_error(exc, "sampling") from None
                    yield unit, completions
                submit()
        finally:
            for ref in inflight:
                ray.cancel(ref)
            for handle in actors:
                ray.kill(handle)

    def _vllm(self, units: list[Request], settings: SamplingSettings):
        import ray.data

        by_key = {(u.prompt_id, u.first_index): u for u in units}
        rows = [
            {"prompt_id": u.prompt_id, "sample_index": u.first_index, "user_message": u.prompt, "seed": request_seed(settings, u)}
            for u in units
        ]
        processor = vllm_processor(self.model, settings, self.options)
        try:
            for row in processor(ray.data.from_items(rows)).iter_rows():
                unit = by_key[(row["prompt_id"], int(row["sample_index"]))]
                yield unit, [Completion(row["text"], int(row["tokens"]), row["finish_reason"])]
        except AcecurateError:
            raise
        except Exception as exc:
            raise unwrap_ray_error(exc, "sampling with vLLM") from None
