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


# Against `transformers serve` (tests/conftest.py): a server no one here wrote. It ignores `n` (one choice per request),
# reports `usage` per response, ends a sample at max_tokens with finish_reason "length", and, for a template that opens
# `<think>`, returns the reasoning apart as `reasoning_content` (all of it when the sample never closed it).


def real_samples(transformers_server, prompts, n, max_tokens):
    url, model = transformers_server
    backend = make_backend("openai", model, base_url=url, concurrency=2, timeout=120)
    results = dict((r.prompt, c) for r, c in backend.generate(requests_for(prompts, n=n), SamplingSettings(1.0, 1.0, max_tokens)))
    return backend, results


def test_real_server_gives_n_samples_with_their_lengths(transformers_server):
    # Before: the backend sent n=3, took the one choice back, and stored one sample where three were asked for.
    backend, results = real_samples(transformers_server, ["What is 2+2?", "What is 3+3?"], n=3, max_tokens=12)
    assert all(len(completions) == 3 for completions in results.values())
    assert backend.supports_n is False  # learned from the first reply: the rest is asked one sample per request
    completions = [c for cs in results.values() for c in cs]
    # usage is the sample's own count (one choice per response); a sample that hit max_tokens is "length"
    assert all(isinstance(c.tokens, int) and 0 < c.tokens <= 12 for c in completions)
    assert all((c.finish_reason == "length") == (c.tokens == 12) for c in completions)
    assert any(c.finish_reason == "length" for c in completions)
    assert len({c.text for c in completions}) > 1  # each sample had its own seed


def test_real_server_reasoning_comes_back_as_the_model_wrote_it(transformers_server):
    import httpx

    from acecurate.verify.math import grade

    url, model = transformers_server
    raw = httpx.post(
        f"{url}/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": 24, "seed": 5},
        timeout=120,
    ).json()
    message = raw["choices"][0]["message"]
    assert "reasoning_content" in message  # the server parsed the reasoning out of the text
    _, results = real_samples(transformers_server, ["What is 5+5?", "What is 6+6?"], n=6, max_tokens=24)
    texts = [c.text for cs in results.values() for c in cs]
    assert all(t.startswith("<think>") for t in texts)  # put back: the grader reads the text the model wrote
    # A sample whose reasoning never closed (the server returned all of it as reasoning_content, no content) stays
    # open: it has no final answer. Before, it came back as "<think>...</think>" with an empty answer after it.
    unclosed = [t for t in texts if "</think>" not in t]
    closed = [t for t in texts if "</think>" in t]
    assert unclosed and closed, texts
    assert all(grade(t, "4").rule == "no_think_close" for t in unclosed)
