"""The embedded language-modelling task ``stories``: tiny stories from a small grammar.

A story is one of eight plots (a lost toy, sharing, a new friend, a fear, a change in the
weather, making something, a wish, a hurt animal). Each plot is a sequence of steps; each
step picks one of a few sentence templates, some steps are optional, and the slots are
filled with characters, places, objects, colours and feelings. The corpus is a few hundred
words of vocabulary with real structure (agreement of names and pronouns, objects that come
back later in the story, quoted speech), small enough to learn on a CPU.

Everything is drawn from `random.Random` seeded per split, so a corpus is the same on every
machine and Python version. The vocabulary is the grammar's own (every word or character a
template or filler can produce), so it is known before any story is generated and does not
depend on the seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from esper.plugin import EsperError, Registries, SlottedHost, Task, TaskData, TaskInfo
from esper_plugins.tasks.common import build_host, stream_seed
from esper_plugins.tasks.config import StoriesTaskConfig
from esper_plugins.tasks.tokens import Vocab, split_tokens, windows

BOYS = ("Tom", "Ben", "Max", "Sam", "Leo", "Jack", "Tim", "Finn", "Noah", "Jake")
GIRLS = ("Lily", "Mia", "Sue", "Anna", "Emma", "Lucy", "Zoe", "Amy", "Ella", "Rose")
ANIMALS = (
    "cat", "dog", "bird", "rabbit", "fox", "bear", "duck", "frog", "mouse", "pig", "owl",
    "turtle", "lion", "horse", "squirrel", "puppy", "kitten", "bunny",
)  # fmt: skip
SIZES = ("little", "small", "big", "young", "tiny")
PLACES = (
    "the park", "the forest", "the garden", "the beach", "the farm", "the river", "the hill",
    "the town", "the school", "the lake", "the zoo", "the playground", "the backyard",
    "the woods", "the meadow", "the pond", "the library", "the market",
)  # fmt: skip
OBJECTS = (
    "ball", "kite", "box", "book", "hat", "car", "doll", "flower", "shell", "stick", "drum",
    "boat", "train", "cup", "blanket", "crayon", "key", "rock", "balloon", "bike", "robot",
    "teddy bear", "toy truck", "scarf",
)  # fmt: skip
COLOURS = ("red", "blue", "green", "yellow", "pink", "purple", "orange", "white", "brown")
QUALITIES = ("shiny", "soft", "old", "new", "round", "funny", "pretty", "bright", "special")
SPOTS = (
    "under the tree", "behind a rock", "in the tall grass", "near the water",
    "under a bench", "inside a bush", "next to the gate", "on top of a hill",
    "under a big leaf", "by the old fence",
)  # fmt: skip
GAMES = ("hide and seek", "tag", "catch", "jump rope", "pretend", "follow the leader")
SNACKS = ("warm milk", "a cookie", "some soup", "an apple", "a piece of cake", "some bread")
FEARS = ("the dark", "the big dog", "the loud storm", "the deep water", "the tall slide")
MAKES = (
    ("a cake", "bake"), ("a sand castle", "build"), ("a picture", "draw"),
    ("a card", "make"), ("a tower", "build"), ("a song", "sing"),
)  # fmt: skip
WEATHERS = ("sunny", "windy", "cold", "warm", "cloudy", "bright")
CHANGES = (
    "it began to rain", "the wind began to blow", "dark clouds came", "it began to snow",
)  # fmt: skip
OPENERS = ("Once upon a time,", "One day,", "Long ago,", "One morning,", "One sunny day,")
PARENTS = ("mom", "dad", "grandma", "grandpa")

_PRONOUNS = {
    "he": {"he": "he", "He": "He", "him": "him", "his": "his", "His": "His"},
    "she": {"he": "she", "He": "She", "him": "her", "his": "her", "His": "Her"},
}

# A plot is a list of steps; a step is a tuple of alternative templates, and a step whose
# first entry is None is optional (taken with probability one half).
Step = tuple[str | None, ...]

PLOTS: dict[str, list[Step]] = {
    "lost": [
        ("{opener} there was a {size} {kind} named {hero}.", "{opener} {hero} lived near {place}."),
        ("{He} had a {colour} {obj}.", "{hero} had a {quality} {obj}."),
        (None, "{He} loved {his} {obj} very much.", "It was {his} best toy."),
        (
            "One day, {hero} went to {place} with {his} {obj}.",
            "{hero} took {his} {obj} to {place}.",
        ),
        (None, "{He} played and played.", "The sun was warm and {he} ran around."),
        ("Then {he} could not find {his} {obj}!", "Soon the {obj} was gone!"),
        ("{hero} was very sad.", "{hero} began to cry."),
        ('{Friend} saw {him} and asked, "Why are you sad?"', "{Friend} came to help."),
        (None, '"I lost my {obj}," said {hero}.'),
        ("They looked {spot2}.", "They looked everywhere."),
        ("At last, {friend} found the {obj} {spot}.", "Then {hero} saw the {obj} {spot}."),
        ("{hero} was so happy.", "{hero} smiled a big smile."),
        ('{He} said, "Thank you, {friend_name}!"', "{He} hugged {friend}."),
        (
            None,
            "From that day on, they were best friends.",
            "{hero} learned to take care of {his} things.",
        ),
    ],
    "share": [
        ("{opener} {hero} had a {quality} {obj}.", "{opener} {hero} got a {colour} {obj}."),
        ("{Friend} wanted to play with it too.", '{Friend} asked, "Can I play with your {obj}?"'),
        ('"No, it is mine!" said {hero}.', "{hero} did not want to share."),
        ("{Friend} was sad and went away.", "{Friend} felt sad."),
        ('{His} {parent} saw this and said, "It is nice to share."',),
        (None, "{hero} thought about it.", "{hero} felt bad."),
        ("{He} ran to {friend} and gave {fhim} the {obj}.", '{He} said, "Let us play together."'),
        ("They played with the {obj} all day.", "They had so much fun with the {obj}."),
        ("Sharing made them both happy.", "{hero} learned that sharing is good."),
    ],
    "friend": [
        ("{opener} {hero} went to {place}.", "{opener} {hero} was alone at {place}."),
        (None, "{He} felt {feeling}.", "{He} did not have anyone to play with."),
        ("Then {he} saw a {size} {animal}.", "{He} saw a {colour} {animal} {spot}."),
        ('"Hello!" said {hero}. "Do you want to play?"', '{hero} said, "Hi, I am {hero}."'),
        ("The {animal} was happy.", "The {animal} said yes."),
        ("They played {game}.", "They played {game} by the trees."),
        (None, "They laughed and ran.", "Then they sat in the sun."),
        ("When it was time to go home, {hero} waved goodbye.", "Soon it was time to go home."),
        ("{hero} had a new friend.", "The next day, they played again."),
    ],
    "fear": [
        (
            "{opener} there was a {size} {kind} named {hero}.",
            "{opener} {hero} lived with {his} {parent}.",
        ),
        ("{hero} was scared of {fear}.", "{hero} did not like {fear}."),
        ("One night, {he} could not sleep.", "One day, {he} had to be brave."),
        ("{He} called {his} {parent}.", "{His} {parent} came and sat with {him}."),
        ('{His} {parent} said, "Do not be scared. I am here."',),
        (None, "{His} {parent} gave {him} {snack}.", "They talked for a long time."),
        ("{hero} took a deep breath.", "{hero} felt better."),
        ("{He} was not scared anymore.", "{He} was very brave."),
        (None, "{His} {parent} was proud of {him}."),
    ],
    "weather": [
        ("It was a {weather} day.", "{opener} the sky was {weather_sky}."),
        ("{hero} and {friend} went to {place}.", "{hero} went to {place} with {friend}."),
        ("They played with a {colour} {obj}.", "They played {game}."),
        (None, "They saw a {size} {animal}.", "They saw a {animal} {spot}."),
        ("Suddenly, {change}.", "Then {change}."),
        ('"Let us go home!" said {hero}.', "They ran home fast."),
        ("At home, {his} {parent} gave them {snack}.", "{His} {parent} made them {snack}."),
        ("They were warm and happy.", "They looked out of the window and smiled."),
    ],
    "make": [
        ("{opener} {hero} wanted to {make_verb} {make_thing}.", "{opener} {hero} had an idea."),
        (
            "{He} asked {his} {parent} for help.",
            '{His} {parent} said, "Let us {make_verb} {make_thing}."',
        ),
        ("They worked hard.", "First they got everything ready."),
        (None, "It was not easy.", "{hero} made a mess, but it was fine."),
        ("At last, {make_thing} was ready.", "Soon {make_thing} was done."),
        ("It was {quality} and {colour}.", "It was the best one ever."),
        ("{hero} showed it to {friend}.", "{hero} was very proud."),
        (None, "Everyone was happy.", 'They all said, "Wow!"'),
    ],
    "wish": [
        (
            "{opener} {hero} saw a {colour} {obj} at {place}.",
            "{opener} {hero} went to {place} with {his} {parent}.",
        ),
        ("{He} wanted the {obj} very much.", "{hero} saw a {quality} {obj} and wanted it."),
        ('"Can I have it?" asked {hero}.', "{hero} asked {his} {parent} for the {obj}."),
        ('{His} {parent} said, "You can save your coins."', '{His} {parent} said, "Not today."'),
        ("So {hero} helped at home every day.", "{hero} put a coin in a jar every day."),
        (None, "{He} was patient.", "It took a long time."),
        ("At last, {he} had enough coins.", "One day, the jar was full."),
        ("{He} got the {obj}!", "{hero} and {his} {parent} got the {obj}."),
        ("{hero} was so happy.", "{He} played with it all day."),
    ],
    "help": [
        ("{opener} {hero} was walking in {place}.", "{opener} {hero} went to {place}."),
        ("{He} saw a {size} {animal} {spot}.", "{He} heard a small sound {spot}."),
        ("The {animal} was hurt.", "It was a {animal} and it was hurt."),
        ('"Poor {animal}," said {hero}.', "{hero} felt sad for the {animal}."),
        ("{He} took it home to {his} {parent}.", "{He} called {his} {parent}."),
        ("They gave it a {quality} {obj} to rest on.", "They gave it food and water."),
        (None, "The {animal} slept all night.", "Every day it got a little better."),
        ("Soon the {animal} was well again.", "After a few days, the {animal} was strong."),
        ("It went back home and {hero} waved goodbye.", "The {animal} came to visit every day."),
        ("{hero} felt happy that {he} helped.", "Helping made {hero} happy."),
    ],
}

_SLOT_RE = re.compile(r"\{[A-Za-z_0-9]+\}")


def _fillers() -> list[str]:
    """Every string the grammar can put into a slot."""
    out = [*BOYS, *GIRLS, *ANIMALS, *SIZES, *PLACES, *OBJECTS, *COLOURS, *QUALITIES, *SPOTS]
    out += [*GAMES, *SNACKS, *FEARS, *WEATHERS, *CHANGES, *OPENERS, *PARENTS]
    out += [thing for thing, _ in MAKES] + [verb for _, verb in MAKES]
    out += ["boy", "girl", "the", "The", "happy", "sad", "lonely", "bored", "blue", "gray"]
    out += [s.capitalize() for s in (*ANIMALS, *PLACES)]
    out += [word for pron in _PRONOUNS.values() for word in pron.values()]
    return out


def lexicon_text() -> str:
    """All template text (slots removed) and all fillers: the grammar's complete lexicon."""
    parts = [_SLOT_RE.sub(" ", t) for steps in PLOTS.values() for step in steps for t in step if t]
    return "\n".join(parts + _fillers())


def grammar_vocab(tokenizer: str) -> Vocab:
    """The vocabulary of every story the grammar can produce, for ``tokenizer``."""
    text = lexicon_text()
    tokens = split_tokens(text, tokenizer)
    if tokenizer == "char":
        # Sentence starts are capitalised after filling, so capitals of any letter may appear.
        tokens = [t for t in {*tokens, *text.upper(), " "} if t != "\n"]
    return Vocab.build(tokenizer, tokens)


def _character(rng: random.Random) -> dict[str, str]:
    if rng.random() < 0.5:
        name, pronoun = rng.choice(BOYS), "he"
    else:
        name, pronoun = rng.choice(GIRLS), "she"
    # Some heroes are animals ("a little fox named Max"), the others children.
    kind = rng.choice(ANIMALS) if rng.random() < 0.4 else ("boy" if pronoun == "he" else "girl")
    return {"name": name, "kind": kind, **_PRONOUNS[pronoun]}


def _context(rng: random.Random) -> dict[str, str]:
    hero = _character(rng)
    friend = _character(rng)
    while friend["name"] == hero["name"]:
        friend = _character(rng)
    if friend["kind"] in ("boy", "girl") or rng.random() < 0.5:
        friend_ref = friend["name"]
    else:
        friend_ref = f"the {friend['kind']}"
    make_thing, make_verb = rng.choice(MAKES)
    weather = rng.choice(WEATHERS)
    return {
        "opener": rng.choice(OPENERS),
        "hero": hero["name"],
        "kind": hero["kind"],
        "size": rng.choice(SIZES),
        "he": hero["he"],
        "He": hero["He"],
        "him": hero["him"],
        "his": hero["his"],
        "His": hero["His"],
        "friend": friend_ref,
        "Friend": friend_ref[0].upper() + friend_ref[1:],
        "friend_name": friend["name"],
        "fhim": friend["him"],
        "place": rng.choice(PLACES),
        "obj": rng.choice(OBJECTS),
        "colour": rng.choice(COLOURS),
        "quality": rng.choice(QUALITIES),
        "spot": rng.choice(SPOTS),
        "spot2": rng.choice(SPOTS),
        "animal": rng.choice(ANIMALS),
        "feeling": rng.choice(("sad", "lonely", "bored", "blue")),
        "game": rng.choice(GAMES),
        "snack": rng.choice(SNACKS),
        "fear": rng.choice(FEARS),
        "parent": rng.choice(PARENTS),
        "make_thing": make_thing,
        "make_verb": make_verb,
        "weather": weather,
        "weather_sky": rng.choice(("gray", "blue", "bright")),
        "change": rng.choice(CHANGES),
    }


def story(rng: random.Random) -> str:
    """One story drawn from ``rng``."""
    ctx = _context(rng)
    steps = PLOTS[rng.choice(sorted(PLOTS))]
    sentences = []
    for step in steps:
        options = [t for t in step if t is not None]
        if step[0] is None and rng.random() < 0.5:
            continue
        sentence = rng.choice(options).format_map(ctx)
        sentences.append(sentence[0].upper() + sentence[1:])
    return " ".join(sentences)


def stories(seed: int, *labels: object) -> Iterator[str]:
    """An endless stream of stories for one random stream of ``seed``."""
    rng = random.Random(stream_seed(seed, *labels))
    while True:
        yield story(rng)


def story_tokens(vocab: Vocab, seed: int, split: str, n_tokens: int) -> list[int]:
    """At least ``n_tokens`` ids of whole stories, each followed by ``<eos>``."""
    ids: list[int] = []
    for text in stories(seed, "esper.tasks.stories", split):
        ids.extend(vocab.encode(text))
        ids.append(vocab.eos_id)
        if len(ids) >= n_tokens:
            return ids
    raise AssertionError("unreachable: the story stream is endless")  # pragma: no cover


#: The transformer preset of the ``stories`` and ``text`` tasks: CPU-sized (about 0.1M
#: parameters plus the tied embedding); ``block_size`` follows the task's.
LM_HOST_PRESET: dict[str, Any] = {
    "n_embd": 64,
    "n_head": 4,
    "n_layer": 2,
    "num_segments": 2,
    "dropout": 0.0,
}


#: The ``stories`` task's host: `LM_HOST_PRESET` with attention-only layers. The grammar's
#: statistics are simple enough that the full preset fits them in a few epochs, leaving growth
#: nothing to add; without MLPs the host is short of exactly the capacity an MLP seed brings
#: (docs/results.md measures what growing it gains; ``--set task.host.mlp_ratio=4`` restores
#: the MLPs).
STORIES_HOST_PRESET: dict[str, Any] = {**LM_HOST_PRESET, "mlp_ratio": 0}


def build_lm_host(
    registries: Registries,
    *,
    task: str,
    host_name: str,
    overrides: dict[str, Any],
    block_size: int,
    vocab_size: int,
    preset: dict[str, Any] = LM_HOST_PRESET,
) -> SlottedHost:
    """A transformer host for a language-modelling task, with a context of ``block_size``."""
    host = build_host(
        registries,
        task=task,
        topology="transformer",
        host_name=host_name,
        preset={**preset, "block_size": block_size},
        overrides=overrides,
        probe=torch.zeros(1, block_size, dtype=torch.long),
        vocab_size=vocab_size,
    )
    context = getattr(host, "block_size", None)
    if isinstance(context, int) and context < block_size:
        raise EsperError(
            f"task {task!r}: the host's block_size ({context}) is shorter than the task's "
            f"windows ({block_size} tokens); raise [task.host] block_size or lower block_size"
        )
    return host


class StoriesTask(Task):
    """Next-token prediction on generated tiny stories."""

    def __init__(self, config: StoriesTaskConfig | None = None) -> None:
        self.config = config or StoriesTaskConfig()
        self.vocab = grammar_vocab(self.config.tokenizer)
        self.info = TaskInfo(
            kind="language_model",
            topology="transformer",
            num_outputs=len(self.vocab),
            batch_size=self.config.batch_size,
            host_lr=self.config.host_lr,
            seed_lr=self.config.seed_lr,
        )

    def build_host(self, registries: Registries) -> SlottedHost:
        return build_lm_host(
            registries,
            task="stories",
            host_name=self.config.host_name,
            overrides=self.config.host,
            block_size=self.config.block_size,
            vocab_size=len(self.vocab),
            preset=STORIES_HOST_PRESET,
        )

    def load(self, *, seed: int, data_dir: Path | None = None) -> TaskData:
        """Generate the corpus for ``seed`` (``data_dir`` is not used: nothing is read)."""
        cfg = self.config
        data = {}
        for split, n in (("train", cfg.train_windows), ("val", cfg.val_windows)):
            ids = story_tokens(self.vocab, seed, split, n * cfg.block_size + 1)
            x, y = windows(ids, cfg.block_size)
            data[split] = (x[:n], y[:n])
        return TaskData(
            train_x=data["train"][0],
            train_y=data["train"][1],
            val_x=data["val"][0],
            val_y=data["val"][1],
        )


def create_stories(config: StoriesTaskConfig | None = None) -> StoriesTask:
    return StoriesTask(config)


__all__ = [
    "LM_HOST_PRESET",
    "STORIES_HOST_PRESET",
    "StoriesTask",
    "create_stories",
    "grammar_vocab",
    "story",
]
