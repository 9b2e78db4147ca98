"""Any OpenAI-compatible server (`vllm serve`, SGLang, a hosted API): async requests under a concurrency limit,
retries with backoff on 429, 5xx and timeouts, and `n=k` in one request where the server supports it."""

from __future__ import annotations

import asyncio
import random

from ..errors import AcecurateError
from .protocol import BackendInfo, Completion, Request, SamplingSettings

RETRY_STATUS = {429, 500, 502, 503, 504}


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
        base = {
            "model": self.model,
            "messages": [{"role": "user", "content": request.prompt}],
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": settings.max_tokens,
            "seed": settings.seed + request.first_index,
        }
        async with semaphore:
            if self.supports_n:
                responses = [await self._post(client, {**base, "n": request.n})]
            else:
                responses = [await self._post(client, {**base, "seed": base["seed"] + i}) for i in range(request.n)]
        completions = []
        for response in responses:
            choices = sorted(response["choices"], key=lambda c: c.get("index", 0))
            # Servers report usage per response: it is the sample's own length only when the response holds one choice.
            usage = (response.get("usage") or {}).get("completion_tokens") if len(choices) == 1 else None
            for choice in choices:
                tokens = choice.get("completion_tokens") or (choice.get("usage") or {}).get("completion_tokens") or usage
                completions.append(
                    Completion(choice["message"]["content"] or "", tokens, "length" if choice.get("finish_reason") == "length" else "stop")
                )
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
