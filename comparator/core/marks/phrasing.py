"""Awkward-phrasing spans inside a pair, and the pair's flag.

`spans(a, b)` matches A's and B's words in three passes (in order, moved, spelled almost alike) and types
what is left (omission, addition, substitution, reorder, number, name, punctuation, boundary, repetition,
wording); `flag(...)` adds what differs inside the pair into one cost, squashed to [0, 1). What each part
of the cost measures and why its weight is what it is: docs/how-it-works.md; the figures: docs/benchmarks.md.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from difflib import SequenceMatcher
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from comparator.core.marks import fluency
from comparator.core.marks import model as span_model
from comparator.core.marks import rule as mark_rule

SPAN_KINDS = (
    "omission", "addition", "substitution", "reorder", "number", "name",
    "punctuation", "boundary", "repetition", "wording",
)

# The weights; docs/how-it-works.md says what each part measures and why it weighs what it does.
EVENT_WEIGHT = 2.0  # per damage event (broken boundary, punctuation damage, repeated word, neighbours in an
#                     unusual order, unknown word) and per changed number or name
CONTENT = {"omission": 0.75, "addition": 0.0, "substitution": 0.0, "reorder": 0.0, "punctuation": 4.0}
LOST_WEIGHT = 4.0  # token vectors: sum over A's tokens of 1 - best cosine in B, per token of A
EXTRA_WEIGHT = 2.0  # token vectors: sum over B's tokens of 1 - best cosine in A, per token of A
UNMATCHED_WEIGHT = 0.5  # token vectors: unmatched words, each 1 - best cosine among the other side's leftovers
COSINE_WEIGHT = 4.0  # 1 - cosine of the sentence vectors, when no token vectors are given
CHRF_WEIGHT = 2.0  # 1 - chrF / 100
FLUENCY_WEIGHT = 0.1  # per unit of negative PMI of B's new neighbouring words (fluency.py)
WORDING_PMI = -2.5  # neighbours this much rarer than chance (e^-2.5 = 1/12) are marked as a "wording" span
SCALE = 2.5  # flag = cost / (cost + SCALE)

# When several kinds cover the same characters, the span takes the strongest evidence.
_PRIORITY = {k: n for n, k in enumerate(
    ("boundary", "repetition", "number", "name", "punctuation", "wording", "reorder", "substitution", "omission",
     "addition"))}

# numbers with their separators ("2,500", "17:07", "10th"); dotted abbreviations ("U.S.") and a short
# capitalised word with its period before a space ("Mr.", "Gen.") whole; words; single punctuation marks
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*[^\W\d_]*|[^\W\d_](?:\.[^\W\d_])+\.?|[A-Z][a-z]{0,2}\.(?=\s)"
                    r"|[^\W\d_]+(?:['’.][^\W\d_]+)*|\w+|[^\w\s]", re.UNICODE)
_FOLD = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'",
                       "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-"})


def tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end, key) for each word or punctuation mark; the key is folded for matching."""
    return list(_tokens(text))


@lru_cache(maxsize=16384)
def _tokens(text: str) -> tuple[tuple[int, int, str], ...]:
    # one pair asks for its texts' tokens several times (matching, evidence, token matching): once is enough
    out = []
    for m in _TOKEN.finditer(text):
        g = m.group()
        # NFKC and the folding leave ASCII as it is
        key = g.lower() if g.isascii() else unicodedata.normalize("NFKC", g).lower().translate(_FOLD)
        if "." in key and len(key) > 1 and not key[0].isdigit():
            key = key.replace(".", "")  # "U.S." = "US", "Mr." = "Mr"
        start, end = m.span()
        out.append((start, end, key))
    return tuple(out)


@lru_cache(maxsize=65536)
def _is_punct(key: str) -> bool:
    return not any(ch.isalnum() for ch in key)


@lru_cache(maxsize=65536)
def _has_digit(key: str) -> bool:
    return any(ch.isdigit() for ch in key)


@lru_cache(maxsize=65536)
def _near(x: str, y: str) -> bool:
    """Spelled almost alike: the same word inflected or misspelled, or a number with a digit changed."""
    lx, ly = len(x), len(y)
    if min(lx, ly) < 3 or _is_punct(x) or _is_punct(y):
        return False
    short, long_ = sorted((x, y), key=len)
    if len(short) >= 4 and long_.startswith(short):  # "Iran" / "Iranian", "report" / "reported"
        return True
    # the two quick ratios bound the ratio from above: most word pairs fail there, before the full match.
    # Both as difflib computes them (2.0 * matches / total), without building a SequenceMatcher first:
    # the lengths (real_quick_ratio), then the letters in common counted with repeats (quick_ratio)
    if 2.0 * min(lx, ly) / (lx + ly) < 0.75:
        return False
    avail = Counter(y)
    common = 0
    for ch in x:
        if avail[ch] > 0:
            avail[ch] -= 1
            common += 1
    if 2.0 * common / (lx + ly) < 0.75:
        return False
    return SequenceMatcher(None, x, y, autojunk=False).ratio() >= 0.75


class _Match(NamedTuple):
    ta: list  # tokens of A: (start, end, key)
    tb: list
    sa: list  # status of each A token: None (unmatched), "equal", "reorder" or "near"
    sb: list
    pa: list  # index of the matched B token, or -1
    pb: list
    block_a: list  # index of the differing stretch an A token belongs to
    block_b: list
    blocks: list  # (op, i1, i2, j1, j2) of the stretches that differ


def _pair(m: _Match, i: int, j: int, status: str) -> None:
    m.sa[i] = m.sb[j] = status
    m.pa[i], m.pb[j] = j, i


@lru_cache(maxsize=4096)
def _match(a_text: str, b_text: str) -> _Match:
    """Token matching of a pair: exact and in order, then moved, then spelled almost alike."""
    ta, tb = _tokens(a_text), _tokens(b_text)
    ka, kb = [t[2] for t in ta], [t[2] for t in tb]
    m = _Match(ta, tb, [None] * len(ta), [None] * len(tb), [-1] * len(ta), [-1] * len(tb),
               [0] * len(ta), [0] * len(tb), [])
    for op, i1, i2, j1, j2 in SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        if op == "equal":  # _pair for each token of the stretch, a stretch at a time
            m.sa[i1:i2] = ["equal"] * (i2 - i1)
            m.sb[j1:j2] = ["equal"] * (j2 - j1)
            m.pa[i1:i2] = range(j1, j2)
            m.pb[j1:j2] = range(i1, i2)
            continue
        m.block_a[i1:i2] = [len(m.blocks)] * (i2 - i1)
        m.block_b[j1:j2] = [len(m.blocks)] * (j2 - j1)
        m.blocks.append((op, i1, i2, j1, j2))
    # the same word left over on both sides: moved
    left_b: dict[str, list[int]] = {}
    for j, st in enumerate(m.sb):
        if st is None and not _is_punct(kb[j]):
            left_b.setdefault(kb[j], []).append(j)
    for i, st in enumerate(m.sa):
        js = left_b.get(ka[i]) if st is None else None
        if js:
            _pair(m, i, js.pop(0), "reorder")
    # inside one differing stretch: two words written as one ("air strikes" / "airstrikes"), and a word
    # spelled almost alike (the same word inflected or misspelled)
    # (each loop over j stops at the first pairing: the token i is taken then)
    sa, sb = m.sa, m.sb
    for op, i1, i2, j1, j2 in m.blocks:
        if op != "replace":
            continue
        for i in range(i1, i2 - 1):
            if sa[i] is None and sa[i + 1] is None:
                joined = ka[i] + ka[i + 1]
                for j in range(j1, j2):
                    if sb[j] is None and kb[j] == joined:
                        _pair(m, i, j, "near")
                        sa[i + 1] = "near"
                        break
        for j in range(j1, j2 - 1):
            if sb[j] is None and sb[j + 1] is None:
                joined = kb[j] + kb[j + 1]
                for i in range(i1, i2):
                    if sa[i] is None and ka[i] == joined:
                        _pair(m, i, j, "near")
                        sb[j + 1] = "near"
                        break
        for i in range(i1, i2):
            if sa[i] is not None:
                continue
            x = ka[i]
            for j in range(j1, j2):
                if sb[j] is None and _near(x, kb[j]):
                    _pair(m, i, j, "near")
                    break
        # an abbreviation and the words it abbreviates ("US" / "United States"): the same name
        _acronyms(m, a_text, b_text, range(i1, i2), range(j1, j2))
        _acronyms(m, a_text, b_text, range(i1, i2), range(j1, j2), swap=True)
    return m


def _acronyms(m: _Match, a_text: str, b_text: str, ia, jb, swap: bool = False) -> None:
    """Pair an all-capital token (2-5 letters) left over on one side with a run of capitalised words left
    over on the other whose initials spell it, skipping "of", "and", "the" ("UN" / "United Nations")."""
    ta, tb, sa, sb, text_a, text_b = m.ta, m.tb, m.sa, m.sb, a_text, b_text
    if swap:
        ta, tb, sa, sb, ia, jb, text_a, text_b = tb, ta, sb, sa, jb, ia, b_text, a_text
    for i in ia:
        word = text_a[ta[i][0]:ta[i][1]].replace(".", "")
        if sa[i] is not None or not (2 <= len(word) <= 5 and word.isalpha() and word.isupper()):
            continue
        run = [j for j in jb if sb[j] is None]
        for start in range(len(run)):
            got, used = "", []
            for j in run[start:]:
                w = text_b[tb[j][0]:tb[j][1]]
                if w.lower() in ("of", "and", "the", "for") and got:
                    used.append(j)
                    continue
                if not w[:1].isupper() or (used and j != used[-1] + 1):
                    break
                got += w[0]
                used.append(j)
                if len(got) >= len(word):
                    break
            if got == word and used:
                for j in used:
                    sb[j] = "near"
                sa[i] = "near"
                break


@lru_cache(maxsize=4096)
def _english(a_text: str) -> bool:
    """Whether the word evidence of fluency.py applies to a pair with this reference (one check per text)."""
    return fluency.applies([t[2] for t in _tokens(a_text)])


@lru_cache(maxsize=4096)
def local_swaps(a_text: str, b_text: str) -> int:
    """Neighbouring words of one side that stand in the other order, still side by side, on the other, where
    the other side's order is the usual one: "groups armed" for "armed groups". (A phrase moved as a whole,
    "On Tuesday, X said" for "X said on Tuesday", is not a swap; nor is "Putin said" for "said Putin", an
    order English uses as often: for English text, `fluency.pmi` decides which order is usual.)"""
    ka = [t[2] for t in _tokens(a_text) if not _is_punct(t[2])]
    kb = [t[2] for t in _tokens(b_text) if not _is_punct(t[2])]
    pairs_a = set(zip(ka, ka[1:]))
    pairs_b = set(zip(kb, kb[1:]))
    english = _english(a_text)
    n = 0
    for x, y in pairs_b:
        if x != y and (y, x) in pairs_a and (x, y) not in pairs_a:
            here, there = (fluency.pmi(x, y), fluency.pmi(y, x)) if english else (None, None)
            if here is None or there is None or here < there:
                n += 1
    return n


@lru_cache(maxsize=4096)
def swap_tokens(a_text: str, b_text: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per token of A and of B (`tokens`): whether it stands in a local transposition, as `local_swaps`
    finds them (neighbouring words of B in the other order, still side by side, in A): 1.0 where B's order
    is the less usual one (or English word evidence does not say), 0.5 where B's order is the usual one
    ("said Putin" for "Putin said"), 0.0 for the other tokens. What the span model reads of a span."""
    ta, tb = _tokens(a_text), _tokens(b_text)
    va, vb = [0.0] * len(ta), [0.0] * len(tb)
    ia = [i for i, t in enumerate(ta) if not _is_punct(t[2])]
    ib = [j for j, t in enumerate(tb) if not _is_punct(t[2])]
    ka, kb = [ta[i][2] for i in ia], [tb[j][2] for j in ib]
    where_a: dict[tuple[str, str], list[int]] = {}
    for n, xy in enumerate(zip(ka, ka[1:])):
        where_a.setdefault(xy, []).append(n)
    english = None
    for n, (x, y) in enumerate(zip(kb, kb[1:])):
        if x == y or (x, y) in where_a:
            continue
        there = where_a.get((y, x))
        if not there:
            continue
        if english is None:
            english = _english(a_text)
        here_p, there_p = (fluency.pmi(x, y), fluency.pmi(y, x)) if english else (None, None)
        v = 1.0 if here_p is None or there_p is None or here_p < there_p else 0.5
        for j in (ib[n], ib[n + 1]):
            vb[j] = max(vb[j], v)
        for m in there:
            for i in (ia[m], ia[m + 1]):
                va[i] = max(va[i], v)
    return tuple(va), tuple(vb)


# quotation marks and brackets that come in pairs: (opening, closing); a straight double quote counts by parity
_PAIRED = (("“", "”"), ("(", ")"), ("[", "]"), ("{", "}"))
QUOTE_CHARS = frozenset("\"“”„«»()[]{}")


@lru_cache(maxsize=4096)
def unbalanced(a_text: str, b_text: str) -> int:
    """How far B's quotation marks and brackets are from pairing up, beyond A's: for each kind, the
    difference between B's and A's (openings - closings), and for straight double quotes of their counts'
    parity, summed. 0 when B pairs its marks as A does (whatever A's own style); a quote turned the wrong
    way, dropped or doubled counts."""
    n = 0
    for o, c in _PAIRED:
        if o in b_text or c in b_text or o in a_text or c in a_text:
            n += abs((b_text.count(o) - b_text.count(c)) - (a_text.count(o) - a_text.count(c)))
    n += abs(b_text.count('"') % 2 - a_text.count('"') % 2)
    return n


class Wording(NamedTuple):
    rarity: float  # the sum of max(0, -PMI) over B's new neighbouring words
    unknown: int  # B's lower-case words that neither the word table nor A knows
    spans: list  # [start, end, "wording"] in B: the pairs below WORDING_PMI and the unknown words


@lru_cache(maxsize=4096)
def unusual_wording(a_text: str, b_text: str) -> Wording:
    """Evidence in B alone that its wording is not English, when A is English (see fluency.py): B's pairs
    of neighbouring lower-case words that A does not have side by side, each max(0, -PMI), and B's
    lower-case words that neither the word table nor A knows ("monitered")."""
    if not _english(a_text):
        return Wording(0.0, 0, [])
    m = _match(a_text, b_text)
    ka = [t[2] for t in m.ta]
    a_pairs = set(zip(ka, ka[1:]))
    a_words = set(ka)
    cost, out, unknown = 0.0, [], 0
    tb = m.tb
    word = [fluency.is_word(t[2]) for t in tb]
    lower = [b_text[s:e].islower() for s, e, _ in tb]
    for j, (s, e, key) in enumerate(tb):
        if word[j] and lower[j] and key not in a_words and not fluency.known(key):
            unknown += 1
            out.append([s, e, "wording"])
        if j + 1 < len(tb):
            s2, e2, key2 = tb[j + 1]
            if (key, key2) in a_pairs or not (word[j] and word[j + 1]):
                continue
            if not (lower[j] and lower[j + 1]):
                continue
            r = fluency.pmi(key, key2)
            if r is not None and r < 0:
                cost += -r
                if r < WORDING_PMI:
                    out.append([s, e2, "wording"])
    return Wording(cost, unknown, out)


def _sentence_start(toks, i: int) -> bool:
    return i == 0 or toks[i - 1][2] in (".", "!", "?", '"', ":")


def _kind(text: str, toks, i: int, base: str, near: bool = False) -> str:
    start, end, key = toks[i]
    if _is_punct(key):
        return "punctuation"
    if _has_digit(key):
        return "number"
    # a name matched to a form of itself ("Iran" / "Iranian", "US" / "United States") is not a changed name
    if base in ("substitution", "omission", "addition") and text[start:end][:1].isupper() \
            and not _sentence_start(toks, i) and not near:
        return "name"
    return base


def _merge(spans: list[list], text: str) -> list[list]:
    """Join touching spans of one kind and overlapping spans of any kind (the strongest kind wins)."""
    spans.sort(key=lambda s: (s[0], -s[1]))
    out: list[list] = []
    for s in spans:
        if out and s[0] < out[-1][1]:
            last = out[-1]
            last[1] = max(last[1], s[1])
            if _PRIORITY[s[2]] < _PRIORITY[last[2]]:
                last[2] = s[2]
        elif out and out[-1][2] == s[2] and not text[out[-1][1]: s[0]].strip():
            out[-1][1] = max(out[-1][1], s[1])
        else:
            out.append(list(s))
    return out


_BOUNDARY = re.compile(r"(?<=\w\w)[.!?]\s+(?=[a-z])")
_ABBREV = {"etc", "vs", "approx", "incl", "esp", "cf", "al", "ca", "viz", "no", "nos", "pp", "vol"}
_PUNCT_DAMAGE = re.compile(r"([.,;:!?])(\s*\1)+|[,;:]\s*[.!?]|\s[.,;:!?](?=\s|$)")
_WORD_REPEAT = re.compile(r"\b(\w+)(\s+\1\b)+", re.IGNORECASE)
_PAIR_MARK = re.compile(r"[“”()\[\]]")
_CLOSER = {"”": "“", ")": "(", "]": "["}


def stray_marks(text: str) -> list[int]:
    """Where curly double quotes and brackets do not pair up: a mark turned the wrong way for its place (an
    opening mark with nothing after it before the end of the text, "from Covid. “"; a closing mark with
    nothing before it), a closing mark with nothing open, an opening mark never closed, and of two opening
    quotes in a row (English does not nest double quotes) the one standing alone (a turned closing quote)
    or else the first. Straight quotes and guillemets, which have no direction or which some languages
    space, are left out. Offsets of the marks."""
    if not _PAIR_MARK.search(text):
        return []
    out = []
    quote = -1  # the open double quote's offset
    stack: dict[str, list[int]] = {"(": [], "[": []}
    n = len(text)
    for m in _PAIR_MARK.finditer(text):
        i, ch = m.start(), m.group()
        before, after = text[:i].strip(), text[i + 1:].strip()
        if ch in "“([" and not after and before:
            out.append(i)  # an opening mark at the end opens nothing: a closing one turned the wrong way
            if ch == "“":
                quote = -1
            elif stack[ch]:
                stack[ch].pop()
            continue
        if ch in "”)]" and not before and after:
            out.append(i)
            continue
        if ch == "“":
            if quote >= 0:
                alone = (i == 0 or text[i - 1].isspace()) and (i + 1 == n or text[i + 1].isspace())
                if alone:  # a closing quote turned the wrong way
                    out.append(i)
                    quote = -1
                    continue
                out.append(quote)
            quote = i
        elif ch == "”":
            if quote >= 0:
                quote = -1
            else:
                out.append(i)
        elif ch in stack:
            stack[ch].append(i)
        elif stack[_CLOSER[ch]]:
            stack[_CLOSER[ch]].pop()
        else:
            out.append(i)
    if quote >= 0:
        out.append(quote)
    out += stack["("] + stack["["]
    return sorted(out)


def _surface_damage(text: str, other: str, stray_ok=None) -> list[tuple[list, tuple[int, int, str]]]:
    """Damage visible in one side's text alone, reported where the other side does not have it: each as
    its span [start, end, kind] and the edit that repairs it (start, end, replacement). `stray_ok`: when
    given, the offsets of the curly quotes and brackets that do not pair up in the text's wider context
    (its paragraph); a stray mark elsewhere is left out."""
    out = []
    low_other = other.lower()
    for m in _BOUNDARY.finditer(text):
        word = re.search(r"(\w+)$", text[: m.start()]).group(1)
        if word.lower() in _ABBREV or re.search(r"\w\.\w+$", text[: m.start()]):
            continue
        end = m.end() + len(re.match(r"\w*", text[m.end():]).group())
        if text[m.start(): end].lower() not in low_other:
            out.append(([m.start(), end, "boundary"], (m.start(), m.start() + 1, "")))  # the full stop out
    for m in _PUNCT_DAMAGE.finditer(text):
        g = m.group().strip()
        if text.count(m.group()) > other.count(m.group()) or g not in other:
            s = m.start() + len(m.group()) - len(m.group().lstrip())
            if m.group(1):  # a doubled mark: once
                fix = (m.start(), m.end(), m.group(1))
            elif m.group()[0] in ",;:":  # ",." : the stronger mark alone, against the word before
                fix = (len(text[:m.start()].rstrip()), m.end(), m.group()[-1])
            else:  # a mark alone between spaces: out, with the space before it
                fix = (m.start(), m.end(), "")
            out.append(([s, m.end(), "punctuation"], fix))
    for m in _WORD_REPEAT.finditer(text):
        if not re.search(re.escape(m.group()), other, re.IGNORECASE):
            out.append(([m.start(), m.end(), "repetition"], (m.start(), m.end(), m.group(1))))
    for i in stray_offsets(text, other):
        if stray_ok is not None and i not in stray_ok:
            continue
        # the mark out, and a space it leaves doubled
        alone = i > 0 and text[i - 1].isspace() and (i + 1 == len(text) or text[i + 1].isspace())
        out.append(([i, i + 1, "punctuation"], (i - 1 if alone else i, i + 1, "")))
    return out


def _surface_spans(text: str, other: str) -> list[list]:
    """Damage visible in one side's text alone, reported where the other side does not have it."""
    return [sp for sp, _fix in _surface_damage(text, other)]


class SideContext(NamedTuple):
    """What the engine knows of one side's text beyond it (pipeline.py: the units before it in its paragraph)."""
    lead: str | None = None  # a sentence broken mid-way just before the text: the previous unit's last mark
    #                          and the text's first word, ". from" (`unit_break`); None when there is none
    stray: frozenset | None = None  # offsets in the text of the curly quotes and brackets that do not pair up
    #                                 in the text's paragraph (for a side without counterpart); None: not known


NO_CONTEXT = (SideContext(), SideContext())


def unit_break(prev: str, text: str) -> str | None:
    """The sentence broken mid-way between two units of one side and one paragraph, as `_BOUNDARY` finds it
    inside a text (abbreviations `_ABBREV` and dotted ones, "U.S.", excepted): `prev` ends with a word and
    ".", "!" or "?", `text` begins with a lower-case word. The break as ". word", or None."""
    m = _LEAD_WORD.match(text)
    if not m:
        return None
    prev = prev.rstrip()
    e = _UNIT_END.search(prev)
    if not e or len(e.group(1)) < 2 or e.group(1).lower() in _ABBREV or re.search(r"\w\.\w+$", prev[:-1]):
        return None
    return f"{e.group(2)} {m.group()}"


_LEAD_WORD = re.compile(r"[a-z]\w*")
_UNIT_END = re.compile(r"(\w+)([.!?])$")


def _lead_span(text: str, own: SideContext, other_text: str, other: SideContext | None) -> list[list]:
    """The boundary span on the first word of a text that a sentence broken between units begins, unless
    the other side (of a two-sided pair) has the same break, inside its text or before it."""
    if not own.lead:
        return []
    word = own.lead.split(" ", 1)[1]
    if not text.startswith(word):
        return []
    if other is not None and (own.lead.lower() in other_text.lower() or other.lead == own.lead):
        return []
    return [[0, len(word), "boundary"]]


def unit_damage(text: str, ctx: SideContext = SideContext()) -> list[list]:
    """The damage of a text that has no counterpart, read alone (there is nothing to compare with: every
    damage counts): broken boundaries, inside it and (`ctx.lead`) before it, doubled or stray punctuation,
    repeated words, curly quotes and brackets that do not pair up (in its paragraph, with `ctx.stray`)."""
    got = [sp for sp, _fix in _surface_damage(text, "", ctx.stray)] + _lead_span(text, ctx, "", None)
    return _merge(got, text)


def one_sided_spans(text: str, kind: str, ctx: SideContext = SideContext()) -> list[list]:
    """A text without counterpart: its whole as one `kind` span ("addition", "omission") split around the
    damage found in it (`unit_damage`), so that the spans do not overlap and every character is covered."""
    out, pos = [], 0
    for s, e, k in unit_damage(text, ctx):
        if s > pos:
            out.append([pos, s, kind])
        out.append([s, e, k])
        pos = e
    if pos < len(text) or not out:
        out.append([pos, len(text), kind])
    return out


_WHOLE = ("addition", "omission")


def repaired(text: str, damage: list) -> str:
    """The text with each damage span (`unit_damage`) repaired: a broken boundary's full stop taken out (a
    break before the text: its first letter capitalised), a doubled mark once, ",." as ".", a mark alone
    between spaces or a stray quote or bracket taken out, a repeated word once. What the span model reads
    as the reference of a text without counterpart (it was trained on such damage of a copy)."""
    edits = []
    for s, e, k in (sp[:3] for sp in damage):
        if k == "boundary" and s == 0 and text[:1].islower():
            edits.append((0, 1, text[0].upper()))
            continue
        if k == "boundary":
            for i in range(s, e):
                if text[i] in ".!?":
                    edits.append((i, i + 1, ""))
                    break
            continue
        off = max(0, s - 1)  # with a character either side: a mark alone between spaces, or before a word
        for _sp, fix in _surface_damage(text[off:e + 1], ""):
            edits.append((fix[0] + off, fix[1] + off, fix[2]))
    out, last = text, len(text) + 1
    for s, e, r in sorted(set(edits), reverse=True):
        if e <= last:
            out = out[:s] + r + out[e:]
            last = s
    return out


_MARK_CLASS = {"“": "q", "”": "q", "(": "r", ")": "r", "[": "s", "]": "s"}


def stray_offsets(text: str, other: str) -> list[int]:
    """`stray_marks(text)` of the kinds of mark (double quote, round, square bracket) that pair up worse
    in `text` than in `other`: damage, not a style both sides share."""
    stray = stray_marks(text)
    if not stray:
        return []
    worse = Counter(_MARK_CLASS[text[i]] for i in stray)
    worse.subtract(_MARK_CLASS[other[i]] for i in stray_marks(other))
    return [i for i in stray if worse[_MARK_CLASS[text[i]]] > 0]


_BASE_KIND = {"reorder": "reorder", "near": "substitution"}  # a matched token's kind, by how it was matched


def spans(a_text: str, b_text: str, context=NO_CONTEXT) -> tuple[list[list], list[list]]:
    """Typed spans [start, end, kind] on each side of a pair. A side without counterpart is an omission or
    an addition, split around the damage found in it (`one_sided_spans`). `context`: a `SideContext` for A
    and for B, what the engine knows beyond the texts (a sentence broken just before one, `unit_break`)."""
    ca, cb = context
    if not b_text.strip():
        return (one_sided_spans(a_text, "omission", ca) if a_text.strip() else []), []
    if not a_text.strip():
        return [], one_sided_spans(b_text, "addition", cb)
    m = _match(a_text, b_text)
    ta, tb, sa, sb, block_a, block_b = m.ta, m.tb, m.sa, m.sb, m.block_a, m.block_b
    # a stretch with leftovers on both sides is a substitution; on one side only, an omission or addition
    open_a = {block_a[i] for i, s in enumerate(sa) if s is None}
    open_b = {block_b[j] for j, s in enumerate(sb) if s is None}
    a_spans, b_spans = [], []
    for i, s in enumerate(sa):
        if s == "equal":
            continue
        base = _BASE_KIND.get(s) or (
            "substitution" if block_a[i] in open_b else "omission")
        a_spans.append([ta[i][0], ta[i][1], _kind(a_text, ta, i, base, s == "near")])
    for j, s in enumerate(sb):
        if s == "equal":
            continue
        base = _BASE_KIND.get(s) or (
            "substitution" if block_b[j] in open_a else "addition")
        b_spans.append([tb[j][0], tb[j][1], _kind(b_text, tb, j, base, s == "near")])
    b_spans += _surface_spans(b_text, a_text)
    b_spans += [list(x) for x in unusual_wording(a_text, b_text).spans]
    a_spans += _lead_span(a_text, ca, b_text, cb)
    b_spans += _lead_span(b_text, cb, a_text, ca)
    return _merge(a_spans, a_text), _merge(b_spans, b_text)


def _number_key(key: str) -> str:
    """A number as its digits alone: "2,500", "2.500" and "2500" are one number in some language."""
    return "".join(ch for ch in key if ch.isdigit())


def _alike(x: str, y: str) -> bool:
    """One name in two languages: spelled almost alike, or the same first four letters ("Londres", "London")."""
    return _near(x, y) or (min(len(x), len(y)) >= 4 and x[:4] == y[:4])


def cross_spans(a_text: str, b_text: str, same_script: bool = False,
                context=NO_CONTEXT) -> tuple[list[list], list[list]]:
    """Spans of a pair whose sides are in different languages, where A's words cannot be matched with B's:
    numbers (by their digits) found on one side only; with `same_script` (both sides written in one
    script, e.g. French and English), capitalised words inside a sentence that the other side has
    nowhere, not even spelled almost alike or with the same first four letters (a changed name); and the damage B shows on its own (broken
    boundaries, punctuation damage, repeated words). A side left empty is an omission or an addition."""
    if not b_text.strip() or not a_text.strip():
        return spans(a_text, b_text, context)
    ta, tb = _tokens(a_text), _tokens(b_text)
    out = ([], [])
    nums = [{_number_key(t[2]) for t in toks if any(ch.isdigit() for ch in t[2])} for toks in (ta, tb)]
    words = [{t[2] for t in toks if not _is_punct(t[2])} for toks in (ta, tb)]
    for side, (text, toks) in enumerate(((a_text, ta), (b_text, tb))):
        other = 1 - side
        for i, (s, e, key) in enumerate(toks):
            if any(ch.isdigit() for ch in key):
                if _number_key(key) not in nums[other]:
                    out[side].append([s, e, "number"])
            elif same_script and text[s:e][:1].isupper() and not _sentence_start(toks, i) and len(key) > 1 \
                    and key not in words[other] and not any(_alike(key, w) for w in words[other]):
                out[side].append([s, e, "name"])
    out[1].extend(_surface_spans(b_text, a_text))
    out[0].extend(_lead_span(a_text, context[0], b_text, context[1]))
    out[1].extend(_lead_span(b_text, context[1], a_text, context[0]))
    return _merge(out[0], a_text), _merge(out[1], b_text)


def _offsets(offsets) -> np.ndarray:
    return np.asarray(offsets, dtype=np.int64).reshape(-1, 2)


def _unit_rows(vectors, offsets) -> np.ndarray | None:
    """Token vectors as unit rows, without special tokens (zero-width offsets) when offsets are given."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or not len(v):
        return None
    if offsets is not None and len(offsets) == len(v):
        o = _offsets(offsets)
        v = v[o[:, 1] > o[:, 0]]
    if not len(v):
        return None
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)


def _word_rows(toks, offsets, vectors) -> np.ndarray | None:
    """One unit vector per token of ours: the mean of the model tokens that overlap it."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or len(offsets) != len(v) or not len(toks):
        return None
    o = _offsets(offsets)
    starts, ends = o[:, 0], o[:, 1]
    spans = np.array([(s, e) for s, e, _ in toks], dtype=np.int64)
    # which model tokens overlap each of our tokens, all at once
    hits = (ends > starts)[None, :] & (starts[None, :] < spans[:, 1:2]) & (ends[None, :] > spans[:, 0:1])
    out = np.zeros((len(toks), v.shape[1]), dtype=np.float32)
    count = hits.sum(axis=1)
    one = np.flatnonzero(count == 1)
    out[one] = v[hits[one].argmax(axis=1)]  # the mean of one row is that row
    for q in np.flatnonzero(count > 1):
        out[q] = v[hits[q]].mean(axis=0)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def token_match(a_text: str, b_text: str, token_vectors) -> tuple[float, float, float] | None:
    """What the contextual token vectors say, per token of A (None when they are unusable):

    - lost, extra: BERTScore-style greedy matching of all model tokens, the sums of 1 - best cosine over
      A's tokens and over B's tokens;
    - unmatched: each word left unmatched by the exact, moved and near matching costs 1 - its best cosine
      with the words left unmatched on the other side (1 when there are none): a reworded word costs
      little, a dropped or an added word the whole.
    """
    got = _token_match(a_text, b_text, token_vectors)
    return None if got is None else got[0]


def _token_match(a_text: str, b_text: str, token_vectors, all_words: bool = False):
    """`token_match`'s sums, and with `all_words` the word vectors of all of A's and of B's tokens
    (`_word_rows`, None each when unusable); the leftovers' word vectors are then rows of those (a word's
    row depends on its own model tokens alone), instead of being computed again."""
    try:
        (oa, va), (ob, vb) = token_vectors
    except (TypeError, ValueError):
        return None
    # as float32 once, for both the model tokens' and the words' vectors (the engine keeps them as float16)
    va, vb = np.asarray(va, dtype=np.float32), np.asarray(vb, dtype=np.float32)
    a, b = _unit_rows(va, oa), _unit_rows(vb, ob)
    if a is None or b is None:
        return None
    words = (_word_rows(_tokens(a_text), oa, va), _word_rows(_tokens(b_text), ob, vb)) if all_words else None
    sim = a @ b.T
    n = len(_tokens(a_text)) or 1
    lost = float(np.clip(1.0 - sim.max(axis=1), 0.0, 2.0).sum()) / len(a)
    extra = float(np.clip(1.0 - sim.max(axis=0), 0.0, 2.0).sum()) / len(a)
    m = _match(a_text, b_text)
    la = [i for i, st in enumerate(m.sa) if st is None and not _is_punct(m.ta[i][2])]
    lb = [j for j, st in enumerate(m.sb) if st is None and not _is_punct(m.tb[j][2])]
    unmatched = float(len(la) + len(lb))
    if la and lb:
        if words is not None:
            wa = None if words[0] is None else words[0][la]
            wb = None if words[1] is None else words[1][lb]
        else:
            wa = _word_rows([m.ta[i] for i in la], oa, va)
            wb = _word_rows([m.tb[j] for j in lb], ob, vb)
        if wa is not None and wb is not None:
            ws = np.clip(wa @ wb.T, 0.0, 1.0)
            unmatched = float((1.0 - ws.max(axis=1)).sum() + (1.0 - ws.max(axis=0)).sum())
    return (lost, extra, unmatched / n), words


def token_evidence(a_text: str, b_text: str, token_vectors) -> tuple[float, ...] | None:
    """`token_match`'s three sums, then the best cosine of each of A's tokens (`tokens(a_text)`) with B's
    tokens and of each of B's with A's, word vectors being the mean of the model tokens they overlap (a token
    past the model's window gets 0). What the span model reads (model.py); None when the vectors are unusable."""
    got = _token_match(a_text, b_text, token_vectors, all_words=True)
    if got is None:
        return None
    tm, (wa, wb) = got
    if wa is None or wb is None:
        return tm
    sim = np.clip(wa @ wb.T, 0.0, 1.0)
    return (*tm, *(float(x) for x in sim.max(axis=1)), *(float(x) for x in sim.max(axis=0)))

# English words that turn a statement into its opposite; "n't" counts wherever it is attached
_NEGATIONS = frozenset("not no never nobody none nothing neither nor nowhere without cannot".split())


def _negations(keys: list[str]) -> int:
    return sum(1 for k in keys if k in _NEGATIONS or k.endswith("n't"))


def polarity_change(a_text: str, b_text: str) -> int:
    """How many more negations one side has than the other ("Not everyone is satisfied" / "Everyone is
    satisfied"), for English text (the same gate as the wording evidence): a changed polarity is a changed
    fact, like a changed number."""
    if not _english(a_text):
        return 0
    m = _match(a_text, b_text)
    return abs(_negations([t[2] for t in m.ta]) - _negations([t[2] for t in m.tb]))


def _is_damage(text: str, s: int, e: int) -> bool:
    """A punctuation span that is damage ("said. .", ",.", a mark alone between spaces), not a difference."""
    return bool(_PUNCT_DAMAGE.search(text[max(0, s - 1): e + 1]))


def evidence(a_text: str, b_text: str, a_spans: list, b_spans: list, cross: bool = False) -> dict[str, float]:
    """What differs inside the pair, counted: `content_*` are tokens per reference token; `damage` and
    `facts` are counts of events; `rarity` is B's unusual wording (see docs/how-it-works.md). `cross`: the
    sides are in different languages, so what compares A's words with B's (swapped neighbours, negations,
    B's wording measured against A's) is left out; the spans (`cross_spans`) still count."""
    n = max(1, len(_tokens(a_text)))
    ev = {f"content_{k}": 0.0 for k in CONTENT}
    both = bool(a_text.strip() and b_text.strip()) and not cross
    wording = unusual_wording(a_text, b_text) if both else Wording(0.0, 0, [])
    ev["damage"] = float(local_swaps(a_text, b_text) + wording.unknown) if both else 0.0
    ev["rarity"] = wording.rarity
    ev["facts"] = float(polarity_change(a_text, b_text)) if both else 0.0
    for side, text, sp in (("a", a_text, a_spans), ("b", b_text, b_spans)):
        for s, e, k in sp:
            if k in ("number", "name"):
                ev["facts"] += 0.5  # a changed number or name shows on both sides: one event
            elif k in ("boundary", "repetition") or (k == "punctuation" and side == "b" and _is_damage(text, s, e)):
                ev["damage"] += 1.0
            elif k in CONTENT:
                ev[f"content_{k}"] += max(1, sum(1 for _ in _TOKEN.finditer(text[s:e]))) / n
    return ev


def cost_parts(a_text: str, b_text: str, a_spans: list, b_spans: list, chrf: float | None,
               cosine: float | None = None, token_vectors=None, token_scores=None,
               cross: bool = False) -> dict[str, float]:
    """The flag's cost, part by part (see docs/how-it-works.md); the flag is their sum, squashed. A part
    whose evidence is missing (chrF not computed, no vectors) is left out, not counted as zero cost."""
    ev = evidence(a_text, b_text, a_spans, b_spans, cross)
    parts = {
        "damage": EVENT_WEIGHT * ev["damage"],
        "facts": EVENT_WEIGHT * ev["facts"],
        "content": sum(CONTENT[k] * ev[f"content_{k}"] for k in CONTENT),
        "fluency": FLUENCY_WEIGHT * ev["rarity"],
    }
    tm = None if cross else token_scores
    if tm is None and token_vectors is not None and not cross:
        tm = token_match(a_text, b_text, token_vectors)
    if tm is not None:
        parts["meaning"] = LOST_WEIGHT * tm[0] + EXTRA_WEIGHT * tm[1] + UNMATCHED_WEIGHT * tm[2]
    elif cosine is not None:
        parts["meaning"] = COSINE_WEIGHT * (1.0 - cosine)
    if chrf is not None:
        parts["surface"] = CHRF_WEIGHT * (1.0 - chrf / 100.0)
    return parts


SEVERITY_SCALE = 5.0  # flag = E / (E + SEVERITY_SCALE): E, the expected MQM points, of one major error is 0.5


def pair_cost(a_text: str, b_text: str, a_spans: list, b_spans: list, chrf: float | None,
              cosine: float | None = None, token_scores=None) -> float:
    """The hand-weighted cost of what differs inside the pair (`cost_parts`), from the spans without p and
    the token-matching sums (the first three values of `token_evidence`)."""
    tm = tuple(token_scores[:3]) if token_scores is not None and len(token_scores) >= 3 else None
    return sum(cost_parts(a_text, b_text, [sp[:3] for sp in a_spans], [sp[:3] for sp in b_spans], chrf,
                          cosine=cosine, token_scores=tm).values())


def with_p(a_text: str, b_text: str, a_spans: list, b_spans: list, chrf: float | None,
           cosine: float | None = None, token_scores=None) -> tuple[list[list], list[list]]:
    """The spans with their error probability: `[start, end, kind, p]` (see model.py)."""
    return score_pairs([(a_text, b_text, a_spans, b_spans, chrf, cosine, token_scores)])[0][:2]


def score_pairs(items) -> list[tuple[list[list], list[list], float, float | None]]:
    """For each (a_text, b_text, a_spans, b_spans, chrf, cosine, token_scores): the spans with p, the
    pair's flag and its expected error severity (MQM points), the span model run once over all the pairs'
    spans. A side without text: its counterpart is a whole sentence only in one rendering, flag 1, severity
    None, its whole-unit span (addition, omission) p 1 and the damage spans inside it (`one_sided_spans`) the
    model's p, read as B of a pair whose A is the text repaired (`repaired`). Spans that carry p keep it."""
    model = span_model.load()
    feats, slices = [], []
    n = 0
    for a_text, b_text, a_spans, b_spans, chrf, cosine, ts in items:
        if not a_text.strip() or not b_text.strip():
            # the damage inside a text without counterpart: scored as B of a pair whose A is the text repaired
            text, sp = (a_text, a_spans) if a_text.strip() else (b_text, b_spans)
            damage = [x[:3] for x in sp if x[2] not in _WHOLE and len(x) <= 3]
            if not damage:
                slices.append(None)
                continue
            ref = repaired(text, damage)
            x = span_model.span_features(ref, text, [], damage, _chrf(ref, text), None, None)
            feats.append(x)
            slices.append((n, n + len(x)))
            n += len(x)
            continue
        if all(len(sp) > 3 for sp in (*a_spans, *b_spans)):
            slices.append(None)
            continue
        x = span_model.span_features(a_text, b_text, [sp[:3] for sp in a_spans], [sp[:3] for sp in b_spans],
                                     chrf, cosine, ts)
        feats.append(x)
        slices.append((n, n + len(x)))
        n += len(x)
    p = model.p(np.vstack(feats)) if feats else np.zeros(0)
    rule = model.rule
    out = []
    for (a_text, b_text, a_spans, b_spans, chrf, cosine, ts), sl in zip(items, slices):
        if not a_text.strip() or not b_text.strip():
            # the whole-unit span (addition, omission) p 1; its damage spans the model's q on the mark scale
            # (a span that carries p keeps it)
            q = iter(float(v) for v in p[sl[0]:sl[1]]) if sl is not None else iter(())
            qs = [[None if x[2] in _WHOLE or len(x) > 3 else next(q) for x in sp] for sp in (a_spans, b_spans)]
            a4, b4 = mark_rule.apply(rule, a_text, b_text, *qs,
                                     *([[*x[:3], 1.0] if x[2] in _WHOLE else x for x in sp]
                                       for sp in (a_spans, b_spans)), two_sided=False)
            out.append((a4, b4, 1.0, None))
            continue
        if sl is None:
            a4, b4 = [list(sp) for sp in a_spans], [list(sp) for sp in b_spans]
            aq, bq = a4, b4
        else:
            # the flag reads the model's q; the spans then carry p on the mark scale (rule.py)
            q = [float(v) for v in p[sl[0]:sl[1]]]
            qa, qb = q[:len(a_spans)], q[len(a_spans):]
            aq = [[*sp[:3], v] for sp, v in zip(a_spans, qa)]
            bq = [[*sp[:3], v] for sp, v in zip(b_spans, qb)]
            a4, b4 = mark_rule.apply(rule, a_text, b_text, qa, qb, a_spans, b_spans)
        e = span_model.expected_severity(model, aq, bq, pair_cost(a_text, b_text, aq, bq, chrf, cosine, ts))
        out.append((a4, b4, round(e / (e + SEVERITY_SCALE), 6), round(e, 3)))
    return out


@lru_cache(maxsize=4096)
def _chrf(ref: str, text: str) -> float | None:
    """Sentence chrF of a text against its repair, as the engine computes it for a pair."""
    from comparator.core import metrics
    from comparator.core.documents import normalise

    return metrics.sentence_scores(normalise(ref), normalise(text)).chrf


def flag(a_text: str, b_text: str, a_spans: list, b_spans: list, chrf: float | None,
         cosine: float | None = None, token_vectors=None, token_scores=None, cross: bool = False) -> float:
    """The pair's expected error severity (model.expected_severity: MQM points, minor 1, major 5) on a 0-1
    scale, E / (E + SEVERITY_SCALE); 1.0 for a sentence with no counterpart.

    `a_spans`, `b_spans`: from `spans(a_text, b_text)`, with or without p (without, the span model gives
    it). `chrf`: sentence chrF (0-100) of the pair. `cosine`: of the two sentence vectors; used when no
    token vectors are given.
    `token_vectors`, optional: the contextual token vectors of the pair, ((a_offsets, a_vectors),
    (b_offsets, b_vectors)), as `encoder.token_embeddings([a_text, b_text])` returns them: the offsets
    index `a_text` and `b_text` exactly as passed here; tokens with zero-width offsets (special tokens)
    are skipped. Pairs longer than the model's window are cut by the tokenizer; the words past the cut
    then count as unmatched. `token_scores`: what `token_evidence(a_text, b_text, token_vectors)`
    returned, when the caller has it already (the engine keeps it instead of the vectors). `cross`: A and B
    are in different languages: token vectors are not compared (chrF is None there)."""
    if not a_text.strip() or not b_text.strip():
        return 1.0
    ts = None if cross else token_scores
    if ts is None and token_vectors is not None and not cross:
        ts = token_evidence(a_text, b_text, token_vectors)
    return score_pairs([(a_text, b_text, a_spans, b_spans, chrf, cosine, ts)])[0][2]


def evidence_notes(a_texts: list[str]) -> list[str]:
    """What the result's notes say about evidence the span model did without: the English word evidence
    (word frequency, neighbours' PMI, unusual wording) for references that do not read as English; their p
    then comes from the rest (kind, length, chrF, cosine, token vectors). (A run without token vectors says
    so in its settings, `token_flag`.)"""
    off = sum(1 for t in a_texts if not _english(t))
    if not off:
        return []
    return [f"error probabilities: the English word evidence (word frequency, neighbouring words) was off for "
            f"{off} of {len(a_texts)} pairs whose reference does not read as English; their p comes from the "
            f"language-independent evidence"]
