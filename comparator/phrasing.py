"""Awkward-phrasing spans inside a pair, and the pair's flag.

Words of A and B are matched exactly (case-insensitive, in order, via difflib), then leftovers that
occur on both sides are matched out of order (reordering). What stays unmatched becomes typed spans:
omission (only in A), addition (only in B), substitution (both sides of a replaced stretch), reorder,
number, name, punctuation damage ("said. ."), broken sentence boundary ("at the time. that") and
repetition. Offsets are character offsets into the pair's `a_text` / `b_text`.
"""
from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

SPAN_KINDS = (
    "omission", "addition", "substitution", "reorder", "number", "name",
    "punctuation", "boundary", "repetition",
)

_TOKEN = re.compile(r"\w+(?:[’'.\-]\w+)*|[^\w\s]", re.UNICODE)
_DIGIT = re.compile(r"\d")


def tokens(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _TOKEN.finditer(text):
        key = unicodedata.normalize("NFKC", m.group()).lower().replace("’", "'")
        out.append((m.start(), m.end(), key))
    return out


def _is_punct(key: str) -> bool:
    return not any(ch.isalnum() for ch in key)


def _kind(tok_text: str, key: str, base: str, at_start: bool) -> str:
    if _is_punct(key):
        return "punctuation"
    if _DIGIT.search(key):
        return "number"
    if base == "substitution" and tok_text[:1].isupper() and not at_start:
        return "name"
    return base


def _merge(spans: list[list], text: str) -> list[list]:
    spans.sort()
    out: list[list] = []
    for s in spans:
        if out and out[-1][2] == s[2] and not text[out[-1][1] : s[0]].strip():
            out[-1][1] = max(out[-1][1], s[1])
        elif out and s[0] < out[-1][1]:
            out[-1][1] = max(out[-1][1], s[1])
        else:
            out.append(list(s))
    return out


_BOUNDARY = re.compile(r"[.!?]\s+(?=[a-z])")
_PUNCT_REPEAT = re.compile(r"([.,;:!?])(\s*\1)+|[,;:]\s*[.!?]|\s[.,;:](?=\s|$)")
_WORD_REPEAT = re.compile(r"\b(\w+)(\s+\1\b)+", re.IGNORECASE)


def _surface_spans(text: str, other: str) -> list[list]:
    """Damage visible in one side's text alone, reported where the other side does not have it."""
    out = []
    for m in _BOUNDARY.finditer(text):
        end = m.end() + len(re.match(r"\w*", text[m.end():]).group())
        if text[m.start():end] not in other:
            out.append([m.start(), end, "boundary"])
    for m in _PUNCT_REPEAT.finditer(text):
        if m.group().strip() not in other or text.count(m.group()) > other.count(m.group()):
            s, e = m.start(), m.end()
            while s < e and text[s].isspace():
                s += 1
            out.append([s, e, "punctuation"])
    for m in _WORD_REPEAT.finditer(text):
        if not re.search(re.escape(m.group()), other, re.IGNORECASE):
            out.append([m.start(), m.end(), "repetition"])
    return out


def spans(a_text: str, b_text: str) -> tuple[list[list], list[list]]:
    """Typed spans [start, end, kind] on each side of a pair."""
    if not b_text:
        return ([[0, len(a_text), "omission"]] if a_text else []), []
    if not a_text:
        return [], [[0, len(b_text), "addition"]]
    ta, tb = tokens(a_text), tokens(b_text)
    ka, kb = [t[2] for t in ta], [t[2] for t in tb]
    kind_a: dict[int, str] = {}
    kind_b: dict[int, str] = {}
    for op, i1, i2, j1, j2 in SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        base = {"replace": "substitution", "delete": "omission", "insert": "addition"}[op]
        for i in range(i1, i2):
            kind_a[i] = "omission" if base == "addition" else base
        for j in range(j1, j2):
            kind_b[j] = "addition" if base == "omission" else base
    # words left over on both sides: the same word in another place is a reordering
    left_b: dict[str, list[int]] = {}
    for j in sorted(kind_b):
        if not _is_punct(kb[j]):
            left_b.setdefault(kb[j], []).append(j)
    for i in sorted(kind_a):
        js = left_b.get(ka[i])
        if js:
            j = js.pop(0)
            kind_a[i] = kind_b[j] = "reorder"
    a_spans = [[ta[i][0], ta[i][1], _kind(a_text[ta[i][0]:ta[i][1]], ka[i], k, i == 0)]
               for i, k in kind_a.items()]
    b_spans = [[tb[j][0], tb[j][1], _kind(b_text[tb[j][0]:tb[j][1]], kb[j], k, j == 0 or kb[j - 1] in ".!?")]
               for j, k in kind_b.items()]
    # a lone punctuation difference inside a substitution is part of it, not punctuation damage
    b_spans += _surface_spans(b_text, a_text)
    return _merge(a_spans, a_text), _merge(b_spans, b_text)


# How much each kind of unmatched material says "wrong" rather than "reworded".
WEIGHTS = {
    "omission": 1.0, "addition": 0.8, "substitution": 0.5, "reorder": 1.0, "number": 1.5, "name": 1.2,
    "punctuation": 0.6, "boundary": 1.5, "repetition": 1.2,
}


def flag(a_text: str, b_text: str, a_spans: list, b_spans: list, chrf: float | None,
         cosine: float | None = None) -> float:
    """Higher = more likely awkward or wrong, in [0, 1]. Half is chrF's distance, half the weighted
    share of each side's tokens that sit in spans (structural damage counts more than rewording)."""
    if not a_text or not b_text:
        return 1.0

    def damage(text: str, sp: list) -> float:
        n = max(1, len(tokens(text)))
        hit = sum(WEIGHTS.get(k, 1.0) * len(tokens(text[s:e])) for s, e, k in sp)
        return min(1.0, hit / n)

    d = 0.5 * (damage(a_text, a_spans) + damage(b_text, b_spans))
    structural = sum(1 for _, _, k in a_spans + b_spans if k in ("boundary", "reorder", "number", "punctuation",
                                                                    "repetition", "name"))
    base = 1.0 - (chrf or 0.0) / 100.0
    return round(min(1.0, 0.5 * base + 0.5 * d + 0.05 * min(structural, 4)), 4)
