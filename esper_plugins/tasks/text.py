"""The ``text`` task: language modelling on a real corpus (TinyStories or any text).

The corpus is read when the task is built, because its vocabulary decides the host's output
size: local text, json, parquet or arrow files, or a dataset download (`corpus`). The
vocabulary is built from it: characters or words (`tokens`, as the embedded ``stories``
task's), or a byte-level BPE trained on it or loaded from a ``tokenizer.json`` (`bpe`).
Windowing is the ``stories`` task's (`tokens.windows`).
"""

from __future__ import annotations

from pathlib import Path

from esper.plugin import EsperError, Registries, SlottedHost, Task, TaskData, TaskInfo
from esper_plugins.tasks.bpe import BPETokenizer
from esper_plugins.tasks.config import TextTaskConfig
from esper_plugins.tasks.corpus import read_corpus
from esper_plugins.tasks.stories import build_lm_host
from esper_plugins.tasks.tokens import TextTokenizer, Vocab, split_tokens, windows

#: The BPE's end-of-text token when ``separator`` is empty (GPT-2's and TinyStories' own).
BPE_EOS = "<|endoftext|>"


def build_tokenizer(config: TextTaskConfig, documents: list[str]) -> TextTokenizer:
    """The vocabulary ``config`` asks for, built from ``documents`` (or loaded)."""
    if config.tokenizer == "bpe":
        eos_token = config.separator or BPE_EOS
        if config.tokenizer_path is not None:
            return BPETokenizer.load(Path(config.tokenizer_path), eos_token=eos_token)
        return BPETokenizer.train(documents, vocab_size=config.max_vocab, eos_token=eos_token)
    tokens = [t for doc in documents for t in split_tokens(doc, config.tokenizer)]
    max_size = config.max_vocab if config.tokenizer == "word" else None
    return Vocab.build(config.tokenizer, tokens, max_size=max_size)


class TextTask(Task):
    """Next-token prediction on a local corpus (or a downloaded dataset)."""

    def __init__(self, config: TextTaskConfig) -> None:
        if config is None:
            raise EsperError("text task: needs a config with `path` (the corpus to read)")
        self.config = config
        docs, self.source = read_corpus(config)
        self.tokenizer = build_tokenizer(config, docs)
        self._ids = self.tokenizer.encode_documents(docs)
        n_val = int(len(self._ids) * config.val_fraction)
        n_train = len(self._ids) - n_val
        if min(n_train, n_val) < config.block_size + 1:
            raise EsperError(
                f"text task: {self.source} is too short: its {len(self._ids)} tokens give "
                f"{n_train} training and {n_val} validation tokens, and each split needs at "
                f"least block_size + 1 = {config.block_size + 1}"
            )
        self._n_val = n_val
        self.info = TaskInfo(
            kind="language_model",
            topology="transformer",
            num_outputs=len(self.tokenizer),
            batch_size=config.batch_size,
            host_lr=config.host_lr,
            seed_lr=config.seed_lr,
        )

    def build_host(self, registries: Registries) -> SlottedHost:
        return build_lm_host(
            registries,
            task="text",
            host_name=self.config.host_name,
            overrides=self.config.host,
            block_size=self.config.block_size,
            vocab_size=len(self.tokenizer),
        )

    def load(self, *, seed: int, data_dir: Path | None = None) -> TaskData:
        """The corpus' windows: the last ``val_fraction`` of the tokens validates.

        The data is the corpus, so ``seed`` changes nothing here (the engine's batch order is
        seeded); ``path`` is read as configured, so ``data_dir`` is not used either.
        """
        split = len(self._ids) - self._n_val
        train_x, train_y = windows(self._ids[:split], self.config.block_size)
        val_x, val_y = windows(self._ids[split:], self.config.block_size)
        return TaskData(train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y)


def create_text(config: TextTaskConfig) -> TextTask:
    return TextTask(config)
