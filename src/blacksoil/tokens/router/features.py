"""Prompt features for the quality predictor: hashed n-grams with TF-IDF, plus a few counts.

* word unigrams and bigrams, and character 3- to 5-grams (which catch notation, numbers and word
  pieces that whole words miss), each family hashed into its own ``2**bits`` buckets;
* six counts (length, how many numbers, how many distinct, sentences, ``%``, ``/``): the "how
  many steps is this problem" signal that n-gram identity misses, standardised and clipped.

Why these: on the RouteLLM evaluation data a linear model over them beat one over MiniLM sentence
embeddings while costing about 0.1 ms per prompt instead of about 10 ms (see docs/router.md).
Hashing keeps the featurizer vocabulary-free: a prompt maps to bucket indices with no lookup
table, and the only learned state is each bucket's IDF and the counts' mean and spread.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

_WORD = re.compile(r"\w\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_BIGRAM_MIX = np.uint64(0x9E3779B97F4A7C15)
_CHAR_MIX = np.uint64(0x100000001B3)
_CHAR_NS = (3, 4, 5)
N_COUNTS = 6
_CLIP = 3.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def counts(text: str) -> list[float]:
    """Shape of the prompt, independent of its words."""
    numbers = _NUMBER.findall(text)
    return [
        np.log1p(len(text)),
        np.log1p(len(numbers)),
        np.log1p(len(set(numbers))),
        np.log1p(text.count(".") + text.count("?")),
        float("%" in text),
        float("/" in text),
    ]


def hashed_terms(text: str, bits: int) -> IntArray:
    """Bucket indices (with repeats): words and word pairs in ``[0, 2**bits)``, character n-grams after."""
    lowered = text.lower()
    mask = np.uint64((1 << bits) - 1)
    return np.concatenate([_word_hashes(lowered) & mask, (_char_hashes(lowered) & mask) + np.uint64(1 << bits)]).astype(
        np.int64
    )


def _word_hashes(text: str) -> npt.NDArray[np.uint64]:
    words = _WORD.findall(text)
    uni = np.fromiter((zlib.crc32(w.encode()) for w in words), dtype=np.uint64, count=len(words))
    return np.concatenate([uni, (uni[:-1] * _BIGRAM_MIX) ^ uni[1:]])


def _char_hashes(text: str) -> npt.NDArray[np.uint64]:
    """A rolling FNV-style hash of every 3-, 4- and 5-byte window of the whitespace-normalised text."""
    data = np.frombuffer(" ".join(text.split()).encode(), dtype=np.uint8).astype(np.uint64)
    out = [np.zeros(0, dtype=np.uint64)]
    for n in _CHAR_NS:
        count = len(data) - n + 1
        if count <= 0:
            break
        h = np.full(count, n, dtype=np.uint64)
        for k in range(n):
            h = (h * _CHAR_MIX) ^ data[k : k + count]
        out.append(h)
    return np.concatenate(out)


@dataclass
class Featurizer:
    """Maps a prompt to a sparse row: ``2 * 2**bits`` TF-IDF columns, then ``N_COUNTS`` standardised counts."""

    bits: int
    idf: FloatArray
    count_mean: FloatArray
    count_std: FloatArray

    @property
    def n_terms(self) -> int:
        return 2 << self.bits

    @property
    def width(self) -> int:
        return self.n_terms + N_COUNTS

    @classmethod
    def fit(cls, prompts: Sequence[str], bits: int = 18, min_df: int = 2) -> Featurizer:
        df = np.zeros(2 << bits, dtype=np.float64)
        for text in prompts:
            df[np.unique(hashed_terms(text, bits))] += 1
        n = len(prompts)
        idf = np.log((1 + n) / (1 + df)) + 1.0
        idf[df < min_df] = 0.0  # a term seen once carries noise, not signal
        raw = np.array([counts(t) for t in prompts], dtype=np.float64).reshape(n, N_COUNTS)
        std = raw.std(axis=0)
        return cls(bits, idf, raw.mean(axis=0), np.where(std > 1e-9, std, 1.0))  # a constant count: left unscaled

    def row(self, text: str) -> tuple[IntArray, FloatArray]:
        """The prompt's non-zero columns and their values."""
        terms, tf = np.unique(hashed_terms(text, self.bits), return_counts=True)
        values = (1.0 + np.log(tf)) * self.idf[terms]
        keep = values > 0
        terms, values = terms[keep], values[keep]
        norm = float(np.sqrt(values @ values))
        if norm > 0:
            values /= norm
        # clipped: a prompt far outside the training data must not extrapolate a linear trend
        extra = np.clip((np.asarray(counts(text)) - self.count_mean) / self.count_std, -_CLIP, _CLIP)
        columns = np.concatenate([terms, self.n_terms + np.arange(N_COUNTS)])
        return columns, np.concatenate([values, extra])

    def matrix(self, prompts: Sequence[str]) -> sparse.csr_matrix:
        rows = [self.row(t) for t in prompts]
        indptr = np.cumsum([0] + [len(c) for c, _ in rows])
        columns = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, np.int64)
        values = np.concatenate([v for _, v in rows]) if rows else np.zeros(0)
        return sparse.csr_matrix((values, columns, indptr), shape=(len(prompts), self.width))
