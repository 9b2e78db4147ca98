"""A tiny random Qwen2-style model with a locally built tokenizer: no hub access.

Its vocabulary is made of answer pieces ("\\boxed{", "4", "}", a python code block that prints 1, ...), so a random
model emits gradable answers by chance and different prompts get different pass counts."""

from pathlib import Path

PIECES = [
    "\\boxed{4}",
    "\\boxed{5}",
    "\\boxed{",
    "}",
    "</think>",
    " The answer is ",
    " so ",
    "```python\nprint(1)\n```",
    "```python\nprint(2)\n```",
    "```python\n",
    "\n```",
    "\n",
]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[UNK]"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# An R1-style template: the generation prompt opens the reasoning, so the response holds only its `</think>`.
THINKING_TEMPLATE = CHAT_TEMPLATE.replace("assistant\n{% endif %}", "assistant\n<think>\n{% endif %}")


def build_tiny_model(directory: Path, seed: int = 0, thinking: bool = False) -> Path:
    """The tiny model; with `thinking`, an R1-style variant (a `<think>` token, opened by the chat template)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    vocab = {token: i for i, token in enumerate(SPECIAL + PIECES)}
    words = "0123456789"
    for ch in words:
        vocab.setdefault(ch, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(SPECIAL[:3])
    # The variant spells its generation prompt exactly (the letters of the roles are tokens), so a server that parses
    # the response after that prompt (transformers serve) finds where the assistant's turn, and its reasoning, begin.
    tokenizer.add_tokens(PIECES + (["<think>", "assistant", "user"] if thinking else []))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>", unk_token="[UNK]")
    fast.chat_template = THINKING_TEMPLATE if thinking else CHAT_TEMPLATE
    fast.save_pretrained(directory)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    if thinking:
        # As chat models ship it: sampling on (a server then samples at the request's temperature). A random model
        # favours the chat markers; never sampling them keeps its responses to answer pieces.
        model.generation_config.do_sample = True
        model.generation_config.suppress_tokens = [fast.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>", "[UNK]")]
    model.save_pretrained(directory)
    return directory
