"""Spans, their error probabilities, and the pair's flag.

A span is `[start, end, kind, p]`: character offsets into its side's text, the kind of difference, and p in
[0, 1], the span model's error probability on the mark scale (rule.py): spans with p >= MARK_THRESHOLD (0.5)
are *marks*, the others are *changes*. Older results carry three-element spans `[start, end, kind]`: their p
is unknown (None), and they count as changes.
"""
from __future__ import annotations

from comparator.core.marks.rule import MARK_THRESHOLD

# a pair whose flag is at least this is flagged: drawn red, counted in the systems' and history's tables
# (a sentence found in only one rendering has flag 1.0 and always counts; furniture never does)
FLAG_THRESHOLD = 0.5


def span_p(span) -> float | None:
    """The span's error probability, or None for a three-element span of an older result."""
    return float(span[3]) if len(span) > 3 and span[3] is not None else None


def is_mark(span) -> bool:
    p = span_p(span)
    return p is not None and p >= MARK_THRESHOLD


def count_marks(spans) -> int:
    """The number of marks among `[start, end, kind, p]` spans, a mark split into pieces around the spans
    inside it counted once: a sentence found in only one rendering is one addition (or omission) span cut
    around the damage found in it (phrasing.one_sided_spans), its pieces touching the spans between them."""
    n, run = 0, set()  # the kinds of mark in the current run of touching spans
    end = None
    for sp in sorted(spans or [], key=lambda s: (s[0], s[1])):
        if end is None or sp[0] != end:
            run = set()
        end = sp[1]
        if is_mark(sp):
            n += sp[2] not in run
            run.add(sp[2])
    return n
