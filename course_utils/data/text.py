"""Tokens for the text modality: a tokenizer and a vocabulary (lesson 04).

Deliberately simple (lower case, words and punctuation marks), so that learners
can read every step; it is all the bundled data set needs. ``Vocab`` reserves
id 0 for padding and id 1 for unknown words.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*|[^\sa-z0-9]")

PAD, UNK = "<pad>", "<unk>"


def tokenize(text: str) -> list[str]:
    """Lower-case word and punctuation tokens: ``"Not bad at all!"`` -> ``['not', 'bad', 'at', 'all', '!']`` (lesson 04)."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize takes one text (a str), got {type(text).__name__}; "
                        "for a list of texts use [tokenize(t) for t in texts].")
    return _TOKEN.findall(text.lower())


@dataclass
class Vocab:
    """Token <-> id mapping; id 0 = ``<pad>``, id 1 = ``<unk>`` (lesson 04)."""

    tokens: list[str] = field(default_factory=lambda: [PAD, UNK])

    def __post_init__(self) -> None:
        if self.tokens[:2] != [PAD, UNK]:
            raise ValueError("a Vocab starts with '<pad>', '<unk>'")
        self._index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (unknown words map to 1) (lesson 04)."""
        if not isinstance(text, str):
            raise TypeError(f"Vocab.encode takes one text (a str), got {type(text).__name__}; "
                            "for a list of texts use [vocab.encode(t) for t in texts].")
        return [self._index.get(t, 1) for t in tokenize(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Tokens of ``ids`` joined by spaces, padding dropped (lesson 04)."""
        return " ".join(self.tokens[i] for i in ids if i != 0)

    def to_json(self) -> str:
        """The vocabulary as JSON (a list of tokens) (lesson 04)."""
        return json.dumps(self.tokens)

    @classmethod
    def from_json(cls, text: str) -> "Vocab":
        """Inverse of :meth:`to_json` (lesson 04)."""
        return cls(list(json.loads(text)))


def build_vocab(texts: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> Vocab:
    """Vocabulary of the tokens seen at least ``min_freq`` times, most frequent first (lesson 04).

    Ties are broken alphabetically, so the same texts always give the same ids.
    Build it on the *training* texts only.
    """
    counts = Counter(t for text in texts for t in tokenize(text))
    ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    if max_size is not None:
        ranked = ranked[: max(0, max_size - 2)]
    return Vocab([PAD, UNK, *ranked])
