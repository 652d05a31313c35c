"""Words near a misspelled one: "did you mean", for syntax errors (a
keyword) and the checker (a name, a function, a type).

    closest(word, candidates)          -> the candidate meant, or None
    closest_within(word, vocabulary, limit, tables)
    Vocabulary(names)                  -> names kept ready for many searches
    edit_distance(a, b)

Near means a few edits, more for a longer word (a swap of neighbours is one
edit: `adn` for `and` is one slip), or a word cut short (`loyal`, `loyalty`).
"""
from __future__ import annotations

from collections.abc import Iterable


def edit_distance(a: str, b: str, most: int | None = None) -> int:
    """Edits (insert, delete, replace, swap two neighbours) that turn a into b:
    a swap counts once because `adn` for `and` is one slip, not two. With
    `most`, any answer above it may come back as most + 1, sooner."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d = min(d, prev2[j - 2] + 1)
            row[j] = d
        if most is not None and min(row) > most:
            return most + 1         # every later row is at least as far
        prev2, prev = prev, row
    return prev[-1]


class Vocabulary:
    """Names to suggest from, kept with what makes looking through many of
    them cheap: each name's characters as bits. A word within k edits of a
    name has at most k characters the name lacks, and the name at most k
    the word lacks, so most names are passed over without the edit table."""

    def __init__(self, names: Iterable[str]):
        self.names = list(names)
        self.lower = [n.lower() for n in self.names]
        self.bits = [_char_bits(n) for n in self.lower]

    def __len__(self) -> int:
        return len(self.names)


def _char_bits(word: str) -> int:
    bits = 0
    for ch in word:
        bits |= 1 << (ord(ch) % 61)     # a shared bit only hides a difference: still a sound filter
    return bits


def closest(word: str, candidates: Iterable[str] | Vocabulary, limit: int | None = None) -> str | None:
    """The candidate nearest to `word`, if near enough to be a slip: a few
    edits (more for longer words), or a word cut short (`loyal`, `loyalty`).
    `candidates`: names, or a Vocabulary of them."""
    return closest_within(word, candidates, limit)[0]


def closest_within(word: str, candidates: Iterable[str] | Vocabulary, limit: int | None = None,
                   tables: int | None = None) -> tuple[str | None, int]:
    """closest(), and how many edit tables it filled: with `tables`, None
    once it would fill more than that many (what a search may cost)."""
    vocab = candidates if isinstance(candidates, Vocabulary) else Vocabulary(candidates)
    best, best_d, filled = None, None, 0
    n = len(word)
    allowed = limit if limit is not None else (0 if n <= 2 else 1 if n <= 4 else 2 if n <= 7 else 3)
    low = word.lower()
    bits = _char_bits(low)
    for c, cl, cbits in zip(vocab.names, vocab.lower, vocab.bits):
        cut_short = min(len(cl), n) >= 3 and (cl.startswith(low) or low.startswith(cl))
        if abs(len(cl) - n) > allowed or (bits & ~cbits).bit_count() > allowed \
                or (cbits & ~bits).bit_count() > allowed:
            d = allowed if cut_short else None       # further than allowed, unless cut short
        else:
            filled += 1
            if tables is not None and filled > tables:
                return None, filled
            d = edit_distance(low, cl, allowed)
            if d > allowed and cut_short:
                d = allowed
        if d is not None and d <= allowed and (best_d is None or d < best_d):
            best, best_d = c, d
    return best, filled
