"""Local generation with transformers' `model.generate` (CPU or GPU), for small models and for the tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import missing_extra
from .protocol import BackendInfo, Completion, Request, SamplingSettings, request_seed


def files_hash(model_dir: str) -> str:
    """A revision for a local model: the hash of its config and weight file names and sizes."""
    path = Path(model_dir)
    if not path.is_dir():
        return "hub"
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.is_file():
            digest.update(f"{file.name}:{file.stat().st_size}".encode())
    return digest.hexdigest()[:16]


class TransformersBackend:
    def __init__(self, model: str, device: str = "cpu", dtype: str = "auto", revision: str | None = None):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise missing_extra("torch and transformers", "train") from None
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        self.model = AutoModelForCausalLM.from_pretrained(model, revision=revision, dtype=dtype).to(device).eval()
        self.device = device
        self.info = BackendInfo("transformers", model, revision or files_hash(model))

    def _encode(self, prompt: str):
        if self.tokenizer.chat_template:
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
        else:
            ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"]
        return ids.to(self.device)

    def generate(self, requests: list[Request], settings: SamplingSettings):
        """Yields (request, completions) as each prompt finishes."""
        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        for request in requests:
            ids = self._encode(request.prompt)
            self.torch.manual_seed(request_seed(settings, request))
            with self.torch.no_grad():
                output = self.model.generate(
                    ids,
                    attention_mask=self.torch.ones_like(ids),
                    do_sample=True,
                    temperature=settings.temperature,
                    top_p=settings.top_p,
                    max_new_tokens=settings.max_tokens,
                    num_return_sequences=request.n,
                    pad_token_id=pad,
                    eos_token_id=eos,
                )
            completions = []
            for row in output[:, ids.shape[1] :].tolist():
                stopped = eos in row
                generated = row[: row.index(eos)] if stopped else row
                completions.append(
                    Completion(
                        self.tokenizer.decode(generated, skip_special_tokens=True),
                        len(generated) + int(stopped),
                        "stop" if stopped else "length",
                    )
                )
            yield request, completions
