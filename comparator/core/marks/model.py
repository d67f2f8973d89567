"""The learned error probability of a span, and the pair's expected error severity.

`span_features` turns each span of a pair into a row of numbers from evidence the engine already has (the
span's kind and length, how close its words' contextual token vectors come to the other side, how common
its words are and how usual their neighbours, changed numbers and negation, the other spans near it, and
the pair's chrF, cosine and token matching). `SpanModel` maps the rows to p with a small gradient-boosted
tree ensemble, fitted by `bench/train_marks.py` on human MQM error annotations (WMT 2021 news, Chinese to
English, Freitag et al. 2021, released by Google under Apache 2.0) and shipped as `span_model.json` beside
this file; `expected_severity` turns the spans' p into the pair's expected MQM points (minor 1, major 5).
See docs/how-it-works.md.
"""
from __future__ import annotations

import json
import math
import threading
from importlib import resources

import numpy as np

from comparator.core.errors import InputError
from comparator.core.marks import fluency
from comparator.core.marks.rule import rule_from

MODEL_FILE = "span_model.json"

KINDS = ("omission", "addition", "substitution", "reorder", "number", "name", "punctuation", "boundary",
         "repetition", "wording")
_NEG = frozenset("not no never nobody none nothing neither nor nowhere without cannot".split())

FEATURES = (
    *(f"kind_{k}" for k in KINDS),
    "side_b", "words", "chars", "punct_only",
    "sim_min", "sim_mean", "has_sims",
    "logp_min", "logp_mean", "unknown", "capital",
    "pmi_left", "pmi_right", "pmi_inner", "english",
    "digit", "negation", "neighbours", "position",
    "chrf", "cosine", "lost", "extra", "unmatched", "has_tm",
    "swaps", "rarity", "len_a", "len_ratio", "covered",
    "swapped", "unbalanced", "stray",
)


def _side_tables(toks, english: bool):
    """Per token of one side: log unigram probability (None: unknown or not looked up) and the PMI of each
    token with the next (None where it cannot be said)."""
    n = len(toks)
    logp: list = [None] * n
    pmi: list = [None] * max(0, n - 1)
    t = fluency.tables() if english else None
    if t is None or not n:
        return logp, pmi
    keys = [k for _, _, k in toks]
    is_word, look, pmi_of = fluency.is_word, t.logp, t.pmi_of
    for i, k in enumerate(keys):
        if is_word(k):
            v = look(k)
            logp[i] = None if v is None or v != v else v
    for i in range(n - 1):
        x, y = logp[i], logp[i + 1]
        if x is not None and y is not None:
            v = pmi_of(keys[i], keys[i + 1], x, y)
            pmi[i] = None if v != v else v
    return logp, pmi


# the one-hot columns of each kind (a kind not in KINDS: all zero)
_KIND_ROWS = {k: [1.0 if n == m else 0.0 for m in range(len(KINDS))] for n, k in enumerate(KINDS)}
_NO_KIND = [0.0] * len(KINDS)


def _clip(x: float | None, lo: float = -10.0, hi: float = 10.0, none: float = 0.0) -> float:
    return none if x is None or x != x else max(lo, min(hi, x))


def span_features(a_text: str, b_text: str, a_spans: list, b_spans: list, chrf: float | None,
                  cosine: float | None = None, token_scores=None, english: bool | None = None) -> np.ndarray:
    """One row of FEATURES per span, A's spans first, then B's.

    `token_scores`: what `phrasing.token_evidence` returned for the pair (the three token-match sums, then
    the best cosine of each of A's and of B's tokens with the other side), or None. `english`: whether the
    English word evidence applies (default: fluency's own test of A)."""
    from comparator.core.marks import phrasing  # phrasing imports this module

    m = phrasing._match(a_text, b_text)
    english = phrasing._english(a_text) if english is None else english
    ta, tb = m.ta, m.tb
    sims_a = sims_b = None
    tm = None
    if token_scores is not None and len(token_scores) >= 3:
        tm = tuple(token_scores[:3])
        if len(token_scores) == 3 + len(ta) + len(tb):
            sims_a = list(token_scores[3:3 + len(ta)])
            sims_b = list(token_scores[3 + len(ta):])
    wording = phrasing.unusual_wording(a_text, b_text)
    swaps = phrasing.local_swaps(a_text, b_text)
    swap_a, swap_b = phrasing.swap_tokens(a_text, b_text)
    unbalanced = min(3, phrasing.unbalanced(a_text, b_text))
    # where each side's quotes and brackets fail to pair up and the other side's do (phrasing.stray_offsets)
    stray = {"a": phrasing.stray_offsets(a_text, b_text), "b": phrasing.stray_offsets(b_text, a_text)}
    quote_chars = phrasing.QUOTE_CHARS
    n_a = max(1, len(ta))
    ratio = len(tb) / n_a
    pair = [
        1.0 if chrf is None else chrf / 100.0,
        1.0 if cosine is None else float(cosine),
        *(tm if tm is not None else (0.0, 0.0, 0.0)),
        1.0 if tm is not None else 0.0,
        float(swaps), (min(wording.rarity, 50.0) / 10.0 if english else 0.0), math.log1p(len(ta)),
    ]
    rows = []
    is_word = fluency.is_word
    for side, text, toks, sims, sp, swap in (("a", a_text, ta, sims_a, a_spans, swap_a),
                                             ("b", b_text, tb, sims_b, b_spans, swap_b)):
        if not sp:
            continue
        keys = [k for _, _, k in toks]
        punct = [phrasing._is_punct(k) for k in keys]
        upper = [text[s0:e0][:1].isupper() for s0, e0, _ in toks]
        neg = [k in _NEG or k.endswith("n't") for k in keys]
        logp, pmi = _side_tables(toks, english)
        starts = [t[0] for t in toks]
        ends = [t[1] for t in toks]
        covered = sum(e - s for s, e, *_ in sp) / max(1, len(text))
        t0 = np.searchsorted(np.asarray(ends, dtype=np.int64), [x[0] for x in sp], side="right")
        t1 = np.searchsorted(np.asarray(starts, dtype=np.int64), [x[1] for x in sp], side="left")
        gap = np.maximum(t0[None, :] - t1[:, None], t0[:, None] - t1[None, :])
        near = ((gap <= 3).sum(axis=1) - 1).tolist()
        own_ratio = ratio if side == "b" else 1.0 / max(ratio, 1e-3)
        tail = pair + [own_ratio, covered]
        side_b = 1.0 if side == "b" else 0.0
        n_toks, n_chars = len(toks), max(1, len(text))
        for n, (i0, i1) in enumerate(zip(t0.tolist(), t1.tolist())):
            span = sp[n]
            s, e, kind = span[0], span[1], span[2]
            row = _KIND_ROWS.get(kind, _NO_KIND).copy()
            n_words = i1 - i0 - sum(punct[i0:i1])
            row += [side_b, math.log1p(n_words), math.log1p(e - s), 0.0 if n_words else 1.0]
            if sims is not None and i1 > i0:
                vals = sims[i0:i1]
                row += [min(vals), sum(vals) / len(vals), 1.0]
            else:
                row += [1.0, 1.0, 0.0]
            lps = [x for x in logp[i0:i1] if x is not None]
            unknown = sum(1 for i in range(i0, i1) if logp[i] is None and is_word(keys[i])) if english else 0
            row += [_clip(min(lps), -30, 0) / 10.0 if lps else 0.0,
                    _clip(sum(lps) / len(lps), -30, 0) / 10.0 if lps else 0.0,
                    float(unknown), sum(upper[i0:i1]) / max(1, i1 - i0)]
            if english and i1 > i0:
                inner = [x for x in pmi[i0:i1 - 1] if x is not None]
                row += [_clip(pmi[i0 - 1] if i0 > 0 else None) / 10.0,
                        _clip(pmi[i1 - 1] if i1 < n_toks else None) / 10.0,
                        _clip(min(inner) if inner else None) / 10.0, 1.0]
            else:
                row += [0.0, 0.0, 0.0, 0.0]
            row += [float(any(map(str.isdigit, text[s:e]))), float(any(neg[i0:i1])),
                    math.log1p(max(0, near[n])), s / n_chars]
            row += tail
            row += [max(swap[i0:i1], default=0.0),
                    float(unbalanced) if unbalanced and not quote_chars.isdisjoint(text[s:e]) else 0.0,
                    1.0 if any(s <= i < e for i in stray[side]) else 0.0]
            rows.append(row)
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))


class SpanModel:
    """The fitted trees (span p), the kinds' mean severity and the pair's severity weights, from MODEL_FILE."""

    def __init__(self, data: dict) -> None:
        if list(data["features"]) != list(FEATURES):
            raise ValueError("its features are not this version's")
        t = data["trees"]
        self.feature = np.asarray(t["feature"], dtype=np.int64)  # (trees, nodes); -1 at a leaf
        self.threshold = np.asarray(t["threshold"], dtype=np.float64)
        self.left = np.asarray(t["left"], dtype=np.int64)
        self.right = np.asarray(t["right"], dtype=np.int64)
        self.value = np.asarray(t["value"], dtype=np.float64)
        self.depth = int(t["depth"])
        self.init = float(data["init"])
        self.rate = float(data["learning_rate"])
        self.severity = {k: float(v) for k, v in data["severity"].items()}
        self.pair = {k: float(v) for k, v in data["pair"].items()}
        self.rule = rule_from(data)  # which spans are marks (rule.py), fitted with the trees
        self.meta = data.get("meta", {})

    def p(self, x: np.ndarray) -> np.ndarray:
        """The error probability of each row of features."""
        # rounded to float32 first, as the training script gave them to scikit-learn
        x = np.asarray(x, dtype=np.float32).astype(np.float64).reshape(-1, len(FEATURES))
        if not len(x):
            return np.zeros(0)
        if len(x) * len(self.feature) <= 100_000:  # a few pairs: all trees at once
            cols = np.arange(len(self.feature))[None, :]
            rows2 = np.arange(len(x))[:, None]
            node = np.zeros((len(x), len(self.feature)), dtype=np.int64)
            for _ in range(self.depth):
                f = self.feature[cols, node]
                go_left = x[rows2, np.maximum(f, 0)] <= self.threshold[cols, node]
                node = np.where(go_left, self.left[cols, node], self.right[cols, node])
            raw = self.init + self.value[cols, node].sum(axis=1)
            return 1.0 / (1.0 + np.exp(-raw)) if self.rate == 1.0 else self._scaled(raw)
        raw = np.full(len(x), self.init)
        rows = np.arange(len(x))
        # tree by tree over all rows at once: a few small array operations per level of each tree
        for f_t, thr_t, left_t, right_t, val_t in zip(self.feature, self.threshold, self.left, self.right,
                                                        self.value):
            node = np.zeros(len(x), dtype=np.int64)
            for _ in range(self.depth):
                f = f_t[node]
                go_left = x[rows, np.maximum(f, 0)] <= thr_t[node]
                node = np.where(go_left, left_t[node], right_t[node])  # a leaf points at itself
            raw += val_t[node]
        return 1.0 / (1.0 + np.exp(-raw)) if self.rate == 1.0 else self._scaled(raw)

    def _scaled(self, raw: np.ndarray) -> np.ndarray:
        # trees fitted with shrinkage not folded into their leaves: init + rate x sum of leaves
        raw = self.init + self.rate * (raw - self.init)
        return 1.0 / (1.0 + np.exp(-raw))


_model: SpanModel | None = None
_lock = threading.Lock()
_path_override: str | None = None


ENV_VAR = "COMPARATOR_SPAN_MODEL"  # a span model file to use instead of the packaged one (experiments, tests)


def model_path() -> str:
    import os

    return (_path_override or os.environ.get(ENV_VAR)
            or str(resources.files("comparator.core.marks").joinpath(MODEL_FILE)))


def load(path: str | None = None) -> SpanModel:
    """The span model, read once; an InputError naming the file when it is missing or unreadable."""
    global _model
    if path is None and _model is not None:
        return _model
    where = path or model_path()
    try:
        with open(where, encoding="utf-8") as fh:
            m = SpanModel(json.load(fh))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"span model {where} unreadable: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if path is None:
        with _lock:
            _model = m
    return m


def use_model_file(path: str | None) -> None:
    """Read the span model from `path` from now on (None: the packaged one); for tests and experiments."""
    global _model, _path_override
    with _lock:
        _model, _path_override = None, path


def expected_severity(model: SpanModel, a_spans: list, b_spans: list, cost: float) -> float:
    """The pair's expected MQM error points: w_spans x (p times the kind's mean severity, summed over B's
    spans and A's omissions; a substitution shows on both sides but is one error) + w_cost x `cost`, the
    pair's hand-weighted difference cost (`phrasing.cost_parts`: damage and fact events, token matching,
    chrF, ...), which also sees the errors no span covers. Both weights fitted with the span model."""
    w = model.pair
    sev = model.severity
    spans_part = sum(float(sp[3]) * sev.get(sp[2], 1.0) for sp in b_spans if len(sp) > 3 and sp[3] is not None)
    spans_part += sum(float(sp[3]) * sev.get(sp[2], 1.0) for sp in a_spans
                      if len(sp) > 3 and sp[3] is not None and sp[2] == "omission")
    return w.get("spans", 1.0) * spans_part + w.get("cost", 0.0) * cost
