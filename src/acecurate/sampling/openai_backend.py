"""Any OpenAI-compatible server (`vllm serve`, SGLang, `transformers serve`, a hosted API): async requests under a
concurrency limit, retries with backoff on 429, 5xx and timeouts, and `n=k` in one request where the server supports
it (a server that answers `n=k` with fewer choices, as `transformers serve` does, gets the rest one request each)."""

from __future__ import annotations

import asyncio
import random

from ..errors import AcecurateError
from .protocol import BackendInfo, Completion, Request, SamplingSettings, request_seed

RETRY_STATUS = {429, 500, 502, 503, 504}


def message_text(message: dict) -> str:
    """The completion's text. A server that parses the reasoning out (vLLM's `--reasoning-parser`, DeepSeek's API,
    `transformers serve` for Qwen-style templates) returns it as `reasoning_content` (or `reasoning`) beside the
    answer; it is put back as `<think>...</think>answer`, so the grader's answer part rule (`require_think_close`)
    reads the same text as from a server that does not. Reasoning with no content after it is reasoning that never
    closed (a response cut off while thinking: these servers put all of it in `reasoning_content`), so it stays
    open: such a response has no final answer."""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    content = message.get("content") or ""
    if not reasoning:
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


class OpenAIBackend:
    def __init__(
        self,
        model: str,
        base_url: str = "http://localhost:8000/v1",
        api_key: str = "EMPTY",
        concurrency: int = 64,
        timeout: float = 600.0,
        max_retries: int = 6,
        backoff: float = 0.5,
        supports_n: bool = True,
        revision: str | None = None,
    ):
        self.model, self.base_url, self.api_key = model, base_url.rstrip("/"), api_key
        self.concurrency, self.timeout, self.max_retries, self.backoff = concurrency, timeout, max_retries, backoff
        self.supports_n = supports_n
        self.info = BackendInfo("openai", model, revision or "server", {"base_url": self.base_url})
        self.retries = 0  # retried calls, for the stats

    async def _post(self, client, payload: dict) -> dict:
        import httpx

        for attempt in range(self.max_retries + 1):
            try:
                response = await client.post(f"{self.base_url}/chat/completions", json=payload)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                error = f"{type(exc).__name__}"
            else:
                if response.status_code == 200:
                    return response.json()
                if response.status_code not in RETRY_STATUS:
                    raise AcecurateError(f"{self.base_url}: HTTP {response.status_code}: {response.text[:300]}")
                error = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after")
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    await asyncio.sleep(min(float(retry_after), 60.0))
                    self.retries += 1
                    continue
            if attempt == self.max_retries:
                raise AcecurateError(f"{self.base_url}: giving up after {self.max_retries} retries ({error})")
            self.retries += 1
            await asyncio.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    async def _one(self, client, semaphore, request: Request, settings: SamplingSettings):
        seed = request_seed(settings, request)
        base = {
            "model": self.model,
            "messages": [{"role": "user", "content": request.prompt}],
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": settings.max_tokens,
            "seed": seed,
        }
        completions: list[Completion] = []
        async with semaphore:
            if self.supports_n and request.n > 1:
                completions = completions_of(await self._post(client, {**base, "n": request.n}))[: request.n]
                if len(completions) < request.n:
                    self.supports_n = False  # the server ignores n (transformers serve): one request per sample from now on
            while len(completions) < request.n:
                more = completions_of(await self._post(client, {**base, "seed": seed + len(completions)}))
                if not more:
                    raise AcecurateError(f"{self.base_url}: a chat completion without choices")
                completions.append(more[0])
        return request, completions

    def generate(self, requests: list[Request], settings: SamplingSettings):
        """Yields (request, completions) as requests finish (in completion order)."""
        import httpx

        loop = asyncio.new_event_loop()
        client = httpx.AsyncClient(timeout=self.timeout, headers={"Authorization": f"Bearer {self.api_key}"})
        semaphore = asyncio.Semaphore(self.concurrency)
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
