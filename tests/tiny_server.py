"""An OpenAI-compatible /v1/chat/completions server on loopback that serves the tiny model (tests/tiny_model.py)
through the transformers backend, and misbehaves once on request: prompts holding RATE get a 429, FAIL a 500, SLOW
an answer later than the client's timeout; REASONING gets a reasoning_content beside the content (a reasoning parser).
A server made with `broken=STATUS` answers every request with that status (a replica that is down); `delay` slows
every answer (a server busy enough to kill a worker mid-run). Every request is counted per (prompt, seed)."""

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from acecurate.sampling import Request, SamplingSettings, make_backend, prompt_id

# Generation seeds torch's one global generator: servers of one process take turns, so a (prompt, seed) gets the same
# sample from any of them.
GENERATING = threading.Lock()


class TinyServer:
    """OpenAI-compatible /v1/chat/completions over the tiny model, misbehaving once on request for some prompts."""

    def __init__(self, model_dir, broken: int | None = None, delay: float = 0.0):
        self.backend = make_backend("transformers", str(model_dir))
        self.broken, self.delay = broken, delay
        self.lock = threading.Lock()
        self.inflight = self.max_inflight = 0
        self.seen: dict[str, int] = {}
        self.requests: Counter = Counter()  # (prompt, seed) -> requests
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
                    server.requests[(prompt, body.get("seed"))] += 1
                try:
                    time.sleep(0.05 + server.delay)  # let concurrent requests overlap
                    if server.broken:
                        return self._send(server.broken, {"error": "down"})
                    if "RATE" in prompt and attempt == 1:
                        return self._send(429, {"error": "rate limited"}, {"Retry-After": "0.1"})
                    if "FAIL" in prompt and attempt == 1:
                        return self._send(500, {"error": "boom"})
                    if "SLOW" in prompt and attempt == 1:
                        time.sleep(1.5)  # beyond the client's timeout
                    settings = SamplingSettings(body["temperature"], body["top_p"], body["max_tokens"], body["seed"])
                    with GENERATING:
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


class TinyEngineStage:
    """Stands in for Ray Data's vLLM engine stage, which needs a GPU (tests/test_ray.py): a TinyServer generates for a
    row our preprocess made (its messages and vLLM sampling params), and the stage gives the fields Ray's engine stage
    gives (vLLMOutputData's). It runs in a Ray actor that imports no torch: the server has the model."""

    def __init__(self, base_url: str):
        import httpx

        self.client, self.url = httpx.Client(timeout=120), f"{base_url}/chat/completions"

    def __call__(self, row):
        params = row["sampling_params"]
        plain = {k: getattr(params[k], "item", lambda k=k: params[k])() for k in ("n", "temperature", "top_p", "max_tokens", "seed")}
        body = {"messages": [{"role": "user", "content": str(row["messages"][0]["content"])}], **plain}  # numpy scalars from Arrow
        [choice] = self.client.post(self.url, json=body).json()["choices"]
        return {**row, "generated_text": choice["message"]["content"], "num_generated_tokens": choice["completion_tokens"]}
