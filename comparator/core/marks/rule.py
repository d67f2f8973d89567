"""Which spans are marks, and the scale of the p they carry.

The span model (model.py) estimates q for each span: the calibrated probability that a careful reviewer
marks those characters as an error. The mark rule is fitted with it (bench/train_marks.py, chosen on
documents kept apart from the fitting) and read from the same file:

- the pair gate: in a pair with both sides, the spans with q >= `span` are marks only when the pair's
  strongest span in B has q >= `gate`. Errors sit in the pairs that show one clearly; a pair with no strong
  span is a rewording, and its weaker differences stay changes. A sentence found in only one rendering has
  no gate: it is a mark as a whole, and so is the damage inside it with q >= `span`.
- widening: a mark in a pair with both sides covers the whole words it touches and `widen` words either
  side (raters mark the phrase that reads wrong, not the letters that differ); -1 leaves it as it is.

The p a span carries is q on the mark scale, so that the scripted-run contract holds: p >= MARK_THRESHOLD
(0.5) exactly when the span is a mark. In an open pair q is mapped piecewise linearly, `span` to 0.5 and 0
and 1 to themselves; in a gated pair the same map is capped just below 0.5. So p orders the spans of a pair
as q does, and a change's p is what it would be in an open pair. The share of spans that are errors at each
p is in docs/benchmarks.md; q is recovered from p and the rule (`q_of`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MARK_THRESHOLD = 0.5
_BELOW = 0.4999  # the cap of a gated pair's spans: below the mark line after rounding p to 4 digits
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class MarkRule:
    gate: float = 0.0  # the strongest B span's q from which a pair with both sides has marks
    span: float = 0.5  # a span's q from which it is a mark (in an open pair)
    widen: int = -1  # words added either side of a mark; 0 whole words; -1 none

    def scale(self, q: float, open_: bool = True) -> float:
        """q on the mark scale (p >= 0.5 exactly when q >= `span` in an open pair)."""
        q = min(1.0, max(0.0, float(q)))
        s = min(max(self.span, 1e-6), 1 - 1e-6)
        p = 0.5 * q / s if q < s else 0.5 + 0.5 * (q - s) / (1 - s)
        return p if open_ else min(p, _BELOW)

    def q_of(self, p: float) -> float:
        """The model's estimate behind a p of an open pair (a gated pair's capped spans: at least this)."""
        s = min(max(self.span, 1e-6), 1 - 1e-6)
        return 2 * p * s if p < 0.5 else s + (2 * p - 1) * (1 - s)

    def as_dict(self) -> dict:
        return {"gate": self.gate, "span": self.span, "widen": self.widen, "mark_threshold": MARK_THRESHOLD}


def rule_from(data: dict) -> MarkRule:
    """The rule a model file records ("marks"); an older file's single "threshold" as a rule without gate."""
    m = data.get("marks")
    if isinstance(m, dict):
        return MarkRule(float(m["gate"]), float(m["span"]), int(m.get("widen", -1)))
    return MarkRule(0.0, float(data.get("threshold", 0.5)), -1)


def is_open(rule: MarkRule, b_q) -> bool:
    """Whether a pair with both sides passes the gate: its strongest B span's q is at least `gate`."""
    return max((float(q) for q in b_q), default=0.0) >= rule.gate


def widened(text: str, start: int, end: int, widen: int) -> tuple[int, int]:
    """The span [start, end) of `text` grown to the whole words it touches and `widen` words either side;
    as it is when it touches no word (a space) or `widen` < 0."""
    if widen < 0:
        return start, end
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    hit = [i for i, (s, e) in enumerate(words) if s < end and e > start]
    if not hit:
        return start, end
    lo, hi = max(0, hit[0] - widen), min(len(words) - 1, hit[-1] + widen)
    return min(start, words[lo][0]), max(end, words[hi][1])


def apply(rule: MarkRule, a_text: str, b_text: str, a_q: list, b_q: list, a_spans: list, b_spans: list,
          two_sided: bool = True) -> tuple[list[list], list[list]]:
    """The spans `[start, end, kind, p]` of one pair under the rule, from the spans `[start, end, kind]` and
    the model's q of each (None: a span whose p is given, kept as it is)."""
    open_ = not two_sided or is_open(rule, [q for q in b_q if q is not None])
    out = []
    for text, spans, qs in ((a_text, a_spans, a_q), (b_text, b_spans, b_q)):
        side = []
        for sp, q in zip(spans, qs):
            if q is None:
                side.append(list(sp))
                continue
            p = round(rule.scale(q, open_), 4)
            s, e = sp[0], sp[1]
            if two_sided and p >= MARK_THRESHOLD:
                s, e = widened(text, s, e, rule.widen)
            side.append([s, e, sp[2], p])
        out.append(side)
    return out[0], out[1]
