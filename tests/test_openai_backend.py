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


def test_an_empty_reasoning_is_a_closed_one():
    from acecurate.sampling.openai_backend import message_text

    # vLLM's parsers return "" for a model that closed its reasoning at once; before, that read as "no reasoning" and
    # the answer came back without its </think> (wrong under require_think_close, though the model did close it).
    assert message_text({"reasoning_content": "", "content": "\\boxed{4}"}) == "<think></think>\\boxed{4}"
    assert message_text({"reasoning": "r", "content": "a"}) == "<think>r</think>a"
    assert message_text({"content": "a"}) == "a"  # a server that parses nothing: the raw text as it is


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
    # Put back: the grader reads the text the model wrote. (A sample whose first token closes its reasoning comes back
    # from this server with no reasoning field at all, so nothing tells it from a server that parses nothing: its
    # content is all a client can have. On this model that is an occasional sample, depending on the CPU's numerics.)
    thought = [t for t in texts if t.startswith("<think>")]
    assert len(thought) > len(texts) // 2, texts
    # A sample whose reasoning never closed (the server returned all of it as reasoning_content, no content) stays
    # open: it has no final answer. Before, it came back as "<think>...</think>" with an empty answer after it.
    unclosed = [t for t in thought if "</think>" not in t]
    closed = [t for t in thought if "</think>" in t]
    assert unclosed and closed, texts
    assert all(grade(t, "4").rule == "no_think_close" for t in unclosed)


# Several replicas of one model (`vllm serve` on each node, no load balancer): one base_url per replica.


def test_requests_go_round_robin_with_a_limit_per_endpoint(tiny_model):
    first, second = TinyServer(tiny_model), TinyServer(tiny_model)
    try:
        backend = make_backend("openai", "tiny", base_url=[first.url, second.url + "/"], concurrency=2, timeout=120)
        prompts = [f"replicas {i}" for i in range(8)]
        results = list(backend.generate(requests_for(prompts, n=1), SamplingSettings(max_tokens=4)))
        assert sorted(r.prompt for r, _ in results) == sorted(prompts)
        # Both replicas served (the least busy first, in turn), never more than 2 requests at once on either.
        assert [e.served for e in backend.pool.endpoints] == [sum(first.seen.values()), sum(second.seen.values())]
        assert min(e.served for e in backend.pool.endpoints) >= 2
        assert first.max_inflight <= 2 and second.max_inflight <= 2
        assert backend.info.extra["base_url"] == [first.url, second.url]
    finally:
        first.close()
        second.close()


def test_a_failing_endpoint_is_left_alone_while_the_other_serves(tiny_model):
    import math
    import time

    healthy, down = TinyServer(tiny_model), TinyServer(tiny_model, broken=503)
    try:
        backend = make_backend("openai", "tiny", base_url=[down.url, healthy.url], concurrency=2, timeout=120, backoff=1.0)
        prompts = [f"one replica down {i}" for i in range(8)]
        started = time.monotonic()
        results = dict((r.prompt, c) for r, c in backend.generate(requests_for(prompts, n=1), SamplingSettings(max_tokens=4)))
        elapsed = time.monotonic() - started
        assert set(results) == set(prompts) and set(healthy.seen) == set(prompts)
        # The down replica got its first requests (2 at once), then only probes one at a time, each after a cooldown
        # that doubles from at least half the backoff: at most log2(2t/backoff + 1) + 1 of them in t seconds.
        probes = math.log2(2 * elapsed / 1.0 + 1) + 1
        assert sum(down.seen.values()) <= 2 + probes, (down.seen, elapsed)
        assert down.max_inflight <= 2
        assert backend.pool.endpoints[0].last_error == "HTTP 503" and backend.pool.endpoints[0].served == 0
    finally:
        healthy.close()
        down.close()


def test_every_endpoint_down_is_a_clear_error_naming_each(tiny_model):
    down = TinyServer(tiny_model, broken=503)
    try:
        backend = make_backend("openai", "tiny", base_url=["http://127.0.0.1:9/v1", down.url], timeout=5, max_retries=3, backoff=0.01)
        with pytest.raises(AcecurateError) as caught:
            list(backend.generate(requests_for(["anyone there?"], n=1), SamplingSettings(max_tokens=4)))
        assert str(caught.value) == (
            f"giving up after 3 retries; the endpoints' last errors: http://127.0.0.1:9/v1: ConnectError; {down.url}: HTTP 503"
        )
    finally:
        down.close()


def test_base_url_must_be_urls():
    with pytest.raises(AcecurateError, match="expected a URL or a list of URLs"):
        make_backend("openai", "tiny", base_url=[])
