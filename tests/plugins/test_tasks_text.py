"""Language-modelling tasks: tokenisation, windows, the embedded stories and local text files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from esper.config.loading import structure
from esper.errors import ConfigError, EsperError
from esper.registry import Registries
from esper_plugins.tasks.config import StoriesTaskConfig, TextTaskConfig
from esper_plugins.tasks.stories import (
    StoriesTask,
    grammar_vocab,
    stories,
    story,
    story_tokens,
)
from esper_plugins.tasks.text import TextTask
from esper_plugins.tasks.tokens import EOS, UNK, Vocab, split_tokens, windows

SMALL = {"train_windows": 40, "val_windows": 8, "block_size": 16}


# -- tokens -----------------------------------------------------------------------------------


def test_split_tokens() -> None:
    assert split_tokens("Hi, Tom!", "char") == ["H", "i", ",", " ", "T", "o", "m", "!"]
    assert split_tokens('Tom said, "Hi!"\nThe end.', "word") == [
        "tom", "said", ",", '"', "hi", "!", '"', "the", "end", ".",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown tokenizer"):
        split_tokens("x", "bpe")


def test_vocab_has_specials_first_and_sorted_tokens() -> None:
    vocab = Vocab.build("word", ["b", "a", "c", "a", EOS])
    assert vocab.tokens == (EOS, UNK, "a", "b", "c")
    assert (vocab.eos_id, vocab.unk_id, len(vocab)) == (0, 1, 5)
    # The order in which tokens are seen does not matter.
    assert Vocab.build("word", ["c", "a", "b"]).tokens == vocab.tokens


def test_vocab_cap_keeps_the_most_frequent_tokens() -> None:
    tokens = ["z"] * 5 + ["y"] * 3 + ["b"] * 2 + ["a"] * 2 + ["q"]
    vocab = Vocab.build("word", tokens, max_size=5)
    # z, y, then the tie between a and b goes to a (ties break by token).
    assert vocab.tokens == (EOS, UNK, "a", "y", "z")
    assert vocab.encode("q b z") == [1, 1, 4]


def test_encode_decode_round_trip() -> None:
    text = "Lily had a red ball."
    char = Vocab.build("char", list(text))
    assert char.decode(char.encode(text)) == text
    word = Vocab.build("word", split_tokens(text, "word"))
    assert word.decode(torch.tensor(word.encode(text))) == "lily had a red ball ."
    ids = word.encode_documents(["a ball", "red"])
    assert ids == [word.index["a"], word.index["ball"], 0, word.index["red"], 0]


def test_vocab_rejects_malformed_token_lists() -> None:
    with pytest.raises(ValueError, match="starts with"):
        Vocab("word", ("a", "b"))
    with pytest.raises(ValueError, match="once"):
        Vocab("word", (EOS, UNK, "a", "a"))


def test_windows_shift_targets_by_one() -> None:
    ids = list(range(100, 141))  # 41 tokens
    x, y = windows(ids, 8)
    assert x.shape == y.shape == (5, 8)
    assert x.dtype == y.dtype == torch.int64
    for i in range(5):
        assert x[i].tolist() == ids[i * 8 : i * 8 + 8]
        assert y[i].tolist() == ids[i * 8 + 1 : i * 8 + 9]
    assert torch.equal(y[:, :-1], x[:, 1:])
    # Consecutive windows continue each other: every token is a target exactly once.
    assert torch.equal(x[1:, 0], y[:-1, -1])
    assert sorted(y.flatten().tolist()) == ids[1:]


def test_windows_drop_a_short_tail() -> None:
    x, y = windows(list(range(20)), 8)  # 19 targets: two windows, three tokens left over
    assert x.shape == (2, 8)
    assert y[-1, -1] == 16
    empty_x, empty_y = windows([1, 2, 3], 8)
    assert empty_x.shape == empty_y.shape == (0, 8)
    with pytest.raises(ValueError, match="block_size"):
        windows([1, 2], 0)


# -- the grammar ------------------------------------------------------------------------------


@pytest.mark.parametrize("tokenizer", ["word", "char"])
def test_grammar_vocabulary_covers_every_story(tokenizer: str) -> None:
    vocab = grammar_vocab(tokenizer)
    for seed in range(3):
        it = stories(seed, "coverage")
        for _ in range(300):
            ids = vocab.encode(next(it))
            assert vocab.unk_id not in ids


def test_vocabulary_size_does_not_depend_on_the_seed() -> None:
    word, char = grammar_vocab("word"), grammar_vocab("char")
    assert 300 <= len(word) <= 600  # "a few hundred words"
    assert 40 <= len(char) <= 90
    assert StoriesTask().info.num_outputs == len(word)
    assert StoriesTask(StoriesTaskConfig(tokenizer="char")).info.num_outputs == len(char)


def test_stories_are_deterministic_and_vary_with_the_seed() -> None:
    assert story(random.Random(1)) == story(random.Random(1))
    assert next(stories(0, "x")) == next(stories(0, "x"))
    assert next(stories(0, "x")) != next(stories(0, "y"))
    seen = {next(stories(seed, "x")) for seed in range(20)}
    assert len(seen) >= 15


def test_stories_read_like_stories() -> None:
    rng = random.Random(0)
    for _ in range(200):
        text = story(rng)
        assert text[0].isupper()
        assert text.rstrip('"').endswith((".", "!"))
        assert "{" not in text
        assert "}" not in text
        assert 10 <= len(text.split()) <= 200


def test_story_tokens_end_each_story_with_eos() -> None:
    vocab = grammar_vocab("word")
    ids = story_tokens(vocab, 0, "train", 500)
    assert len(ids) >= 500
    assert ids[-1] == vocab.eos_id
    assert ids.count(vocab.eos_id) >= 3


# -- the stories task -------------------------------------------------------------------------


def test_stories_task_data_shapes_and_determinism() -> None:
    task = StoriesTask(StoriesTaskConfig(**SMALL))
    a, b = task.load(seed=0), task.load(seed=0)
    c = task.load(seed=1)
    assert a.train_x.shape == a.train_y.shape == (40, 16)
    assert a.val_x.shape == (8, 16)
    assert a.train_x.dtype == a.train_y.dtype == torch.int64
    for name in ("train_x", "train_y", "val_x", "val_y"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.train_x, c.train_x)
    assert not torch.equal(a.train_x[:8], a.val_x)
    assert torch.equal(a.train_y[:, :-1], a.train_x[:, 1:])
    assert torch.equal(a.train_x[1:, 0], a.train_y[:-1, -1])
    assert int(a.train_x.max()) < task.info.num_outputs
    assert int(a.train_x.min()) >= 0
    assert a.augment is None


def test_stories_default_size() -> None:
    task = StoriesTask()
    data = task.load(seed=0)
    assert data.train_x.shape == (1500, 64)
    assert data.val_x.shape == (300, 64)
    # Most of the vocabulary is used by a corpus this size.
    assert torch.unique(data.train_x).numel() > 0.9 * task.info.num_outputs


def test_stories_host_matches_the_vocabulary(registries: Registries) -> None:
    task = StoriesTask(StoriesTaskConfig(tokenizer="char", **SMALL))
    host = task.build_host(registries)
    assert host.vocab_size == task.info.num_outputs
    assert host.block_size == 16
    data = task.load(seed=0)
    logits = host(data.train_x[:3])
    assert logits.shape == (3, 16, task.info.num_outputs)
    loss = task.loss(logits, data.train_y[:3])
    # An untrained model is close to a uniform guess.
    assert abs(loss.item() - task.info.random_guess_loss) < 0.5


def test_the_stories_host_is_attention_only_unless_the_config_says_otherwise(
    registries: Registries,
) -> None:
    """The default host lacks the MLPs that the MLP seeds bring (docs/results.md); the text
    task keeps the full preset."""
    host = StoriesTask().build_host(registries)
    assert all(block.mlp is None for block in host.blocks)
    assert host.config.mlp_ratio == 0
    full = StoriesTask(StoriesTaskConfig(host={"mlp_ratio": 4})).build_host(registries)
    assert all(block.mlp is not None for block in full.blocks)


def test_stories_host_options(registries: Registries) -> None:
    task = StoriesTask(StoriesTaskConfig(host={"n_embd": 32, "n_layer": 4}))
    host = task.build_host(registries)
    assert host.n_embd == 32
    assert len(host.blocks) == 4
    too_short = StoriesTask(StoriesTaskConfig(block_size=64, host={"block_size": 32}))
    with pytest.raises(EsperError, match="block_size"):
        too_short.build_host(registries)


def test_stories_info() -> None:
    info = StoriesTask().info
    assert (info.kind, info.topology) == ("language_model", "transformer")
    assert (info.batch_size, info.host_lr, info.seed_lr) == (32, 0.1, 0.1)


# -- the text task ----------------------------------------------------------------------------

TINY = (
    "Once upon a time, there was a cat. The cat liked milk.\n<|endoftext|>\n"
    "Tom had a red ball. He played with the ball all day!\n<|endoftext|>\n"
    "Lily saw a bird. The bird sang a song. Lily was happy.\n"
) * 6


def _vocab(task: TextTask) -> Vocab:
    assert isinstance(task.tokenizer, Vocab)
    return task.tokenizer


def _write(tmp_path: Path, text: str, name: str = "stories.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_text_task_char_level(tmp_path: Path) -> None:
    path = _write(tmp_path, TINY)
    task = TextTask(TextTaskConfig(path=str(path), block_size=16, val_fraction=0.2))
    assert set(_vocab(task).tokens[2:]) == set(TINY.replace("<|endoftext|>", ""))
    assert task.info.num_outputs == len(task.tokenizer)
    data = task.load(seed=0)
    n_tokens = len(task._ids)
    n_val = int(n_tokens * 0.2)
    assert data.train_x.shape == ((n_tokens - n_val - 1) // 16, 16)
    assert data.val_x.shape == ((n_val - 1) // 16, 16)
    assert torch.equal(data.train_y[:, :-1], data.train_x[:, 1:])
    # Documents are separated by the end-of-text token, and the text round-trips.
    first = task.tokenizer.decode(data.train_x[0])
    assert first == TINY[:16]
    assert int((data.train_x == task.tokenizer.eos_id).sum()) > 0
    # The data is the file: the seed changes nothing.
    assert torch.equal(task.load(seed=5).train_x, data.train_x)


def test_text_task_word_level_with_a_capped_vocabulary(tmp_path: Path) -> None:
    path = _write(tmp_path, TINY)
    task = TextTask(TextTaskConfig(path=str(path), tokenizer="word", max_vocab=12, block_size=8))
    assert len(task.tokenizer) == 12
    data = task.load(seed=0)
    # Rare words become <unk>; frequent ones keep their ids.
    assert int((data.train_x == _vocab(task).unk_id).sum()) > 0
    assert "." in _vocab(task).index
    assert "the" in _vocab(task).index


def test_text_task_without_separators_is_one_document(tmp_path: Path) -> None:
    path = _write(tmp_path, "abcdefgh" * 20)
    task = TextTask(TextTaskConfig(path=str(path), block_size=8, separator=""))
    assert task._ids.count(task.tokenizer.eos_id) == 1
    assert task._ids[-1] == task.tokenizer.eos_id


def test_text_task_reads_at_most_max_chars(tmp_path: Path) -> None:
    path = _write(tmp_path, "ab" * 1000 + "XYZ" * 100)
    task = TextTask(TextTaskConfig(path=str(path), block_size=8, max_chars=2000))
    assert "X" not in _vocab(task).index
    assert len(task._ids) == 2001  # 2000 characters and the final end-of-text


def test_text_task_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "stories.txt"
    with pytest.raises(EsperError, match=r"nope.*stories\.txt.*does not exist"):
        TextTask(TextTaskConfig(path=str(missing)))


def test_text_task_file_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(EsperError, match=r"config\.task\.path: .* holds no corpus files"):
        TextTask(TextTaskConfig(path=str(tmp_path)))
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\xff\xfe\x00" * 100)
    with pytest.raises(EsperError, match="not UTF-8"):
        TextTask(TextTaskConfig(path=str(binary)))
    short = _write(tmp_path, "tiny text", "short.txt")
    with pytest.raises(EsperError, match=r"too short.*block_size \+ 1 = 65"):
        TextTask(TextTaskConfig(path=str(short)))


def test_text_task_needs_a_path(registries: Registries) -> None:
    with pytest.raises(EsperError, match="path"):
        TextTask(None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"config\.task\.path: must be set"):
        structure({"task": {"name": "text"}}, registries)


def test_text_task_host(tmp_path: Path, registries: Registries) -> None:
    path = _write(tmp_path, TINY)
    task = TextTask(TextTaskConfig(path=str(path), block_size=16, host={"n_embd": 32}))
    host = task.build_host(registries)
    assert host.vocab_size == task.info.num_outputs
    assert host(task.load(seed=0).train_x[:2]).shape == (2, 16, task.info.num_outputs)
