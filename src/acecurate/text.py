"""Text normalisation, tokenisation and n-gram hashing shared by dedup and decontamination.

Token hashes are stable across processes and machines (pandas' SipHash with a fixed key), so benchmark fingerprints
can be shipped. All n-gram hashing is vectorised over a whole corpus at once: the tokens of every row are hashed in
one call, and n-gram hashes are built from them with n numpy operations, not one per row.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

# Bump when normalize() or tokenize() change: shipped fingerprints record it, and stale ones are rejected.
NORMALIZER_VERSION = 1

_LATEX_NOISE = re.compile(
    r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|displaystyle|textstyle|limits|quad|qquad)(?![a-z])"
    r"|\\[,;:! ]|~|\$"
)
_FRAC_VARIANTS = re.compile(r"\\[dt]frac(?![a-z])")
_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+")


def normalize(text: str) -> str:
    """Meaning-preserving canonical form: NFKC, lower case, no `$`, no LaTeX spacing or sizing, single spaces.

    Digits are kept as they are: "x=12" and "x=13" stay different.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _TEXT_WRAPPERS.sub(r" \1 ", text)
    text = _FRAC_VARIANTS.sub(r"\\frac", text)
    text = _LATEX_NOISE.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def tokenize(text: str) -> list[str]:
    """Word tokens of the normalised text (letters, digits, underscore); punctuation and LaTeX braces are dropped."""
    return _TOKEN.findall(normalize(text))


def hash_strings(strings: list[str]) -> np.ndarray:
    """Stable 64-bit hashes of strings, computed in C."""
    import pandas as pd

    if not strings:
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_array(np.asarray(strings, dtype=object), categorize=False)


@dataclass
class TokenizedCorpus:
    """The token hashes of many texts, concatenated, with offsets: text i is hashes[offsets[i]:offsets[i+1]]."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = n_texts + 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def subset(self, rows: np.ndarray) -> "TokenizedCorpus":
        lengths = self.lengths[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        take = np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in rows]) if len(rows) else np.zeros(0, np.int64)
        return TokenizedCorpus(self.hashes[take], offsets)


def tokenize_corpus(texts) -> TokenizedCorpus:
    token_lists = [tokenize(t) for t in texts]
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    offsets = np.zeros(len(token_lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = [tok for toks in token_lists for tok in toks]
    return TokenizedCorpus(hash_strings(flat), offsets)


# Odd 64-bit multiplier for the polynomial combination of token hashes (arithmetic wraps mod 2^64).
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
# Marks a whole-text shingle (text shorter than n) so it never equals a true n-gram of the same tokens.
_SHORT_TEXT_SALT = np.uint64(0x5BD1E9955BD1E995)


@dataclass
class Shingles:
    """N-gram hashes of a corpus: hashes[i] belongs to text owner[i]. Texts shorter than n give one whole-text shingle."""

    hashes: np.ndarray  # uint64
    owner: np.ndarray  # int64
    start: np.ndarray  # int64: position of the shingle's first token within its text
    n_texts: int

    def per_text(self) -> list[np.ndarray]:
        order = np.argsort(self.owner, kind="stable")
        bounds = np.searchsorted(self.owner[order], np.arange(self.n_texts + 1))
        sorted_hashes = self.hashes[order]
        return [sorted_hashes[bounds[i] : bounds[i + 1]] for i in range(self.n_texts)]


def window_hashes(corpus: TokenizedCorpus, n: int, salted: bool = False) -> Shingles:
    """Hashes of every n-token window that lies inside one text. `salted` gives the whole-text shingle form, so a
    window equal to a short text (fewer than n tokens) matches that text's shingle."""
    h, lengths = corpus.hashes, corpus.lengths
    windows = len(h) - n + 1
    if windows <= 0:
        return Shingles(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64), len(corpus))
    with np.errstate(over="ignore"):
        acc = h[:windows] + (_SHORT_TEXT_SALT * _MULTIPLIER if salted else np.uint64(0))
        for i in range(1, n):
            acc = acc * _MULTIPLIER + h[i : i + windows]
    starts = np.arange(windows, dtype=np.int64)
    owner_of_token = np.repeat(np.arange(len(corpus), dtype=np.int64), lengths)
    valid = owner_of_token[starts] == owner_of_token[starts + n - 1]  # the window ends in the text it starts in
    owner = owner_of_token[starts[valid]]
    return Shingles(acc[valid], owner, starts[valid] - corpus.offsets[owner], len(corpus))


def shingle_corpus(corpus: TokenizedCorpus, n: int) -> Shingles:
    """All word n-gram hashes of every text, computed in n vectorised passes over the whole corpus; a text shorter
    than n gives one whole-text shingle."""
    full = window_hashes(corpus, n)
    lengths = corpus.lengths
    short_ids = np.flatnonzero((lengths > 0) & (lengths < n))
    short_hashes = np.empty(len(short_ids), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k, i in enumerate(short_ids):
            acc = _SHORT_TEXT_SALT
            for token_hash in corpus.hashes[corpus.offsets[i] : corpus.offsets[i + 1]]:
                acc = acc * _MULTIPLIER + token_hash
            short_hashes[k] = acc
    return Shingles(np.concatenate([full.hashes, short_hashes]), np.concatenate([full.owner, short_ids.astype(np.int64)]),
                    np.concatenate([full.start, np.zeros(len(short_ids), np.int64)]), len(corpus))
