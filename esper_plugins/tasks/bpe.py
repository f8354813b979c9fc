"""A byte-level BPE tokenizer for the ``text`` task, built with the ``tokenizers`` library.

Either trained on the task's own documents (``tokenizer = "bpe"``) or loaded from a Hugging
Face ``tokenizer.json`` (``tokenizer_path``). The trained one is GPT-2's kind of BPE: the
text is split into words, numbers, punctuation and runs of spaces, each byte becomes one of 256
base tokens (so no text is ever unknown, and decoding gives back exactly the text encoded),
and the most frequent adjacent pairs are merged until the vocabulary has ``vocab_size``
entries (fewer when no pair occurs twice). The end-of-text token is a special token with id 0,
as in the task's other vocabularies. Training is deterministic: the same documents and size
give the same vocabulary and merges in every process (``tests/plugins/test_tasks_text_bpe.py``
checks it across processes), so a resumed run rebuilds the vocabulary its checkpoint was
trained with.

``tokenizers`` is an optional dependency (``pip install 'esper-nn[text]'``), imported only
when a BPE is trained or loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from esper.plugin import EsperError
from esper_plugins.tasks.common import optional_import

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: Documents encoded per call into the library (each call runs in parallel over its batch).
_BATCH = 1024
#: Merges need a pair seen at least this often: a pair seen once is that one text's spelling.
_MIN_FREQUENCY = 2


def _require_tokenizers(purpose: str) -> None:
    optional_import("tokenizers", extra="text", purpose=purpose)


class BPETokenizer:
    """A `tokenizers.Tokenizer` seen as a `esper_plugins.tasks.tokens.TextTokenizer`."""

    def __init__(self, tokenizer: Tokenizer, *, eos_token: str) -> None:
        eos_id = tokenizer.token_to_id(eos_token)
        if eos_id is None:
            raise ValueError(f"the tokenizer has no end-of-text token {eos_token!r}")
        self.tokenizer = tokenizer
        self.eos_token = eos_token
        self._eos_id = eos_id
        ids = tokenizer.get_vocab(with_added_tokens=True).values()
        # Ids are dense in practice; the largest one decides the embedding rows regardless.
        self._size = max(ids, default=-1) + 1

    @classmethod
    def train(cls, documents: Sequence[str], *, vocab_size: int, eos_token: str) -> BPETokenizer:
        """A byte-level BPE of at most ``vocab_size`` tokens, ``eos_token`` at id 0."""
        _require_tokenizers("tokenizer = 'bpe'")
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE())
        # No prefix space: decoding then gives back the text exactly as it was.
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=_MIN_FREQUENCY,
            special_tokens=[eos_token],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(documents, trainer=trainer, length=len(documents))
        return cls(tokenizer, eos_token=eos_token)

    @classmethod
    def load(cls, path: Path, *, eos_token: str) -> BPETokenizer:
        """The tokenizer saved in ``path`` (a ``tokenizer.json``), used as it is."""
        _require_tokenizers("tokenizer_path")
        from tokenizers import Tokenizer

        if not path.is_file():
            raise EsperError(f"config.task.tokenizer_path: {str(path)!r} is not a file")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # the library raises a bare Exception for a malformed file
            raise EsperError(
                f"config.task.tokenizer_path: {str(path)!r} is not a tokenizer.json the "
                f"tokenizers library can read ({exc})"
            ) from None
        try:
            return cls(tokenizer, eos_token=eos_token)
        except ValueError:
            raise EsperError(
                f"config.task.separator: the tokenizer in {str(path)!r} has no token "
                f"{eos_token!r} to end documents with; set separator to its end-of-text token"
            ) from None

    def save(self, path: Path) -> None:
        """Write the tokenizer as a ``tokenizer.json`` (what ``tokenizer_path`` loads)."""
        self.tokenizer.save(str(path))

    @property
    def eos_id(self) -> int:
        return self._eos_id

    def __len__(self) -> int:
        return self._size

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def encode_documents(self, documents: Iterable[str]) -> list[int]:
        """Token ids of the documents, each followed by the end-of-text token."""
        docs = list(documents)
        ids: list[int] = []
        for start in range(0, len(docs), _BATCH):
            batch = docs[start : start + _BATCH]
            for encoding in self.tokenizer.encode_batch(batch, add_special_tokens=False):
                ids.extend(encoding.ids)
                ids.append(self._eos_id)
        return ids

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return self.tokenizer.decode(values, skip_special_tokens=False)
