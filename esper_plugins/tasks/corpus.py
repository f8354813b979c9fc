"""The ``text`` task's corpus: its documents, from local files or a dataset download.

``path`` is a file or a directory. A file's format comes from ``format``, or with ``format =
"auto"`` from its suffix: ``.json`` / ``.jsonl`` are json, ``.parquet`` parquet, ``.arrow``
arrow, anything else (``.txt``, ``.text``, no suffix) UTF-8 text. A directory is searched
recursively (hidden files and folders left out) for files with one of those suffixes, read in
the order of their paths; with ``format = "auto"`` they must all be of one format, otherwise
``format`` picks the files of its own.

Text files are split into documents at ``separator``. json, parquet and arrow files are read
through the ``datasets`` library (streamed: nothing is converted or cached), one document per
row, from the ``text_field`` column. ``download = true`` fetches ``dataset`` with
``datasets.load_dataset(dataset, split=split)`` into the Hugging Face cache instead.
Documents are stripped of surrounding whitespace and empty ones dropped. ``max_chars`` bounds
what is read: text files are cut after that many characters in all; rows are taken whole until
their total reaches it. ``datasets`` is optional (``pip install 'esper-nn[text]'``), imported
only when it is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from esper.plugin import EsperError
from esper_plugins.tasks.common import optional_import
from esper_plugins.tasks.config import TextTaskConfig

#: The format of each suffix ``format = "auto"`` knows (a file with another suffix is text).
SUFFIX_FORMATS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
    ".arrow": "arrow",
}


def read_corpus(config: TextTaskConfig) -> tuple[list[str], str]:
    """The corpus' documents, and how to name the corpus in a message."""
    if config.download:
        return download_documents(config), f"dataset {config.dataset!r}"
    if config.path is None:  # the config's own check says so first
        raise EsperError("config.task.path: set path to the corpus (a file or a directory)")
    path = Path(config.path)
    fetch = f"download = true to fetch {config.dataset!r}" if config.dataset else None
    fmt, files = corpus_files(path, config.format, fetch=fetch)
    if fmt == "text":
        docs = read_text_files(files, separator=config.separator, max_chars=config.max_chars)
    else:
        docs = read_dataset_files(
            files, fmt, text_field=config.text_field, max_chars=config.max_chars
        )
    return docs, repr(str(path))


def corpus_files(path: Path, fmt: str, *, fetch: str | None = None) -> tuple[str, list[Path]]:
    """The format and the files of the corpus at ``path`` (``fmt`` may be "auto").

    ``fetch`` is the other way to the corpus that a missing ``path`` mentions.
    """
    if path.is_dir():
        return _directory_files(path, fmt)
    if not path.exists():
        alternative = f", or {fetch}" if fetch else ""
        raise EsperError(
            f"config.task.path: {str(path)!r} does not exist (set [task] path to a text, json, "
            f"jsonl, parquet or arrow file, or a directory of them{alternative})"
        )
    if fmt == "auto":
        fmt = SUFFIX_FORMATS.get(path.suffix.lower(), "text")
    return fmt, [path]


def _directory_files(root: Path, fmt: str) -> tuple[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for file in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
        hidden = any(part.startswith(".") for part in file.relative_to(root).parts)
        kind = SUFFIX_FORMATS.get(file.suffix.lower())
        if kind is not None and not hidden and file.is_file():
            found.setdefault(kind, []).append(file)
    suffixes = ", ".join(SUFFIX_FORMATS)
    if fmt != "auto":
        if fmt not in found:
            mine = ", ".join(s for s, k in SUFFIX_FORMATS.items() if k == fmt)
            raise EsperError(f"config.task.path: {str(root)!r} holds no {fmt} files ({mine})")
        return fmt, found[fmt]
    if not found:
        raise EsperError(f"config.task.path: {str(root)!r} holds no corpus files ({suffixes})")
    if len(found) > 1:
        kinds = ", ".join(f"{k} ({files[0].name}, ...)" for k, files in sorted(found.items()))
        raise EsperError(
            f"config.task.format: {str(root)!r} holds files of several formats: {kinds}; "
            f"set format to the one to read"
        )
    [(kind, files)] = found.items()
    return kind, files


def read_text_files(files: list[Path], *, separator: str, max_chars: int | None) -> list[str]:
    """The files' documents (split at ``separator``), at most ``max_chars`` characters in all."""
    docs: list[str] = []
    left = max_chars
    for file in files:
        if left is not None and left <= 0:
            break
        text = _read_text(file, left)
        if left is not None:
            left -= len(text)
        parts = text.split(separator) if separator else [text]
        docs.extend(d for d in (part.strip() for part in parts) if d)
    return docs


def _read_text(path: Path, max_chars: int | None) -> str:
    try:
        with path.open(encoding="utf-8") as f:
            return f.read() if max_chars is None else f.read(max_chars)
    except FileNotFoundError:
        raise EsperError(f"config.task.path: file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise EsperError(f"config.task.path: {str(path)!r} is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise EsperError(
            f"config.task.path: {str(path)!r} is not UTF-8 text ({exc.reason}); for json, "
            f"parquet or arrow files set format"
        ) from None
    except OSError as exc:
        raise EsperError(f"config.task.path: cannot read {str(path)!r}: {exc.strerror}") from None


@attrs.define
class _Documents:
    """Documents taken from rows until their characters reach ``max_chars``."""

    text_field: str
    max_chars: int | None
    docs: list[str] = attrs.Factory(list)
    chars: int = 0

    @property
    def full(self) -> bool:
        return self.max_chars is not None and self.chars >= self.max_chars

    def take(self, rows: Iterable[Any], *, where: str) -> None:
        """Add each row's document, until full."""
        for row in rows:
            if not isinstance(row, Mapping) or self.text_field not in row:
                columns = ", ".join(map(str, row)) if isinstance(row, Mapping) else "none"
                raise EsperError(
                    f"config.task.text_field: {self.text_field!r} is not a column of {where} "
                    f"(its columns: {columns})"
                )
            text = row[self.text_field]
            if text is None:
                continue
            if not isinstance(text, str):
                raise EsperError(
                    f"config.task.text_field: column {self.text_field!r} of {where} holds "
                    f"{type(text).__name__} values, not text"
                )
            text = text.strip()
            if text:
                self.docs.append(text)
                self.chars += len(text)
                if self.full:
                    return


def read_dataset_files(
    files: list[Path], fmt: str, *, text_field: str, max_chars: int | None
) -> list[str]:
    """The rows' documents of json, parquet or arrow files, streamed through ``datasets``."""
    datasets = optional_import("datasets", extra="text", purpose=f"reading {fmt} files")
    documents = _Documents(text_field, max_chars)
    for file in files:
        if documents.full:
            break
        try:
            rows = datasets.load_dataset(fmt, data_files=[str(file)], split="train", streaming=True)
            documents.take(rows, where=repr(str(file)))
        except EsperError:
            raise
        except Exception as exc:  # any failure of the library to read the file is the file's
            raise EsperError(
                f"config.task.path: cannot read {str(file)!r} as {fmt} ({type(exc).__name__}: "
                f"{_first_line(exc)})"
            ) from None
    return documents.docs


def download_documents(config: TextTaskConfig) -> list[str]:
    """The documents of ``config.dataset``'s split, fetched with ``datasets.load_dataset``."""
    datasets = optional_import("datasets", extra="text", purpose="download = true")
    documents = _Documents(config.text_field, config.max_chars)
    try:
        rows = datasets.load_dataset(config.dataset, split=config.split)
    except Exception as exc:  # no network, no such dataset or split, ...
        raise EsperError(
            f"config.task.dataset: cannot load {config.dataset!r} (split {config.split!r}) with "
            f"the datasets library ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    documents.take(rows, where=f"dataset {config.dataset!r}")
    return documents.docs


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"
