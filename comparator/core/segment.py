"""Sentence segmentation: text -> units (sentence text as written, paragraph index, furniture mark).

Paragraphs are blocks separated by blank lines; within a block a line break is a boundary unless the
block is hard-wrapped prose. Sentences inside a line come from sentencex (it keeps "Mr.", "U.S.",
"Maj. Gen.", "Main St., said" and "2,500" whole), also inside quotations, with two repairs: an opening quote left at the end of
one sentence moves to the next, and a fragment of punctuation alone joins its neighbour. Nothing is
dropped: the units hold every non-space character of the input, in order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from comparator.core import furniture
from comparator.core.documents import clean_display, normalise, normalise_newlines

# A unit longer than this is cut at spaces: a 2 MB line with no punctuation becomes readable rows.
MAX_UNIT_CHARS = 1000

MODES = ("text", "lines", "aligned")


@dataclass(frozen=True)
class Unit:
    text: str
    paragraph: int
    furniture: bool = False


_OPENERS = "“‘«„\"'"
_HAS_WORD = re.compile(r"\w")
_TERMINAL = tuple(".!?:;…\"”’»)")


_QUOTES = frozenset("“”‘’\"«»„")


def _sentencex(line: str) -> list[str]:
    """sentencex keeps a quotation whole however many sentences it holds, so the boundaries are found
    on the line with its quote marks taken out (apostrophes inside words stay) and the original line is
    cut at the same places."""
    import sentencex

    keep = [i for i, ch in enumerate(line)
            if ch not in _QUOTES or (ch in "’'" and 0 < i < len(line) - 1 and line[i - 1].isalnum()
                                     and line[i + 1].isalnum())]
    # other spaces (NBSP, thin space...) become plain ones, one for one so that positions hold: sentencex
    # has panicked on a byte index inside an NBSP
    bare = "".join(" " if line[i].isspace() and line[i] != "\n" else line[i] for i in keep)
    try:
        parts = list(sentencex.segment("en", bare))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a panic inside the splitter (pyo3 raises BaseException): keep the line whole
        parts = [bare]
    cuts, pos = [0], 0
    for part in parts:
        found = bare.find(part, pos)
        start = found if found >= 0 else pos
        if 0 < start < len(keep):
            cuts.append(keep[start])
        pos = start + len(part)
    cuts = sorted(set(cuts))
    pieces = [line[a:b] for a, b in zip(cuts, cuts[1:] + [len(line)])]
    return [p for p in pieces if p.strip()]


def _repair(parts: list[str]) -> list[str]:
    out: list[str] = []
    carry = ""
    for part in parts:
        part = carry + part.strip()
        carry = ""
        m = re.search(r"\s([" + _OPENERS + r"]+)$", part)
        if m and _HAS_WORD.search(part[: m.start()]):
            carry = m.group(1)
            part = part[: m.start()].rstrip()
        if not _HAS_WORD.search(part) and out:
            out[-1] = out[-1] + " " + part
            continue
        out.append(part)
    if carry:
        if out:
            out[-1] = out[-1] + " " + carry
        else:
            out.append(carry)
    # a leading fragment with no word joins the next sentence
    if len(out) > 1 and not _HAS_WORD.search(out[0]):
        out[1] = out[0] + " " + out[1]
        out.pop(0)
    return out


def _cut_long(sentence: str) -> list[str]:
    if len(sentence) <= MAX_UNIT_CHARS:
        return [sentence]
    pieces = []
    rest = sentence
    while len(rest) > MAX_UNIT_CHARS:
        cut = rest.rfind(" ", MAX_UNIT_CHARS // 2, MAX_UNIT_CHARS)
        if cut <= 0:
            cut = MAX_UNIT_CHARS
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return [p for p in pieces if p]


def _is_hard_wrapped(lines: list[str]) -> bool:
    if len(lines) < 3:
        return False
    longest = max(len(x) for x in lines)
    if longest < 40 or longest > 120:
        return False
    wrapped = sum(1 for x in lines[:-1] if len(x) > 0.6 * longest and not x.rstrip().endswith(_TERMINAL))
    return wrapped >= 0.5 * (len(lines) - 1)


def blocks(text: str) -> list[list[str]]:
    """Paragraphs (blank-line separated) as lists of lines, each line a hard boundary."""
    out = []
    for block in re.split(r"\n[ \t\u00a0]*\n", normalise_newlines(text)):
        # a line of only invisible characters (zero-width spacers of web pages) is a blank line
        lines = [ln.strip() for ln in block.split("\n") if normalise(ln)]
        if not lines:
            continue
        if _is_hard_wrapped(lines):
            lines = [" ".join(lines)]
        out.append(lines)
    return out


def split_sentences(line: str) -> list[str]:
    """Sentences of one line of prose, as written (whitespace at the edges trimmed)."""
    line = clean_display(line)
    if not line:
        return []
    parts = _repair(_sentencex(line)) or [line]
    out = []
    for p in parts:
        out.extend(_cut_long(p))
    return out


def segment(text: str, mode: str = "text", furniture_blocks: frozenset = frozenset()) -> list[Unit]:
    """Split a document into units. `text`: find the sentences; `lines`/`aligned`: one unit a line.
    Lines listed in `furniture_blocks` (e.g. an HTML page's navigation) are furniture whole."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    units: list[Unit] = []
    for p, lines in enumerate(blocks(text)):
        for line in lines:
            if line in furniture_blocks:
                units.extend(Unit(s, p, True) for s in (split_sentences(line) if mode == "text" else
                                                        _cut_long(clean_display(line))))
                continue
            if mode != "text":
                for piece in _cut_long(clean_display(line)) if mode == "lines" else [clean_display(line)]:
                    units.append(Unit(piece, p, furniture.is_furniture(piece)))
                continue
            if furniture.is_furniture(line):
                units.append(Unit(clean_display(line), p, True))
                continue
            for i, sentence in enumerate(split_sentences(line)):
                if i == 0:
                    prefix, sentence = furniture.split_prefix(sentence, first_paragraphs=p < 3)
                    if prefix:
                        units.append(Unit(prefix, p, True))
                units.append(Unit(sentence, p, furniture.is_furniture(sentence)))
    return units


def aligned_lines(text: str) -> list[str]:
    """Lines for `aligned` mode: every line kept in place (a final newline does not make a line)."""
    lines = normalise_newlines(text).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [clean_display(x) for x in lines]
