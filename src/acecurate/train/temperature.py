"""The paper's temperature rule (AceReason-Nemotron 1.1): sample at the temperature that keeps the policy's
temperature-adjusted token entropy near a target (0.3).

Before a stage, the policy answers a pilot batch of the stage's prompts at each candidate temperature; the candidate
whose mean token entropy is closest to the target is the stage's temperature. The entropy is the one TRL's
GRPOTrainer logs as `entropy`: of the temperature-scaled next-token distribution softmax(logits / T), averaged over
every completion token (the first end-of-sequence token included, padding after it not). The choice holds for the
whole stage: TRL fixes the temperature when the trainer is built (its generation config, its vLLM sampling
parameters and its fused log-prob head all take it then), so a change within the trainer's life would mean patching it.
"""

from __future__ import annotations

import random

from ..errors import AcecurateError
from .recipe import TrainStage


def completion_mask(completion_ids, eos_ids: set[int]):
    """1 for each completion token up to and including the first end-of-sequence token, 0 after it (as TRL masks)."""
    import torch

    is_eos = torch.zeros_like(completion_ids, dtype=torch.bool)
    for eos in eos_ids:
        is_eos |= completion_ids == eos
    # The position of the first EOS (the length when there is none); tokens after it are padding.
    first = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1), completion_ids.shape[1])
    positions = torch.arange(completion_ids.shape[1], device=completion_ids.device).expand_as(completion_ids)
    return (positions <= first.unsqueeze(1)).int()


def entropy_sum(model, prompt_ids, prompt_mask, temperature: float, top_p: float, max_tokens: int, eos_ids: set[int], pad_id: int):
    """(sum of token entropies, token count) of completions sampled at `temperature` for left-padded prompts."""
    import torch

    with torch.no_grad():
        output = model.generate(
            input_ids=prompt_ids,
            attention_mask=prompt_mask,
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            top_k=0,  # TRL's sampling defaults, which replace the model's own generation config
            min_p=None,
            repetition_penalty=1.0,
            max_new_tokens=max_tokens,
            pad_token_id=pad_id,
            eos_token_id=sorted(eos_ids),
        )
        completion = output[:, prompt_ids.shape[1] :]
        mask = completion_mask(completion, eos_ids)
        total, count = 0.0, 0
        # One sequence at a time: the logits of a long completion over a large vocabulary are the memory peak.
        for row in range(output.shape[0]):
            length = int(mask[row].sum())
            if not length:
                continue
            tokens = torch.cat([prompt_ids[row][prompt_mask[row].bool()], completion[row, :length]])[None]  # no padding
            # The last length+1 positions predict the completion's tokens (and one past it, dropped).
            logits = model(input_ids=tokens, logits_to_keep=length + 1).logits[0, :length].float() / temperature
            logps = torch.log_softmax(logits, dim=-1)
            total += float(-(logps.exp() * logps).sum(-1).sum())
            count += length
    return total, count


def pilot_prompts(rows: list[dict], count: int, seed: int) -> list[list[dict]]:
    """A seeded sample of the stage's chat prompts, the same on every process and on every rerun."""
    chosen = random.Random(seed).sample(range(len(rows)), min(count, len(rows)))
    return [rows[i]["prompt"] for i in sorted(chosen)]


def choose_temperature(model, tokenizer, rows: list[dict], stage: TrainStage, seed: int) -> dict:
    """Measure each candidate temperature on a pilot batch and pick the one whose entropy is nearest the target.

    Each process samples its share of the pilot prompts and the sums are added across processes, so every process
    picks the same temperature. Returns {"temperature", "target_entropy", "pilot": [{temperature, entropy, tokens}]}."""
    import torch
    from accelerate import PartialState
    from accelerate.utils import reduce

    state = PartialState()
    pilot = stage.entropy_pilot
    prompts = pilot_prompts(rows, pilot.prompts, seed)[state.process_index :: state.num_processes]
    declared = model.generation_config.eos_token_id  # every end id the model declares ends a completion, as in TRL
    eos_ids = {tokenizer.eos_token_id, *([declared] if isinstance(declared, int) else declared or [])} - {None}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    side, tokenizer.padding_side = tokenizer.padding_side, "left"  # generation continues each prompt on the right
    try:
        encoded = (
            tokenizer.apply_chat_template(prompts, add_generation_prompt=True, padding=True, return_tensors="pt", return_dict=True).to(
                model.device
            )
            if prompts  # a process can have no share when there are fewer pilot prompts than processes
            else None
        )
    finally:
        tokenizer.padding_side = side
    model.eval()
    measured = []
    for index, temperature in enumerate(sorted(set(stage.entropy_pilot.temperatures))):
        torch.manual_seed(seed + 1000 * index + state.process_index)
        total, count = (
            entropy_sum(model, encoded["input_ids"], encoded["attention_mask"], temperature, stage.top_p, pilot.max_tokens, eos_ids, pad_id)
            if encoded is not None
            else (0.0, 0)
        )
        sums = torch.tensor([total, float(count)], dtype=torch.float32, device=model.device)
        if state.num_processes > 1:
            sums = reduce(sums, reduction="sum")
        total, count = float(sums[0]), int(sums[1])
        measured.append({"temperature": temperature, "entropy": total / count if count else None, "tokens": count})
    scored = [m for m in measured if m["entropy"] is not None]
    if not scored:
        raise AcecurateError(f"stage {stage.name}: the entropy pilot generated no tokens")
    best = min(scored, key=lambda m: abs(m["entropy"] - stage.target_entropy))  # ties: the lower temperature
    return {"temperature": best["temperature"], "target_entropy": stage.target_entropy, "pilot": measured}
