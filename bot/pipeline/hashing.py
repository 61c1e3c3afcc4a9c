"""Hashed n-gram counts of texts, as scikit-learn's HashingVectorizer computes them, in numpy.

A topic model (:mod:`bot.pipeline.classify`) stores weights by hashed feature index, and the
indices have always been those of scikit-learn's ``HashingVectorizer`` (lower-cased text, the
token pattern ``(?u)\\b\\w\\w+\\b``, word n-grams joined by a space, ``char_wb`` character
n-grams of each space-padded word, the signed 32-bit MurmurHash3 of each n-gram's UTF-8 bytes,
``abs(hash) % n_features``). Importing scikit-learn's text module costs a running bot ~75 MB
of memory for what is, when a model is *applied*, this one hash. So it is done here: every
n-gram is a substring of one string per text (the words joined by single spaces, or the padded
words laid end to end), so its bytes are a slice of that string's UTF-8 encoding, and all the
n-grams of a text are hashed together by a few numpy passes over those slices, without a Python
string per n-gram. ``tests/test_hashing.py`` checks the counts against scikit-learn's on real
texts, entry for entry; training still uses scikit-learn for the fits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["hashed_counts", "murmurhash3_32"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WHITE_SPACES = re.compile(r"\s\s+")

_C1 = np.uint32(0xCC9E2D51)
_C2 = np.uint32(0x1B873593)
_M5 = np.uint32(5)
_N1 = np.uint32(0xE6546B64)
_F1 = np.uint32(0x85EBCA6B)
_F2 = np.uint32(0xC2B2AE35)

I64 = npt.NDArray[np.int64]


def _rotl(values: npt.NDArray[np.uint32], bits: int) -> npt.NDArray[np.uint32]:
    rotated: npt.NDArray[np.uint32] = (values << np.uint32(bits)) | (values >> np.uint32(32 - bits))
    return rotated


def _mix_block(block: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    block = block * _C1
    block = _rotl(block, 15)
    mixed: npt.NDArray[np.uint32] = block * _C2
    return mixed


def murmurhash3_32(data: bytes, starts: I64, lengths: I64) -> npt.NDArray[np.int32]:
    """Signed MurmurHash3 (x86, 32-bit, seed 0) of each slice ``data[start:start + length]``.

    The same values as scikit-learn's ``murmurhash3_32(..., positive=False)`` of the slices.
    """
    count = starts.size
    padded = np.frombuffer(data + b"\0\0\0\0", dtype=np.uint8)
    # Every 4-byte little-endian word of the data, at every byte offset.
    words = np.ndarray(
        shape=(max(padded.size - 3, 0),), dtype="<u4", buffer=padded.data, strides=(1,)
    )
    hashes = np.zeros(count, dtype=np.uint32)
    blocks = lengths >> 2
    active = np.flatnonzero(blocks > 0)
    block = 0
    while active.size:
        value = _mix_block(words[starts[active] + 4 * block].astype(np.uint32))
        mixed = _rotl(hashes[active] ^ value, 13)
        hashes[active] = mixed * _M5 + _N1
        block += 1
        active = active[blocks[active] > block]
    tail_length = lengths & 3
    tails = np.flatnonzero(tail_length)
    if tails.size:
        at = starts[tails] + (blocks[tails] << 2)
        size = tail_length[tails]
        tail = padded[at].astype(np.uint32)
        tail |= np.where(size > 1, padded[at + 1], 0).astype(np.uint32) << np.uint32(8)
        tail |= np.where(size > 2, padded[at + 2], 0).astype(np.uint32) << np.uint32(16)
        hashes[tails] ^= _mix_block(tail)
    hashes ^= lengths.astype(np.uint32)
    hashes ^= hashes >> np.uint32(16)
    hashes *= _F1
    hashes ^= hashes >> np.uint32(13)
    hashes *= _F2
    hashes ^= hashes >> np.uint32(16)
    return hashes.view(np.int32)


def _byte_offsets(text: str) -> tuple[bytes, I64]:
    """The UTF-8 bytes of ``text`` and the byte offset of each character (and of its end)."""
    data = text.encode("utf-8")
    if len(data) == len(text):
        return data, np.arange(len(text) + 1, dtype=np.int64)
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    sizes = 1 + (points >= 0x80).astype(np.int64) + (points >= 0x800) + (points >= 0x10000)
    offsets = np.zeros(len(text) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return data, offsets


def _word_ngram_hashes(text: str, ngrams: tuple[int, int]) -> npt.NDArray[np.int32]:
    """Hashes of the word n-grams of ``text`` (already lower-cased)."""
    tokens = _TOKEN.findall(text)
    if not tokens:
        return np.zeros(0, dtype=np.int32)
    # With the tokens joined by single spaces, the n-gram of tokens i..i+n-1 is the substring
    # from the start of token i to the end of token i+n-1, exactly as " ".join makes it.
    joined = " ".join(tokens)
    sizes = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    ends = np.cumsum(sizes + 1) - 1
    starts = ends - sizes
    data, offsets = _byte_offsets(joined)
    low, high = ngrams
    first: list[I64] = []
    last: list[I64] = []
    for n in range(low, min(high, len(tokens)) + 1):
        first.append(starts[: len(tokens) - n + 1])
        last.append(ends[n - 1 :])
    if not first:
        return np.zeros(0, dtype=np.int32)
    begin = offsets[np.concatenate(first)]
    return murmurhash3_32(data, begin, offsets[np.concatenate(last)] - begin)


def _char_wb_hashes(text: str, ngrams: tuple[int, int]) -> npt.NDArray[np.int32]:
    """Hashes of the ``char_wb`` n-grams of ``text`` (already lower-cased).

    Each word is padded with a space on either side; a padded word gets every n-gram for each
    n in the range, except that one no longer than n gives itself once and ends the range.
    """
    words = _WHITE_SPACES.sub(" ", text).split()
    if not words:
        return np.zeros(0, dtype=np.int32)
    # The padded words end to end: " w1  w2  w3 ".
    laid = " " + "  ".join(words) + " "
    padded = np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 2
    word_starts = np.cumsum(padded) - padded
    data, offsets = _byte_offsets(laid)
    low, high = ngrams
    first: list[I64] = []
    last: list[I64] = []
    for n in range(low, high + 1):
        # Words longer than n: every n-gram. Words exactly n or shorter: the whole padded
        # word, once, and only for the first n that reaches their length.
        longer = padded > n
        counts = np.where(longer, padded - n + 1, 0)
        total = int(counts.sum())
        if total:
            owners = np.repeat(np.arange(len(words)), counts)
            position = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            begin = word_starts[owners] + position
            first.append(begin)
            last.append(begin + n)
        whole = (padded <= n) & ((padded > n - 1) | (n == low))
        if whole.any():
            first.append(word_starts[whole])
            last.append(word_starts[whole] + padded[whole])
    begin = offsets[np.concatenate(first)]
    return murmurhash3_32(data, begin, offsets[np.concatenate(last)] - begin)


def _indices(hashes: npt.NDArray[np.int32], n_features: int) -> I64:
    """``abs(hash) % n_features``, with -2**31 mapped as scikit-learn maps it."""
    wide = hashes.astype(np.int64)
    out: I64 = np.abs(wide) % n_features
    out[wide == -(2**31)] = (2147483647 - (n_features - 1)) % n_features
    return out


def hashed_counts(
    texts: Sequence[str],
    n_features: int,
    word_ngrams: tuple[int, int],
    char_ngrams: tuple[int, int] | None,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """CSR arrays (indptr, indices, counts) of the hashed n-gram counts of ``texts``.

    Columns are the word n-gram block, then (with ``char_ngrams``) the ``char_wb`` block
    shifted by ``n_features``; within a row, indices are sorted and distinct.
    """
    rows: list[I64] = []
    columns: list[I64] = []
    for row, raw in enumerate(texts):
        text = raw.lower()
        found = _indices(_word_ngram_hashes(text, word_ngrams), n_features)
        if char_ngrams:
            chars = _indices(_char_wb_hashes(text, char_ngrams), n_features) + n_features
            found = np.concatenate([found, chars])
        columns.append(found)
        rows.append(np.full(found.size, row, dtype=np.int64))
    width = n_features * (2 if char_ngrams else 1)
    keys = np.concatenate(columns) + np.concatenate(rows) * width if columns else np.zeros(0)
    distinct, counts = np.unique(keys.astype(np.int64), return_counts=True)
    indptr = np.searchsorted(distinct, np.arange(len(texts) + 1, dtype=np.int64) * width)
    return (
        indptr.astype(np.int32),
        (distinct % width).astype(np.int32),
        counts.astype(np.float32),
    )
