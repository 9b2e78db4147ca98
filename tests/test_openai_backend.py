"""The openai backend against a real HTTP server on loopback that serves the tiny model: concurrency, 429, 500, timeout."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("torch", reason="needs acecurate[train] (torch, transformers)")
pytest.importorskip("httpx", reason="needs acecurate[openai]")

from acecurate.errors import AcecurateError
from acecurate.sampling import Request, SamplingSettings, make_backend, prompt_id

from .tiny_model import build_tiny_model


class TinyServer:
    """OpenAI-compatible /v1/chat/completions over the tiny model, misbehaving once on request for some prompts."""

    def __init__(self, model_dir):
        self.backend = make_backend("transformers", str(model_dir))
        self.lock = threading.Lock()
        self.inflight = self.max_inflight = 0
        self.seen: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with server.lock:
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    attempt = server.seen[prompt] = server.seen.get(prompt, 0) + 1
                try:
                    time.sleep(0.05)  # let concurrent requests overlap
                    if "RATE" in prompt and attempt == 1:
                        return self._send(429, {"error": "rate limited"}, {"Retry-After": "0.1"})
                    if "FAIL" in prompt and attempt == 1:
                        return self._send(500, {"error": "boom"})
                    if "SLOW" in prompt and attempt == 1:
                        time.sleep(1.5)  # beyond the client's timeout
                    settings = SamplingSettings(body["temperature"], body["top_p"], body["max_tokens"], body["seed"])
                    with server.lock:
                        _, completions = next(server.backend.generate([Request(prompt_id(prompt), prompt, body.get("n", 1))], settings))
                    # A server with a reasoning parser returns the reasoning apart from the answer.
                    reasoning = {"reasoning_content": "worked it out"} if "REASONING" in prompt else {}
                    choices = [
                        {
                            "index": i,
                            "message": {"role": "assistant", "content": c.text, **reasoning},
                            "finish_reason": c.finish_reason,
                            "completion_tokens": c.tokens,
                        }
                        for i, c in enumerate(completions)
                    ]
                    self._send(200, {"choices": choices, "usage": {"completion_tokens": sum(c.tokens for c in completions)}})
                finally:
                    with server.lock:
                        server.inflight -= 1

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = TinyServer(build_tiny_model(tmp_path_factory.mktemp("tiny")))
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
