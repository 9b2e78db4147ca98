"""The openai backend against a real HTTP server on loopback that serves the tiny model: concurrency, 429, 500, timeout."""

import pytest

pytest.importorskip("torch", reason="needs acecurate[train] (torch, transformers)")
pytest.importorskip("httpx", reason="needs acecurate[openai]")

from acecurate.errors import AcecurateError
from acecurate.sampling import Request, SamplingSettings, make_backend, prompt_id

from .tiny_server import TinyServer


@pytest.fixture(scope="module")
def server(tiny_model):
    s = TinyServer(tiny_model)
    yield s
    s.close()


def requests_for(prompts, n=3):
    return [Request(prompt_id(p), p, n) for p in prompts]


def test_concurrency_limit_and_n_samples(server):
    backend = make_backend("openai", "tiny", base_url=server.url, concurrency=3, timeout=10)
    prompts = [f"plain prompt {i}" for i in range(9)]
    results = list(backend.generate(requests_for(prompts), SamplingSettings(max_tokens=16)))
    assert sorted(r.prompt for r, _ in results) == sorted(prompts)
    assert all(len(c) == 3 and all(x.finish_reason in ("stop", "length") for x in c) for _, c in results)
    assert 2 <= server.max_inflight <= 3


def test_429_500_and_timeout_are_retried(server):
    backend = make_backend("openai", "tiny", base_url=server.url, concurrency=4, timeout=0.8, backoff=0.05)
    prompts = ["RATE limited once", "FAIL once", "SLOW once"]
    results = dict((r.prompt, c) for r, c in backend.generate(requests_for(prompts, n=2), SamplingSettings(max_tokens=8)))
    assert set(results) == set(prompts) and all(len(c) == 2 for c in results.values())
    assert backend.retries >= 3
    assert all(server.seen[p] == 2 for p in prompts)


def test_gives_up_with_a_clear_error(server):
    backend = make_backend("openai", "tiny", base_url="http://127.0.0.1:9/v1", timeout=0.2, max_retries=1, backoff=0.01)
    with pytest.raises(AcecurateError, match="giving up after 1 retries"):
        list(backend.generate(requests_for(["x"]), SamplingSettings(max_tokens=4)))


def test_vllm_request_building_without_a_gpu(server):
    from acecurate.sampling import request_seed
    from acecurate.sampling.vllm_backend import build_prompts, sampling_params_kwargs

    settings = SamplingSettings(temperature=0.6, top_p=0.95, max_tokens=32768, seed=3)
    request = Request("abc", "What is 2+2?\nPlease reason step by step, and put your final answer within \\boxed{}.", 8)
    kwargs = sampling_params_kwargs(settings, request.n, request_seed(settings, request))
    assert kwargs == {"n": 8, "temperature": 0.6, "top_p": 0.95, "max_tokens": 32768, "seed": request_seed(settings, request)}
    assert request_seed(settings, request) != request_seed(settings, Request("abc", request.prompt, 8, first_index=4))
    [prompt] = build_prompts(server.backend.tokenizer, [request])
    assert prompt.startswith("<|im_start|>user\n") and prompt.endswith("<|im_start|>assistant\n") and "\\boxed{}" in prompt


def test_reasoning_parsed_out_by_the_server_is_put_back(server):
    backend = make_backend("openai", "tiny", base_url=server.url, timeout=10)
    [(_, completions)] = list(backend.generate(requests_for(["REASONING apart"], n=2), SamplingSettings(max_tokens=8)))
    # The grader's answer part is then what follows </think>, as for a server that returns the raw text.
    assert all(c.text.startswith("<think>worked it out</think>") for c in completions)
