"""What characters a match of a regular expression must contain, read from its source.

The Chinese gap patterns (``lexicon_zh.json``) are regular expressions; running all of
them on every post costs more than the rest of the Chinese scan.  A match needs at least
one character of every mandatory element of one of its top-level alternatives (a
literal character, or a group of literal-led alternatives), so a post missing all the
characters of such an element cannot match and the pattern need not run.

The reader knows a small subset of the syntax and is conservative everywhere else: an
element it does not understand (a class, an escape, a capturing group, a lookaround,
anything quantified so that it may be absent) requires nothing, and an alternative that
requires nothing makes the whole pattern "always run" (None).  One pass, at import.
"""
from __future__ import annotations

Needs = tuple[tuple[frozenset[str], ...], ...]    # any alternative, all of its sets
# one element of a sequence: (the characters a match of it starts with, or None when
# unknown; whether it may be absent)
Element = tuple[frozenset[str] | None, bool]


def has_inline_flags(rx: str) -> bool:
    """Does ``rx`` set flags ("(?i)", "(?x:...)")?  Then what this reader reads of its
    characters may not hold (case-insensitive or verbose), and its callers give up.  (It
    may say so of a "(?i" that is no group, inside a class: giving up is always safe.)"""
    i = rx.find("(?")
    while i >= 0:
        backslashes = len(rx[:i]) - len(rx[:i].rstrip("\\"))
        if rx[i + 2:i + 3] in tuple("aiLmsux-") and backslashes % 2 == 0:
            return True
        i = rx.find("(?", i + 2)
    return False


def requirements(rx: str) -> Needs | None:
    """For each top-level alternative, the character sets a match of it must each meet;
    None when some alternative requires nothing."""
    out = []
    for sequence in _parse(rx, 0)[0]:
        needs = tuple(chars for chars, optional in sequence if chars is not None and not optional)
        if not needs:
            return None
        out.append(needs)
    return tuple(out)


def _first(alternatives: list[list[Element]]) -> frozenset[str] | None:
    """The characters a match of one of ``alternatives`` can start with, or None when
    this reader cannot tell: it knows alternatives opening with a literal character or
    with a non-capturing group of such alternatives, neither of them optional."""
    chars: set[str] = set()
    for sequence in alternatives:
        if not sequence or sequence[0][1] or sequence[0][0] is None:
            return None         # empty, optional or unknown first element
        chars |= sequence[0][0]
    return frozenset(chars)


def _parse(rx: str, i: int) -> tuple[list[list[Element]], int]:
    """The alternatives from ``i`` to the ")" closing the enclosing group (or the end),
    and the position of that ")"."""
    alternatives: list[list[Element]] = []
    sequence: list[Element] = []
    n = len(rx)
    while i < n:
        c = rx[i]
        if c == ")":
            break
        if c == "|":
            alternatives.append(sequence)
            sequence = []
            i += 1
            continue
        chars: frozenset[str] | None = None
        if rx.startswith("(?:", i):
            inner, i = _parse(rx, i + 3)
            chars = _first(inner)
        elif c == "(":                  # capturing group, lookaround, flags: unknown
            i = _parse(rx, i + 1)[1]
        elif c == "[":
            i = _class_end(rx, i)
        elif c == "\\":
            i += 1
        elif c not in ".^$":
            chars = frozenset(c)
        i, optional = _quantifier(rx, i + 1)
        sequence.append((chars, optional))
    alternatives.append(sequence)
    return alternatives, i


def _class_end(rx: str, i: int) -> int:
    """Position of the "]" closing the class opened at ``i`` ("]" first, after an
    optional "^", is literal)."""
    i += 2 if rx[i + 1:i + 2] == "^" else 1
    i += 1 if rx[i:i + 1] == "]" else 0
    while i < len(rx) and rx[i] != "]":
        i += 2 if rx[i] == "\\" else 1
    return i


def _quantifier(rx: str, i: int) -> tuple[int, bool]:
    """Position after the quantifier at ``i`` (if any), and whether it allows zero
    repetitions ("{m,n}" is taken to)."""
    if i >= len(rx) or rx[i] not in "?*+{":
        return i, False
    optional = rx[i] != "+"
    if rx[i] == "{":
        close = rx.find("}", i)
        i = close if close > 0 else i
    i += 1
    if i < len(rx) and rx[i] in "?+":      # lazy or possessive
        i += 1
    return i, optional
