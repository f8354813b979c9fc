"""The text task on real corpora: byte-level BPE, tokenizer.json files, json / parquet / arrow
files read through ``datasets``, directories, downloads, and what a missing extra says."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from esper.config.loading import structure
from esper.errors import ConfigError, EsperError
from esper.registry import Registries
from esper_plugins.presets import PRESETS, preset_path, read_preset
from esper_plugins.tasks.bpe import BPETokenizer
from esper_plugins.tasks.config import TextTaskConfig
from esper_plugins.tasks.corpus import read_corpus
from esper_plugins.tasks.stories import build_lm_host, stories
from esper_plugins.tasks.text import TextTask

from support.stories import TINY_TEXT, write_stories

datasets = pytest.importorskip("datasets")
tokenizers = pytest.importorskip("tokenizers")

#: Real-looking documents: the embedded task's tiny stories.
_STORIES = stories(0, "test-bpe")
DOCS = [next(_STORIES) for _ in range(60)]
SEP = "\n<|endoftext|>\n"
#: Small enough to train in milliseconds, large enough to merge common words.
VOCAB = 300


@pytest.fixture(autouse=True)
def _datasets_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Streaming local files still takes lock files in the cache: keep them out of $HOME.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf"))
    datasets.disable_progress_bars()


def _digest(tokenizer: BPETokenizer) -> str:
    return hashlib.sha256(tokenizer.tokenizer.to_str().encode()).hexdigest()


# -- the tokenizer ----------------------------------------------------------------------------


def test_bpe_training_is_deterministic_across_processes() -> None:
    a = BPETokenizer.train(DOCS, vocab_size=VOCAB, eos_token="<|endoftext|>")
    b = BPETokenizer.train(list(DOCS), vocab_size=VOCAB, eos_token="<|endoftext|>")
    assert _digest(a) == _digest(b)
    assert (len(a), a.eos_id) == (VOCAB, 0)
    # Another process (another hash seed for the library's hash maps) trains the same merges.
    code = (
        "import hashlib; from esper_plugins.tasks.bpe import BPETokenizer; "
        "from esper_plugins.tasks.stories import stories; s = stories(0, 'test-bpe'); "
        f"docs = [next(s) for _ in range({len(DOCS)})]; "
        f"t = BPETokenizer.train(docs, vocab_size={VOCAB}, eos_token='<|endoftext|>'); "
        "print(hashlib.sha256(t.tokenizer.to_str().encode()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _digest(a)
    # A different size is a different vocabulary.
    assert _digest(BPETokenizer.train(DOCS, vocab_size=VOCAB + 20, eos_token="x")) != _digest(a)


def test_bpe_round_trips_any_text() -> None:
    bpe = BPETokenizer.train(DOCS, vocab_size=VOCAB, eos_token="<|endoftext|>")
    for text in (DOCS[0], "  Lily saw  a bird.\n\tThe end!", "Grüße, 日本語 🙂 ünïcödé"):
        ids = bpe.encode(text)
        assert bpe.decode(ids) == text
        assert bpe.eos_id not in ids
    # Merges make common text shorter than its bytes.
    assert len(bpe.encode(DOCS[0])) < 0.75 * len(DOCS[0].encode())
    ids = bpe.encode_documents(["one cat", "two"])
    assert ids.count(0) == 2
    assert ids[-1] == 0
    assert bpe.decode(torch.tensor(ids)) == "one cat<|endoftext|>two<|endoftext|>"


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "stories.txt"
    path.write_text(SEP.join(DOCS), encoding="utf-8")
    return path


def test_text_task_with_a_trained_bpe(tmp_path: Path, registries: Registries) -> None:
    config = TextTaskConfig(path=str(_corpus(tmp_path)), tokenizer="bpe", max_vocab=VOCAB)
    task = TextTask(config)
    assert isinstance(task.tokenizer, BPETokenizer)
    assert task.info.num_outputs == VOCAB
    data = task.load(seed=0)
    assert int(data.train_x.max()) < VOCAB
    assert task.tokenizer.decode(task._ids).split("<|endoftext|>")[:-1] == DOCS
    host = task.build_host(registries)
    assert host(data.train_x[:2]).shape == (2, 64, VOCAB)


def test_a_saved_tokenizer_json_is_loaded_as_it_is(tmp_path: Path) -> None:
    corpus = str(_corpus(tmp_path))
    trained = TextTask(TextTaskConfig(path=corpus, tokenizer="bpe", max_vocab=VOCAB))
    assert isinstance(trained.tokenizer, BPETokenizer)
    trained.tokenizer.save(tmp_path / "tokenizer.json")
    # Nothing is trained: max_vocab does not matter, the file's vocabulary does.
    loaded = TextTask(
        TextTaskConfig(
            path=corpus,
            tokenizer="bpe",
            tokenizer_path=str(tmp_path / "tokenizer.json"),
            max_vocab=3,
        )
    )
    assert loaded.info.num_outputs == VOCAB
    assert loaded._ids == trained._ids


def test_a_loaded_tokenizer_keeps_its_own_end_of_text_id(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=280,
        special_tokens=["<pad>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(DOCS, trainer=trainer)
    tok.save(str(tmp_path / "tokenizer.json"))
    base = {"path": str(_corpus(tmp_path)), "tokenizer": "bpe", "block_size": 16}
    config = TextTaskConfig(
        **base, tokenizer_path=str(tmp_path / "tokenizer.json"), separator="</s>"
    )
    task = TextTask(config)
    assert task.tokenizer.eos_id == 1
    assert task._ids.count(1) == 1  # the text holds no "</s>": it is one document
    with pytest.raises(EsperError, match=r"config\.task\.separator: .*no token '<\|endoftext\|>'"):
        TextTask(TextTaskConfig(**base, tokenizer_path=str(tmp_path / "tokenizer.json")))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(EsperError, match=r"config\.task\.tokenizer_path: .*bad\.json"):
        TextTask(TextTaskConfig(**base, tokenizer_path=str(tmp_path / "bad.json")))
    with pytest.raises(EsperError, match=r"config\.task\.tokenizer_path: .*nope\.json"):
        TextTask(TextTaskConfig(**base, tokenizer_path=str(tmp_path / "nope.json")))


# -- json, parquet and arrow through datasets -------------------------------------------------

ROWS = [{"id": i, "text": f"  {doc}\n"} for i, doc in enumerate(DOCS)]


def _write_json(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


def _write_arrow(path: Path, rows: list[dict[str, Any]]) -> Path:
    # What `save_to_disk` writes: the arrow file, and its json metadata beside it.
    folder = path.parent / f"{path.stem}-saved"
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    [arrow] = folder.glob("*.arrow")
    return arrow.rename(path)


WRITERS = {
    "data.json": _write_json,
    "data.jsonl": _write_jsonl,
    "data.parquet": _write_parquet,
    "data.arrow": _write_arrow,
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_data_files_are_read_through_datasets(tmp_path: Path, name: str) -> None:
    path = WRITERS[name](tmp_path / name, ROWS)
    docs, source = read_corpus(TextTaskConfig(path=str(path)))
    assert docs == DOCS  # one document per row, stripped
    assert name in source
    task = TextTask(TextTaskConfig(path=str(path), tokenizer="bpe", max_vocab=VOCAB))
    assert task._ids.count(task.tokenizer.eos_id) == len(DOCS)


def test_rows_are_taken_whole_up_to_max_chars(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "d.jsonl", [{"text": "x" * 10}] * 5)
    assert read_corpus(TextTaskConfig(path=str(path), max_chars=25))[0] == ["x" * 10] * 3
    assert read_corpus(TextTaskConfig(path=str(path), max_chars=30))[0] == ["x" * 10] * 3
    assert len(read_corpus(TextTaskConfig(path=str(path), max_chars=None))[0]) == 5


def test_a_missing_text_field_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "stories.jsonl", [{"story": "A cat.", "id": 1}])
    with pytest.raises(EsperError) as info:
        read_corpus(TextTaskConfig(path=str(path)))
    message = str(info.value)
    assert message.startswith("config.task.text_field: 'text' is not a column of ")
    assert "stories.jsonl" in message
    assert "(its columns: story, id)" in message
    assert read_corpus(TextTaskConfig(path=str(path), text_field="story"))[0] == ["A cat."]
    numbers = _write_jsonl(tmp_path / "n.jsonl", [{"text": 3}])
    with pytest.raises(EsperError, match=r"config\.task\.text_field: .* holds int values"):
        read_corpus(TextTaskConfig(path=str(numbers)))


def test_unreadable_data_files_are_user_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(EsperError, match=r"config\.task\.path: cannot read .*broken\.parquet"):
        read_corpus(TextTaskConfig(path=str(broken)))
    # An explicit format wins over the suffix.
    text = tmp_path / "notes.json"
    text.write_text("A cat.<|endoftext|>A dog.", encoding="utf-8")
    assert read_corpus(TextTaskConfig(path=str(text), format="text"))[0] == ["A cat.", "A dog."]


def test_a_directory_is_read_file_by_file_in_path_order(tmp_path: Path) -> None:
    root = tmp_path / "TinyStories"
    (root / "data").mkdir(parents=True)
    (root / ".cache").mkdir()
    _write_jsonl(root / "b.jsonl", ROWS[20:40])
    _write_json(root / "a.json", ROWS[:20])
    _write_jsonl(root / "data" / "c.jsonl", ROWS[40:])
    _write_jsonl(root / ".cache" / "stale.jsonl", [{"text": "hidden"}])
    (root / "README.md").write_text("# not data")
    assert read_corpus(TextTaskConfig(path=str(root)))[0] == DOCS
    # Files of another format need `format` to say which to read.
    _write_parquet(root / "extra.parquet", [{"text": "parquet"}])
    with pytest.raises(EsperError, match=r"config\.task\.format: .* several formats: json"):
        read_corpus(TextTaskConfig(path=str(root)))
    assert read_corpus(TextTaskConfig(path=str(root), format="json"))[0] == DOCS
    assert read_corpus(TextTaskConfig(path=str(root), format="parquet"))[0] == ["parquet"]
    with pytest.raises(EsperError, match=r"holds no arrow files \(\.arrow\)"):
        read_corpus(TextTaskConfig(path=str(root), format="arrow"))


def test_a_saved_dataset_directory_reads_with_format_arrow(tmp_path: Path) -> None:
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(EsperError, match="several formats"):  # its metadata is json
        read_corpus(TextTaskConfig(path=str(tmp_path / "saved")))
    assert read_corpus(TextTaskConfig(path=str(tmp_path / "saved"), format="arrow"))[0] == DOCS


def test_a_directory_of_text_files(tmp_path: Path) -> None:
    (tmp_path / "1.txt").write_text(SEP.join(DOCS[:30]), encoding="utf-8")
    (tmp_path / "2.txt").write_text(SEP.join(DOCS[30:]), encoding="utf-8")
    assert read_corpus(TextTaskConfig(path=str(tmp_path)))[0] == DOCS
    first = len(SEP.join(DOCS[:30]))
    # max_chars counts over all the files.
    docs = read_corpus(TextTaskConfig(path=str(tmp_path), max_chars=first + 5))[0]
    assert docs == [*DOCS[:30], DOCS[30][:5].strip()]


# -- download ---------------------------------------------------------------------------------


def test_download_loads_the_named_split(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def load_dataset(name: str, *, split: str) -> Iterator[dict[str, Any]]:
        calls.append((name, split))
        return iter(ROWS)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    config = TextTaskConfig(dataset="roneneldan/TinyStories", download=True, max_chars=200)
    docs, source = read_corpus(config)
    assert calls == [("roneneldan/TinyStories", "train")]
    assert source == "dataset 'roneneldan/TinyStories'"
    assert docs == DOCS[: len(docs)]
    assert sum(map(len, docs[:-1])) < 200 <= sum(map(len, docs))

    def offline(name: str, *, split: str) -> None:
        raise ConnectionError("no network\nmore")

    # Without download, a missing local copy says that download is the other way.
    missing = TextTaskConfig(path="no/such/dir", dataset="roneneldan/TinyStories")
    with pytest.raises(EsperError, match=r"or download = true to fetch 'roneneldan/TinyStories'"):
        read_corpus(missing)
    assert calls == [("roneneldan/TinyStories", "train")]

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(EsperError, match=r"config\.task\.dataset: cannot load .*no network\)$"):
        read_corpus(TextTaskConfig(dataset="x/y", download=True, split="validation"))


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({}, "config.task.path: must be set to a local file or directory"),
        ({"download": True}, "config.task.dataset: must name the dataset to fetch"),
        ({"path": "x.txt", "tokenizer_path": "t.json"}, "config.task.tokenizer_path: must go"),
        ({"path": "x.txt", "tokenizer": "bpe", "max_vocab": 200}, "config.task.max_vocab: must"),
        ({"path": "x.txt", "tokenizer": "sentencepiece"}, "config.task.tokenizer: "),
        ({"path": "x.txt", "format": "csv"}, "config.task.format: "),
        ({"path": "x.txt", "text_field": ""}, "config.task.text_field: "),
    ],
)
def test_config_errors_name_the_key(
    registries: Registries, table: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        structure({"task": {"name": "text", **table}}, registries)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_the_config_accepts_a_download_without_a_path(registries: Registries) -> None:
    cfg = structure(
        {"task": {"name": "text", "dataset": "roneneldan/TinyStories", "download": True}},
        registries,
    )
    assert cfg.components["task"].options.path is None


# -- the command line -------------------------------------------------------------------------


def test_esper_run_trains_on_a_local_file_with_a_bpe_vocabulary(
    tmp_path: Path, esper_cli: Any
) -> None:
    args = [
        "run", "--task", "text", "--set", f"task.path={_corpus(tmp_path)}",
        "--set", "task.tokenizer=bpe", "--set", f"task.max_vocab={VOCAB}",
        "--set", "task.block_size=16", "--set", "task.host.n_embd=32",
        "--epochs", "2", "--quiet", "--out", str(tmp_path / "runs"),
    ]  # fmt: skip
    result = esper_cli(*args)
    assert result.exit_code == 0, result.output
    [run_dir] = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["task"].endswith(":text")
    assert summary["task_kind"] == "language_model"
    for arm in ("static", "grown"):
        assert summary[arm]["epochs"] == 2
        assert summary[arm]["flops"]["train"] > 0
        # Better than a uniform guess over the BPE vocabulary: it learned something.
        assert summary[arm]["val_perplexity"] < VOCAB / 2


def test_a_missing_extra_says_how_to_install_it(
    tmp_path: Path, esper_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import tokenizers now fails
    result = esper_cli(
        "run", "--task", "text", "--set", f"task.path={_corpus(tmp_path)}",
        "--set", "task.tokenizer=bpe", "--epochs", "1", "--out", str(tmp_path / "runs"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "tokenizer = 'bpe' needs the 'tokenizers' package" in result.output
    assert "pip install 'esper-nn[text]'" in result.output
    assert "Traceback" not in result.output
    monkeypatch.setitem(sys.modules, "datasets", None)
    path = _write_jsonl(tmp_path / "d.jsonl", ROWS)
    with pytest.raises(EsperError, match=r"reading json files needs the 'datasets' package"):
        read_corpus(TextTaskConfig(path=str(path)))


# -- the tinystories preset -------------------------------------------------------------------


def test_the_tinystories_preset_states_its_host_size(registries: Registries) -> None:
    task = read_preset("tinystories")["task"]
    assert (task["name"], task["tokenizer"], task["max_vocab"]) == ("text", "bpe", 8192)
    # The prior system's host: 384 wide, 6 heads, 6 layers, context 256, dropout 0.1.
    assert {k: task["host"][k] for k in ("n_embd", "n_head", "n_layer", "block_size")} == {
        "n_embd": 384,
        "n_head": 6,
        "n_layer": 6,
        "block_size": 256,
    }
    assert task["host"]["dropout"] == 0.1
    host = build_lm_host(
        registries,
        task="text",
        host_name=task.get("host_name", "transformer"),
        overrides=task["host"],
        block_size=task["block_size"],
        vocab_size=task["max_vocab"],
    )
    count = sum(p.numel() for p in host.parameters())
    [summary] = [s for name, _, s in PRESETS if name == "tinystories"]
    assert f"({count:,} params)" in summary
    assert f"{count:,} parameters" in preset_path("tinystories").read_text(encoding="utf-8")


def test_the_tinystories_preset_reads_a_local_copy_through_datasets(
    tmp_path: Path, esper_cli: Any
) -> None:
    folder = write_stories(tmp_path / "TinyStories")
    result = esper_cli(
        "run", "--preset", "tinystories", "--epochs", "1", "--quiet",
        "--out", str(tmp_path / "runs"), f"--set=task.path={str(folder)!r}",
        *[f"--set={override}" for override in TINY_TEXT],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [run_dir] = (tmp_path / "runs").iterdir()
    written = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    assert written["task"]["format"] == "auto"
    assert written["task"]["dataset"] == "roneneldan/TinyStories"
    assert written["task"]["download"] is False
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["task"].endswith(":text")
    assert summary["grown"]["val_perplexity"] < 300
