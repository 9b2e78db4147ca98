"""Any OpenAI-compatible server (`vllm serve`, SGLang, `transformers serve`, a hosted API), or several replicas of one:
async requests, round-robin over the healthy endpoints with a concurrency limit on each, retries with backoff on 429,
5xx and timeouts (on another endpoint where there is one), and `n=k` in one request where the server supports it (a
server that answers `n=k` with fewer choices, as `transformers serve` does, gets the rest one request each)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from dataclasses import dataclass

from ..errors import AcecurateError
from .protocol import BackendInfo, Completion, Request, SamplingSettings, request_seed

RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_COOLDOWN_S = 30.0  # the longest an endpoint that keeps failing is left alone before it is tried again


def message_text(message: dict) -> str:
    """The completion's text. A server that parses the reasoning out (vLLM's `--reasoning-parser`, DeepSeek's API,
    `transformers serve` for Qwen-style templates) returns it as `reasoning_content` (or `reasoning`) beside the
    answer; it is put back as `<think>...</think>answer`, so the grader's answer part rule (`require_think_close`)
    reads the same text as from a server that does not. Reasoning with no content after it is reasoning that never
    closed (a response cut off while thinking: these servers put all of it in `reasoning_content`), so it stays
    open: such a response has no final answer."""
    reasoning = message.get("reasoning_content")
    reasoning = message.get("reasoning") if reasoning is None else reasoning
    content = message.get("content") or ""
    if reasoning is None:  # an empty reasoning ("") is a model that closed its reasoning at once: it did close it
        return content
    return f"<think>{reasoning}</think>{content}" if content else f"<think>{reasoning}"


def completions_of(response: dict) -> list[Completion]:
    """The completions of one chat-completions response, in choice order. Servers report usage per response, so it is
    a sample's own length only when the response holds one choice (or the choice carries its own count)."""
    choices = sorted(response.get("choices") or [], key=lambda c: c.get("index", 0))
    usage = (response.get("usage") or {}).get("completion_tokens") if len(choices) == 1 else None
    return [
        Completion(
            message_text(choice.get("message") or {}),
            choice.get("completion_tokens") or (choice.get("usage") or {}).get("completion_tokens") or usage,
            "length" if choice.get("finish_reason") == "length" else "stop",
        )
        for choice in choices
    ]


@dataclass
class Endpoint:
    url: str
    index: int
    inflight: int = 0
    failures: int = 0  # in a row; a success resets it
    down_until: float = 0.0  # time.monotonic() before which it is not tried
    last_error: str = ""
    served: int = 0  # successful requests, for the stats


class EndpointPool:
    """Round-robin over the endpoints that are up, at most `concurrency` requests in flight on each (the least busy
    first). An endpoint that fails is left alone for a cooldown that doubles with each failure in a row (`backoff`,
    2 x `backoff`, ... up to 30 s, with jitter; a 429's Retry-After when it gives one), then probed by one request
    at a time until one succeeds; when every endpoint is down, requests wait for the first to come back. The health
    state outlives event loops, so one pool serves every `generate` call of a backend (and every call of a Ray
    actor)."""

    def __init__(self, urls: list[str], concurrency: int, backoff: float):
        self.endpoints = [Endpoint(url, i) for i, url in enumerate(urls)]
        self.concurrency, self.backoff = max(1, concurrency), backoff
        self._turn = 0
        self._loop = self._changed = None

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # asyncio primitives belong to one loop; the counts are plain state
            self._loop, self._changed = loop, asyncio.Condition()
        return self._changed

    async def acquire(self) -> Endpoint:
        changed = self._condition()
        async with changed:
            while True:
                now = time.monotonic()
                free = [e for e in self.endpoints if e.inflight < (1 if e.failures else self.concurrency)]
                ready = [e for e in free if e.down_until <= now]
                if ready:
                    count = len(self.endpoints)
                    endpoint = min(ready, key=lambda e: (e.inflight, (e.index - self._turn) % count))
                    self._turn = endpoint.index + 1
                    endpoint.inflight += 1
                    return endpoint
                wakes = [e.down_until - now for e in free]  # every free endpoint is cooling down
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), min(wakes) if wakes else None)

    async def release(self, endpoint: Endpoint, error: str | None = None, retry_after: float | None = None) -> None:
        changed = self._condition()
        async with changed:
            endpoint.inflight -= 1
            if error is None:
                endpoint.failures, endpoint.down_until = 0, 0.0
                endpoint.served += 1
            else:
                endpoint.failures += 1
                endpoint.last_error = error
                cooldown = min(self.backoff * 2 ** (endpoint.failures - 1), MAX_COOLDOWN_S) * (0.5 + random.random())
                endpoint.down_until = time.monotonic() + (retry_after if retry_after is not None else cooldown)
            changed.notify_all()


def base_urls(base_url) -> list[str]:
    """One base URL or a list of them (replicas of one model), without trailing slashes."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
    if not urls or not all(isinstance(u, str) and u.strip() for u in urls):
        raise AcecurateError(f"sampler.options.base_url: expected a URL or a list of URLs, got {base_url!r}")
    return [u.strip().rstrip("/") for u in urls]


class OpenAIBackend:
    def __init__(
        self,
        model: str,
        base_url: str | list[str] = "http://localhost:8000/v1",
        api_key: str = "EMPTY",
        concurrency: int = 64,
        timeout: float = 600.0,
        max_retries: int = 6,
        backoff: float = 0.5,
        supports_n: bool = True,
        revision: str | None = None,
    ):
        urls = base_urls(base_url)
        self.model, self.api_key = model, api_key
        self.base_url = urls[0] if len(urls) == 1 else ", ".join(urls)  # as messages name it
        self.concurrency, self.timeout, self.max_retries, self.backoff = concurrency, timeout, max_retries, backoff
        self.supports_n = supports_n
        self.pool = EndpointPool(urls, concurrency, backoff)  # `concurrency` requests in flight per endpoint
        self.info = BackendInfo("openai", model, revision or "server", {"base_url": urls[0] if len(urls) == 1 else urls})
        self.retries = 0  # retried calls, for the stats

    def new_client(self):
        import httpx

        return httpx.AsyncClient(timeout=self.timeout, headers={"Authorization": f"Bearer {self.api_key}"})

    async def _post(self, client, payload: dict) -> dict:
        import httpx

        for attempt in range(self.max_retries + 1):
            endpoint = await self.pool.acquire()
            retry_after = None
            try:
                response = await client.post(f"{endpoint.url}/chat/completions", json=payload)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                error = f"{type(exc).__name__}"
            except BaseException:
                await self.pool.release(endpoint)  # cancelled: the endpoint did nothing wrong
                raise
            else:
                if response.status_code == 200:
                    await self.pool.release(endpoint)
                    return response.json()
                if response.status_code not in RETRY_STATUS:
                    await self.pool.release(endpoint)
                    raise AcecurateError(f"{endpoint.url}: HTTP {response.status_code}: {response.text[:300]}")
                error = f"HTTP {response.status_code}"
                header = response.headers.get("retry-after")
                if header and header.replace(".", "", 1).isdigit():
                    retry_after = min(float(header), 60.0)
            await self.pool.release(endpoint, error, retry_after)
            if attempt < self.max_retries:
                self.retries += 1
        failed = [e for e in self.pool.endpoints if e.last_error]
        if len(self.pool.endpoints) == 1:
            raise AcecurateError(f"{self.base_url}: giving up after {self.max_retries} retries ({failed[0].last_error})")
        raise AcecurateError(
            f"giving up after {self.max_retries} retries; the endpoints' last errors: "
            + "; ".join(f"{e.url}: {e.last_error}" for e in failed)
        )

    async def complete(self, client, request: Request, settings: SamplingSettings) -> list[Completion]:
        """The request's n completions. Sample j asked alone gets the seed of sample index first_index + j, so a
        sample's seed does not depend on how requests were cut (resumed, or spread over Ray workers)."""
        base = {
            "model": self.model,
            "messages": [{"role": "user", "content": request.prompt}],
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": settings.max_tokens,
            "seed": request_seed(settings, request),
        }
        completions: list[Completion] = []
        if self.supports_n and request.n > 1:
            completions = completions_of(await self._post(client, {**base, "n": request.n}))[: request.n]
            if len(completions) < request.n:
                self.supports_n = False  # the server ignores n (transformers serve): one request per sample from now on
        while len(completions) < request.n:
            alone = dataclasses.replace(request, n=1, first_index=request.first_index + len(completions))
            more = completions_of(await self._post(client, {**base, "seed": request_seed(settings, alone)}))
            if not more:
                raise AcecurateError(f"{self.base_url}: a chat completion without choices")
            completions.append(more[0])
        return completions

    async def _one(self, client, semaphore, request: Request, settings: SamplingSettings):
        async with semaphore:
            return request, await self.complete(client, request, settings)

    def generate(self, requests: list[Request], settings: SamplingSettings):
        """Yields (request, completions) as requests finish (in completion order). At most `concurrency` requests per
        endpoint are in flight, and as many prompts, so prompts finish (and are stored) as the run goes."""
        loop = asyncio.new_event_loop()
        client = self.new_client()
        semaphore = asyncio.Semaphore(self.concurrency * len(self.pool.endpoints))
        tasks = [loop.create_task(self._one(client, semaphore, r, settings)) for r in requests]
        try:
            yield from self._as_completed(loop, tasks)
        finally:
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(client.aclose())
            loop.close()

    @staticmethod
    def _as_completed(loop, tasks):
        pending = set(tasks)
        while pending:
            done, pending = loop.run_until_complete(asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED))
            for task in done:
                yield task.result()
