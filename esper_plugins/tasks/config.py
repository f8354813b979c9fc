"""Options of the built-in tasks (the ``[task]`` config table structures into these). No torch.

Every task has a ``host`` table of overrides for its host's own config class (for example
``[task.host] base_channels = 16``). The task merges them over its preset and builds the host
through the host registry, so the options are checked by the host plugin itself when the host
is built; this module never needs to know them.
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import validators as v

from esper.plugin import finite

TOKENIZERS = ("char", "word")
#: The text task's tokenizers: the two above and a byte-level BPE.
TEXT_TOKENIZERS = (*TOKENIZERS, "bpe")
#: How the text task reads its files ("auto": by the suffix).
TEXT_FORMATS = ("auto", "text", "json", "parquet", "arrow")
#: The smallest BPE vocabulary the text task trains: every byte and the end-of-text token.
BPE_MIN = 257

#: Largest dataset an option may ask for, in examples (images, windows): each is generated
#: or held in memory, so this is far beyond what fits yet keeps sizes finite.
_MAX_EXAMPLES = 10_000_000
#: Largest batch an option may ask for.
_MAX_BATCH = 65_536
#: Largest context (tokens per window): a position-embedding row per token.
_MAX_BLOCK = 65_536


def _host_overrides(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"host must be a table of host options, got {value!r}")
    return dict(value)


def _non_empty_str(_inst: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{attribute.name}' must be a non-empty string, got {value!r}")


def _count(low: int, high: int) -> Any:
    return [v.instance_of(int), v.ge(low), v.le(high)]


#: Most characters the text task reads: a terabyte of text (``read(10**30)`` overflows
#: instead of reading everything).
_MAX_CHARS = 10**12


def _optional_chars(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"'{attribute.name}' must be a positive integer or None, got {value!r}")
    if value is not None and value > _MAX_CHARS:
        raise ValueError(f"'{attribute.name}' must be <= {_MAX_CHARS}, got {value!r}")


def _host_field() -> Any:
    # Compared, but left out of the hash: a dict is unhashable.
    return attrs.field(factory=dict, converter=_host_overrides, hash=False)


def _lr_field(default: float) -> Any:
    return attrs.field(default=default, converter=float, validator=[finite, v.gt(0.0)])


@attrs.frozen(kw_only=True)
class ImageTaskConfig:
    """Options of the embedded image tasks (``image``, ``image-impaired``, ``image-minimal``).

    The images are generated procedurally from the run seed (no files, no network): 32x32 RGB,
    ``classes`` classes, each a family of ``modes`` parametric patterns (gratings, plaids,
    rings, checkerboards, spokes) at random positions, scales and phases, over coloured
    clutter, with smaller distractor patterns and pixel noise. ``modes``, ``noise`` and
    ``distractors`` set the difficulty.
    """

    classes: int = attrs.field(default=12, validator=[v.instance_of(int), v.ge(2), v.le(256)])
    train_size: int = attrs.field(default=6000, validator=_count(1, _MAX_EXAMPLES))
    val_size: int = attrs.field(default=1200, validator=_count(1, _MAX_EXAMPLES))
    #: Prototype patterns per class (a class is a family of unrelated-looking patterns).
    modes: int = attrs.field(default=3, validator=[v.instance_of(int), v.ge(1), v.le(16)])
    #: Standard deviation of the uniform pixel noise, in units of the [0, 1] pixel range.
    noise: float = attrs.field(default=0.1, converter=float, validator=[v.ge(0.0), v.le(1.0)])
    #: Smaller, fainter patterns of random classes added to every image.
    distractors: int = attrs.field(default=2, validator=[v.instance_of(int), v.ge(0), v.le(8)])
    #: Random crop (padding 4) and horizontal flip of training batches, on the device.
    augment: bool = attrs.field(default=True, validator=v.instance_of(bool))
    batch_size: int = attrs.field(default=128, validator=_count(1, _MAX_BATCH))
    host_lr: float = _lr_field(0.01)
    seed_lr: float = _lr_field(0.01)
    #: Registry name of the host (any host plugin of topology ``cnn``).
    host_name: str = attrs.field(default="cnn", validator=[v.instance_of(str), v.min_len(1)])
    #: Overrides of the host's config class, merged over the task's preset.
    host: dict[str, Any] = _host_field()  # noqa: RUF009 (an attrs field, not a default)


@attrs.frozen(kw_only=True)
class CIFAR10TaskConfig:
    """Options of the ``cifar10`` task (CIFAR-10 from local files, or downloaded on request).

    ``root`` overrides the run's data directory; ``download`` fetches the dataset with
    torchvision (``pip install 'esper-nn[vision]'``). Without torchvision the standard python
    batches in ``<root>/cifar-10-batches-py`` are read directly.
    """

    root: str | None = attrs.field(default=None, validator=v.optional(v.instance_of(str)))
    download: bool = attrs.field(default=False, validator=v.instance_of(bool))
    #: Use only the first N training / test images (None: all 50,000 / 10,000).
    train_size: int | None = attrs.field(
        default=None, validator=v.optional(_count(1, _MAX_EXAMPLES))
    )
    val_size: int | None = attrs.field(default=None, validator=v.optional(_count(1, _MAX_EXAMPLES)))
    augment: bool = attrs.field(default=True, validator=v.instance_of(bool))
    batch_size: int = attrs.field(default=128, validator=_count(1, _MAX_BATCH))
    host_lr: float = _lr_field(0.01)
    seed_lr: float = _lr_field(0.01)
    host_name: str = attrs.field(default="cnn", validator=[v.instance_of(str), v.min_len(1)])
    host: dict[str, Any] = _host_field()  # noqa: RUF009 (an attrs field, not a default)


@attrs.frozen(kw_only=True)
class StoriesTaskConfig:
    """Options of the embedded language-modelling task ``stories``.

    The corpus is generated from a small grammar of tiny stories (characters, places, objects,
    simple plots), deterministic from the run seed; the vocabulary is the grammar's own, so it
    does not depend on the seed. Stories are joined with an end-of-text token and cut into
    non-overlapping windows of ``block_size + 1`` tokens (inputs ``w[:-1]``, targets ``w[1:]``).
    """

    tokenizer: str = attrs.field(default="word", validator=v.in_(TOKENIZERS))
    block_size: int = attrs.field(default=64, validator=_count(2, _MAX_BLOCK))
    train_windows: int = attrs.field(default=1500, validator=_count(1, _MAX_EXAMPLES))
    val_windows: int = attrs.field(default=300, validator=_count(1, _MAX_EXAMPLES))
    batch_size: int = attrs.field(default=32, validator=_count(1, _MAX_BATCH))
    host_lr: float = _lr_field(0.1)
    seed_lr: float = _lr_field(0.1)
    host_name: str = attrs.field(
        default="transformer", validator=[v.instance_of(str), v.min_len(1)]
    )
    host: dict[str, Any] = _host_field()  # noqa: RUF009 (an attrs field, not a default)


@attrs.frozen(kw_only=True)
class TextTaskConfig:
    """Options of the ``text`` task: language modelling on a local corpus (docs/running.md).

    ``path`` is a file or a directory of files, read as given (relative paths from the working
    directory): UTF-8 text, or json / jsonl / parquet / arrow read through the ``datasets``
    library (``format``; ``text_field`` names the column of each document). With ``download =
    true`` and ``dataset`` set, the documents come from ``datasets.load_dataset(dataset,
    split=split)`` instead and ``path`` is not read. In a text file, documents are separated by
    ``separator`` (TinyStories' ``<|endoftext|>`` by default); every document ends with the
    end-of-text token. The vocabulary is built from the corpus itself: characters, words (the
    ``max_vocab - 2`` most frequent plus end-of-text and unknown), or a byte-level BPE of at
    most ``max_vocab`` tokens trained on it; ``tokenizer_path`` loads a BPE (a Hugging Face
    ``tokenizer.json``) instead of training one. The last ``val_fraction`` of the tokens is the
    validation split.
    """

    #: A file or a directory of files (None only when ``download`` fetches ``dataset``).
    path: str | None = attrs.field(default=None, validator=v.optional(_non_empty_str))
    #: How the files are read: "auto" (by suffix), "text", "json", "parquet" or "arrow".
    format: str = attrs.field(default="auto", validator=v.in_(TEXT_FORMATS))
    #: The column that holds each document (json, parquet, arrow and downloaded datasets).
    text_field: str = attrs.field(default="text", validator=_non_empty_str)
    #: A dataset on the Hugging Face hub, fetched with ``download = true``.
    dataset: str | None = attrs.field(default=None, validator=v.optional(_non_empty_str))
    download: bool = attrs.field(default=False, validator=v.instance_of(bool))
    #: The split of ``dataset`` to download (``datasets`` split syntax: "train[:10%]" works).
    split: str = attrs.field(default="train", validator=_non_empty_str)
    tokenizer: str = attrs.field(default="char", validator=v.in_(TEXT_TOKENIZERS))
    #: A Hugging Face ``tokenizer.json`` to use as it is (tokenizer = "bpe"; nothing is trained).
    tokenizer_path: str | None = attrs.field(default=None, validator=v.optional(_non_empty_str))
    separator: str = attrs.field(default="<|endoftext|>", validator=v.instance_of(str))
    #: Read at most this many characters (None: all of it). Text files stop at exactly this
    #: many; documents of a dataset are taken whole until their total reaches it.
    max_chars: int | None = attrs.field(default=5_000_000, validator=_optional_chars)
    #: Vocabulary entries (embedding rows) for "word"; the BPE vocabulary size it trains to.
    max_vocab: int = attrs.field(default=5000, validator=_count(3, 1_000_000))
    block_size: int = attrs.field(default=64, validator=_count(2, _MAX_BLOCK))
    val_fraction: float = attrs.field(
        default=0.1, converter=float, validator=[v.gt(0.0), v.lt(1.0)]
    )
    batch_size: int = attrs.field(default=32, validator=_count(1, _MAX_BATCH))
    host_lr: float = _lr_field(0.1)
    seed_lr: float = _lr_field(0.1)
    host_name: str = attrs.field(
        default="transformer", validator=[v.instance_of(str), v.min_len(1)]
    )
    host: dict[str, Any] = _host_field()  # noqa: RUF009 (an attrs field, not a default)

    def __attrs_post_init__(self) -> None:
        # "'<field>' must ...": the config loader names the field's full key.
        if self.download and self.dataset is None:
            raise ValueError(
                "'dataset' must name the dataset to fetch when download = true "
                "(for example 'roneneldan/TinyStories')"
            )
        if self.path is None and not self.download:
            raise ValueError(
                "'path' must be set to a local file or directory of the corpus "
                "(or set dataset and download = true on a machine with the network)"
            )
        if self.tokenizer_path is not None and self.tokenizer != "bpe":
            raise ValueError(
                f"'tokenizer_path' must go with tokenizer = 'bpe' (a tokenizer.json is a BPE), "
                f"got tokenizer = {self.tokenizer!r}"
            )
        if self.tokenizer == "bpe" and self.tokenizer_path is None and self.max_vocab < BPE_MIN:
            raise ValueError(
                f"'max_vocab' must be >= {BPE_MIN} with tokenizer = 'bpe' (256 byte tokens and "
                f"the end-of-text token), got {self.max_vocab}"
            )
