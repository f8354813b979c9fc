"""Tokenisation and windowing shared by the language-modelling tasks.

`TextTokenizer` is what a language-modelling task needs of a tokenizer; `Vocab` is the one
built here (the text task's byte-level BPE is `esper_plugins.tasks.bpe.BPETokenizer`). Two
vocabularies, both built from text the task owns (no downloads, no external vocabulary):

- ``char``: one token per character, case kept;
- ``word``: lower-cased words (runs of letters and digits) and single punctuation marks;
  whitespace only separates tokens, so decoding joins words with spaces.

Token 0 is the end-of-text token ``<eos>`` (between documents) and token 1 is ``<unk>``
(words outside a capped vocabulary). The rest are sorted, so a vocabulary depends only on the
set of tokens it was built from, never on the order in which they were seen.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

import attrs
import torch

EOS = "<eos>"
UNK = "<unk>"
SPECIALS = (EOS, UNK)
_WORD_RE = re.compile(r"\w+|[^\w\s]")


class TextTokenizer(Protocol):
    """A tokenizer of a language-modelling task: ids ``0 .. len - 1``, one of them end-of-text."""

    @property
    def eos_id(self) -> int:
        """The id that ends every document."""
        ...

    def __len__(self) -> int:
        """The vocabulary size (the host's embedding rows): every id is below it."""
        ...

    def encode_documents(self, documents: Iterable[str]) -> list[int]:
        """Token ids of the documents, each followed by ``eos_id``."""
        ...

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """The text of ``ids``."""
        ...


def split_tokens(text: str, tokenizer: str) -> list[str]:
    """The token strings of ``text`` for ``tokenizer`` ("char" or "word")."""
    if tokenizer == "char":
        return list(text)
    if tokenizer == "word":
        return _WORD_RE.findall(text.lower())
    raise ValueError(f"unknown tokenizer {tokenizer!r}; use 'char' or 'word'")


@attrs.frozen
class Vocab:
    """A token <-> id mapping. ``tokens[0]`` is ``<eos>`` and ``tokens[1]`` is ``<unk>``."""

    tokenizer: str
    tokens: tuple[str, ...]
    index: dict[str, int] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.tokens[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}, got {self.tokens[:2]}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("a vocabulary holds each token once")
        object.__setattr__(self, "index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, tokenizer: str, tokens: Iterable[str], *, max_size: int | None = None) -> Vocab:
        """The vocabulary of ``tokens``; with ``max_size``, the most frequent ones (ties by token)."""
        counts = Counter(t for t in tokens if t not in SPECIALS)
        kept = sorted(counts)
        if max_size is not None and len(kept) + len(SPECIALS) > max_size:
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            kept = sorted(t for t, _ in ranked[: max_size - len(SPECIALS)])
        return cls(tokenizer, (*SPECIALS, *kept))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def eos_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def encode(self, text: str) -> list[int]:
        unk = self.unk_id
        return [self.index.get(t, unk) for t in split_tokens(text, self.tokenizer)]

    def encode_documents(self, documents: Iterable[str]) -> list[int]:
        """Token ids of the documents, each followed by ``<eos>``."""
        ids: list[int] = []
        for doc in documents:
            ids.extend(self.encode(doc))
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        parts = [self.tokens[i] for i in values]
        return ("" if self.tokenizer == "char" else " ").join(parts)


def windows(
    ids: Sequence[int] | torch.Tensor, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a token stream into ``(x, y)``: ``[N, block_size]`` int64 each, ``y`` = ``x`` shifted.

    Window ``i`` is ``ids[i*B : i*B + B + 1]`` (stride ``B = block_size``, so consecutive windows
    share one token and every token is a target once); ``x = w[:-1]``, ``y = w[1:]``. A tail
    shorter than ``B + 1`` tokens is dropped.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    stream = torch.as_tensor(ids, dtype=torch.long)
    n = (stream.numel() - 1) // block_size
    if n < 1:
        empty = torch.empty(0, block_size, dtype=torch.long)
        return empty, empty.clone()
    # unfold(size B+1, step B) views overlapping windows without copying the stream.
    w = stream[: n * block_size + 1].unfold(0, block_size + 1, block_size)
    return w[:, :-1].contiguous(), w[:, 1:].contiguous()
