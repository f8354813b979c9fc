"""The ``text`` task: language modelling on a local text file (TinyStories or any UTF-8 text).

The file is read when the task is built, because its vocabulary decides the host's output
size. Tokenisation and windowing are the embedded ``stories`` task's (`tokens`).
"""

from __future__ import annotations

from pathlib import Path

from esper.plugin import EsperError, Registries, SlottedHost, Task, TaskData, TaskInfo
from esper_plugins.tasks.config import TextTaskConfig
from esper_plugins.tasks.stories import build_lm_host
from esper_plugins.tasks.tokens import Vocab, split_tokens, windows


def read_documents(path: Path, *, separator: str, max_chars: int | None) -> list[str]:
    """The file's documents (split at ``separator``, stripped, empty ones dropped)."""
    try:
        with path.open(encoding="utf-8") as f:
            text = f.read() if max_chars is None else f.read(max_chars)
    except FileNotFoundError:
        raise EsperError(
            f"text task: file {str(path)!r} does not exist (set [task] path to a UTF-8 text file)"
        ) from None
    except IsADirectoryError:
        raise EsperError(f"text task: {str(path)!r} is a directory, not a text file") from None
    except UnicodeDecodeError as exc:
        raise EsperError(f"text task: {str(path)!r} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise EsperError(f"text task: cannot read {str(path)!r}: {exc.strerror}") from None
    parts = text.split(separator) if separator else [text]
    docs = [d.strip() for d in parts]
    return [d for d in docs if d]


class TextTask(Task):
    """Next-token prediction on a local text file."""

    def __init__(self, config: TextTaskConfig) -> None:
        if config is None:
            raise EsperError("text task: needs a config with `path` (the text file to read)")
        self.config = config
        self.path = Path(config.path)
        docs = read_documents(self.path, separator=config.separator, max_chars=config.max_chars)
        tokens = [t for doc in docs for t in split_tokens(doc, config.tokenizer)]
        max_size = config.max_vocab if config.tokenizer == "word" else None
        self.vocab = Vocab.build(config.tokenizer, tokens, max_size=max_size)
        self._ids = self.vocab.encode_documents(docs)
        n_val = int(len(self._ids) * config.val_fraction)
        n_train = len(self._ids) - n_val
        if min(n_train, n_val) < config.block_size + 1:
            raise EsperError(
                f"text task: {str(self.path)!r} is too short: its {len(self._ids)} tokens give "
                f"{n_train} training and {n_val} validation tokens, and each split needs at "
                f"least block_size + 1 = {config.block_size + 1}"
            )
        self._n_val = n_val
        self.info = TaskInfo(
            kind="language_model",
            topology="transformer",
            num_outputs=len(self.vocab),
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
            vocab_size=len(self.vocab),
        )

    def load(self, *, seed: int, data_dir: Path | None = None) -> TaskData:
        """The file's windows: the last ``val_fraction`` of the tokens validates.

        The data is the file, so ``seed`` changes nothing here (the engine's batch order is
        seeded); ``path`` is read as configured, so ``data_dir`` is not used either.
        """
        split = len(self._ids) - self._n_val
        train_x, train_y = windows(self._ids[:split], self.config.block_size)
        val_x, val_y = windows(self._ids[split:], self.config.block_size)
        return TaskData(train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y)


def create_text(config: TextTaskConfig) -> TextTask:
    return TextTask(config)
