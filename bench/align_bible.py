#!/usr/bin/env python3
"""Sentence-alignment benchmark on two English New Testaments with verse numbers as the gold.

Data: ../shared/eval/bible-nt/{Twenty,Anderson}.tsv beside the checkout (columns book, chapter, verse,
text). Side A is the Twentieth Century New Testament, side B Anderson's. Missing data: exit 2.

Per book and rendering, the chapters are joined into one running text: a chapter's verses separated
by a space, one paragraph (blank line) per chapter. Every sentence the project finds in it is mapped,
by character offsets, to the set of verses its characters overlap (a sentence may span verses; a
verse may hold several sentences).

Gold beads: union-find over the sentences of both sides and the verse ids, joining a sentence with
each verse it overlaps; a verse id present in both files joins the two sides. Each connected
component is one gold bead (A sentence ids, B sentence ids). A verse found in one file only gives a
one-sided gold bead (an insertion or deletion); a few of those are verses one rendering merged into
its neighbour (e.g. Acts 23:35), which makes the gold slightly noisy.

Systems, all scored on the same sentences:
  aligner        comparator.core.pipeline.compare() on the two book texts, exactly as a user runs it
                 (segmentation, furniture, windows, comparator.core.align.align; the settings compare()
                 takes by default or from --windows/--set); its pairs are the predicted beads.
  aligner/chap   compare() on each chapter separately (chapter boundaries as hard anchors).
  gale-church    length-based Gale & Church (1993) DP on each chapter (moves 1-1, 1-0, 0-1, 2-1, 1-2,
                 2-2; characters; c = the book's B/A length ratio, s2 = 6.8; the paper's priors).
  position       sentence i with sentence i within each chapter; the surplus one-sided.
The baselines get the chapter anchors and the project's sentences.

Metrics: exactly the counts of Vecalign's score.py (Thompson & Koehn 2019; Bertalign uses the same
script), after Sennrich & Volk (2011):
  precision  over every predicted bead, one-sided ones included, against every gold bead:
             strict  true positive when the bead equals a gold bead (same A set and same B set);
             lax     true positive when it is strict-correct, or when it has an A sentence and a B
                     sentence that some gold bead also pairs (a bead with a side empty can only be
                     right strictly).
  recall     the same computation with gold and prediction swapped, after removing one-sided beads
             from both (recall is over the gold beads that pair sentences).
  F1         2PR/(P+R). Counts are summed over books before dividing (micro average), as score.py
             sums over files.
  verse-level strict
             the strict figures after merging the two-sided predicted beads that lie inside one gold
             bead (see `coarsen`). Verse groups are coarser than sentence alignment: a verse of two
             sentences a side is one 2-2 gold bead even when its sentences pair 1-1 and 1-1, which
             plain strict counts as two errors. Beads that cross a gold boundary and one-sided beads
             are not merged, so they stay errors. Error patterns are reported at this level.
  strict errors by class
             the aligner's plain-strict errors sorted (see `strict_errors`): (a) pairs right at
             sentence level that split a verse group, (b) beads crossing a gold boundary, (c) wrong
             one-sided beads, (d) beads inside a verse group another bead spoils; with strict F1
             counting (a) as right, which is about the verse-level figure.

Scale: the chosen books are repeated one after the other until both sides reach each size (default
2,500, 5,000 and 10,000 sentences). The windows are embedded in this process the way the engine does
(engine._windows; the first size meets a cold cache, later sizes only pay for texts they add, so with
repeated books they pay almost nothing), then each size is aligned by comparator.core.align.align in a
fresh subprocess that reports wall and CPU seconds, RSS before aligning and peak RSS (VmHWM).

    .venv/bin/python bench/align_bible.py                       # the packaged model, default books
    .venv/bin/python bench/align_bible.py --model hash --books Mark --no-scale   # quick look
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "bible-nt"
SIDES = ("Twenty", "Anderson")  # A, B
DEFAULT_BOOKS = ("Mark", "John", "Acts", "Romans")
DEFAULT_SIZES = (2500, 5000, 10000)

# ---------------------------------------------------------------------------------------------- data


def load_tsv(path: Path) -> dict[str, dict[int, list[tuple[int, str]]]]:
    """book -> chapter -> [(verse, text)], in file order."""
    books: dict[str, dict[int, list[tuple[int, str]]]] = {}
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if header[:4] != ["book", "chapter", "verse", "text"]:
            raise SystemExit(f"{path}: unexpected header {header}")
        for n, line in enumerate(fh, 2):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 4:
                raise SystemExit(f"{path}:{n}: expected 4 tab-separated columns")
            book, ch, v, text = parts
            text = " ".join(text.split())
            if text:
                books.setdefault(book, {}).setdefault(int(ch), []).append((int(v), text))
    return books


class Side:
    """One rendering of one or more chapters as a single document: the text, each verse's span in it,
    and, once `assign` has run, each sentence's paragraph and verse ids."""

    def __init__(self, chapters: list[tuple[str, int, list[tuple[int, str]]]]):
        parts, spans = [], []  # spans: (start, end, verse id)
        pos = 0
        for c, (book, ch, verses) in enumerate(chapters):
            if c:
                parts.append("\n\n")
                pos += 2
            for k, (v, text) in enumerate(verses):
                if k:
                    parts.append(" ")
                    pos += 1
                spans.append((pos, pos + len(text), f"{book} {ch}:{v}"))
                parts.append(text)
                pos += len(text)
        self.text = "".join(parts)
        self.spans = spans
        self.sentences: list[str] = []
        self.paragraphs: list[int] = []
        self.furniture: set[int] = set()
        self.verses: list[frozenset[str]] = []

    def segment(self) -> "Side":
        """Sentences from the project's segmenter (what compare() would find)."""
        from comparator.core.segment import segment

        units = segment(self.text, "text")
        return self.assign([u.text for u in units], [u.paragraph for u in units],
                           [i for i, u in enumerate(units) if u.furniture])

    def assign(self, sentences: list[str], paragraphs: list[int], furniture=()) -> "Side":
        """Take the segmenter's sentences and map each to the verses its characters overlap."""
        self.sentences, self.paragraphs, self.furniture = list(sentences), list(paragraphs), set(furniture)
        starts = [s for s, _, _ in self.spans]
        self.verses = []
        for s, e in locate(self.text, self.sentences):
            ids = set()
            k = max(bisect_right(starts, s) - 1, 0)
            while k < len(self.spans) and self.spans[k][0] < e:
                if self.spans[k][1] > s:
                    ids.add(self.spans[k][2])
                k += 1
            self.verses.append(frozenset(ids))
        return self


def locate(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Character span of each piece in `text`, matching the non-space characters in order (the
    segmenter keeps every non-space character, in order, but may re-space a repaired sentence)."""
    ns = [i for i, ch in enumerate(text) if not ch.isspace()]
    cur = 0
    out = []
    for p in pieces:
        chars = [ch for ch in p if not ch.isspace()]
        if not chars:
            out.append((ns[cur] if cur < len(ns) else len(text),) * 2)
            continue
        got = "".join(text[i] for i in ns[cur : cur + len(chars)])
        if got != "".join(chars):
            raise RuntimeError(f"sentence not found in order at char {ns[cur] if cur < len(ns) else -1}: {p[:80]!r}")
        out.append((ns[cur], ns[cur + len(chars) - 1] + 1))
        cur += len(chars)
    return out


def gold_beads(va: list[frozenset], vb: list[frozenset]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Connected components of sentences joined through shared verse ids."""
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x, y):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[ry] = rx

    for side, vs in (("a", va), ("b", vb)):
        for i, ids in enumerate(vs):
            find((side, i))
            for v in ids:
                union((side, i), ("v", v))
    groups: dict = defaultdict(lambda: ([], []))
    for side, vs in (("a", va), ("b", vb)):
        for i in range(len(vs)):
            groups[find((side, i))][0 if side == "a" else 1].append(i)
    beads = [(tuple(sorted(a)), tuple(sorted(b))) for a, b in groups.values()]
    return sorted(beads, key=lambda x: (x[0][0] if x[0] else math.inf, x[1][0] if x[1] else math.inf))


# ------------------------------------------------------------------------------------------ metrics


def _precision_counts(gold, test) -> np.ndarray:
    """[tp_strict, fp_strict, tp_lax, fp_lax] of `test` against `gold` (Vecalign's _precision)."""
    gold = {(tuple(a), tuple(b)) for a, b in gold if a or b}
    test = {(tuple(a), tuple(b)) for a, b in test if a or b}
    paired = defaultdict(set)  # A sentence -> B sentences some gold bead pairs it with
    for a, b in gold:
        for i in a:
            paired[i].update(b)
    out = np.zeros(4, dtype=np.int64)
    for a, b in test:
        if (a, b) in gold:
            out += (1, 0, 1, 0)
        elif any(j in paired[i] for i in a for j in b):
            out += (0, 1, 1, 0)
        else:
            out += (0, 1, 0, 1)
    return out


def counts(gold, test) -> np.ndarray:
    """Precision counts then recall counts (8 numbers), summable over documents."""
    p = _precision_counts(gold, test)
    r = _precision_counts([x for x in test if x[0] and x[1]], [x for x in gold if x[0] and x[1]])
    return np.concatenate([p, r])


def scores(c: np.ndarray) -> dict:
    def ratio(x, y):
        return x / (x + y) if x + y else 0.0

    def f1(p, r):
        return 2 * p * r / (p + r) if p + r else 0.0

    ps, pl, rs, rl = (float(ratio(c[k], c[k + 1])) for k in (0, 2, 4, 6))
    return {"p_strict": ps, "r_strict": rs, "f1_strict": f1(ps, rs), "p_lax": pl, "r_lax": rl, "f1_lax": f1(pl, rl),
            "counts": [int(x) for x in c]}


def coarsen(pred, gold):
    """The prediction at the gold's granularity: two-sided predicted beads that lie inside one gold
    bead are merged into one. Verse groups are coarser than sentence alignment (a verse of two
    sentences on each side is one 2-2 gold bead, though its sentences may pair 1-1 and 1-1), so a
    prediction that refines the gold without crossing it becomes the gold bead. One-sided predicted
    beads and beads that cross a gold boundary are kept as they are."""
    g_of_a = {i: k for k, g in enumerate(gold) for i in g[0]}
    g_of_b = {j: k for k, g in enumerate(gold) for j in g[1]}
    inside: dict[int, tuple[list, list]] = {}
    out = []
    for a, b in pred:
        ks = {g_of_a[i] for i in a} | {g_of_b[j] for j in b}
        if a and b and len(ks) == 1:
            grp = inside.setdefault(ks.pop(), ([], []))
            grp[0].extend(a)
            grp[1].extend(b)
        else:
            out.append((a, b))
    out += [(tuple(sorted(a)), tuple(sorted(b))) for a, b in inside.values()]
    return out


def error_patterns(gold, pred) -> dict:
    """Where a system goes wrong: recall per gold bead type, precision per predicted type, and what
    each wrong predicted bead did relative to the gold beads it touches."""
    gset = {g for g in gold}
    pset = {p for p in pred}
    g_of_a, g_of_b = {}, {}
    for k, (a, b) in enumerate(gold):
        for i in a:
            g_of_a[i] = k
        for j in b:
            g_of_b[j] = k
    rec, prec, kinds = Counter(), Counter(), Counter()
    rec_tot, prec_tot = Counter(), Counter()
    for g in gold:
        t = _cap(g)
        rec_tot[t] += 1
        rec[t] += g in pset
    for p in pred:
        t = _cap(p)
        prec_tot[t] += 1
        if p in gset:
            prec[t] += 1
            continue
        touched = {g_of_a[i] for i in p[0]} | {g_of_b[j] for j in p[1]}
        gs = [gold[k] for k in touched]
        if not p[0] or not p[1]:
            kinds["one-sided, gold pairs it" if any(g[0] and g[1] for g in gs) else "one-sided, other"] += 1
        elif len(gs) == 1:
            kinds["part of one gold bead (split too fine)"] += 1
        elif all(set(g[0]) <= set(p[0]) and set(g[1]) <= set(p[1]) for g in gs):
            kinds["joins whole gold beads (merged too much)"] += 1
        else:
            kinds["crosses a gold boundary (shifted)"] += 1
    return {
        "gold_types_found": {t: [rec[t], n] for t, n in rec_tot.most_common()},
        "pred_types_correct": {t: [prec[t], n] for t, n in prec_tot.most_common()},
        "wrong_pred_beads": dict(kinds.most_common()),
    }


STRICT_CLASSES = ("split", "crosses", "one-sided", "other")
STRICT_CLASS_TEXT = {
    "split": "(a) right at sentence level, splits a verse group (the group covered exactly by such beads)",
    "crosses": "(b) crosses a gold-bead boundary (shifted, or joins gold beads)",
    "one-sided": "(c) one-sided (1-0 / 0-1), wrong",
    "other": "(d) other: inside one gold bead that is not covered exactly (a neighbour crosses or is one-sided)",
}


def strict_errors(gold, pred) -> np.ndarray:
    """Plain-strict errors by class, as counts [predicted beads wrong: a, b, c, d; two-sided gold beads
    missed: a, b, c, d] (classes in STRICT_CLASSES). A predicted bead is (a) when it is two-sided, lies
    inside one gold bead, and every predicted bead touching that gold bead does the same (merging them
    gives the gold bead: verse-level strict counts it right); (b) when it touches more than one gold
    bead; (c) when a side is empty; (d) otherwise. A missed gold bead takes the class of the predicted
    beads that touch it: (a) if they split it cleanly, else (b) if one crosses its boundary, else (c)."""
    gset = {g for g in gold}
    g_of_a = {i: k for k, g in enumerate(gold) for i in g[0]}
    g_of_b = {j: k for k, g in enumerate(gold) for j in g[1]}
    touching: dict[int, list] = defaultdict(list)
    touched_by = {}
    for p in pred:
        ks = {g_of_a[i] for i in p[0]} | {g_of_b[j] for j in p[1]}
        touched_by[p] = ks
        for k in ks:
            touching[k].append(p)

    def clean(k):  # the predicted beads touching gold bead k are two-sided and inside it
        return all(q[0] and q[1] and len(touched_by[q]) == 1 for q in touching[k])

    out = np.zeros(8, dtype=np.int64)
    for p, ks in touched_by.items():
        if p in gset:
            continue
        if not p[0] or not p[1]:
            out[2] += 1
        elif len(ks) > 1:
            out[1] += 1
        else:
            out[0 if clean(next(iter(ks))) else 3] += 1
    for k, g in enumerate(gold):
        if not g[0] or not g[1] or g in touched_by:
            continue
        ps = touching[k]
        if clean(k):
            out[4] += 1
        elif any(len(touched_by[q]) > 1 for q in ps):
            out[5] += 1
        elif any(not q[0] or not q[1] for q in ps):
            out[6] += 1
        else:
            out[7] += 1
    return out


def fmt_strict_errors(c: np.ndarray, n_pred: int, n_gold: int, strict: dict, verse: dict) -> str:
    """The table 'strict errors by class', and strict F1 with class (a) counted right."""
    lines = ["| class | wrong predicted beads | missed gold beads |", "|---|---|---|"]
    for k, name in enumerate(STRICT_CLASSES):
        lines.append(f"| {STRICT_CLASS_TEXT[name]} | {c[k]} | {c[4 + k]} |")
    tp_p, tp_r = strict["counts"][0], strict["counts"][4]
    lines.append(f"| total (of {n_pred} predicted / {n_gold} two-sided gold) | {c[:4].sum()} | {c[4:].sum()} |")
    p = (tp_p + c[0]) / max(n_pred, 1)
    r = (tp_r + c[4]) / max(n_gold, 1)
    f = 2 * p * r / (p + r) if p + r else 0.0
    lines.append("")
    lines.append(f"strict with (a) counted right: P {p:.3f} R {r:.3f} F1 {f:.3f} (verse-level strict: "
                 f"P {verse['p_strict']:.3f} R {verse['r_strict']:.3f} F1 {verse['f1_strict']:.3f}); plain strict "
                 f"F1 {strict['f1_strict']:.3f}")
    return "\n".join(lines)


def _cap(bead) -> str:
    return "-".join(str(n) if n <= 3 else "4+" for n in (len(bead[0]), len(bead[1])))


def reachable(bead) -> bool:
    """Can the aligner output this bead as one move?"""
    from comparator.core import align

    return (len(bead[0]), len(bead[1])) in set(align.MOVES)


# ---------------------------------------------------------------------------------------- baselines


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


_GC_PRIORS = {(1, 1): 0.89, (1, 0): 0.0099 / 2, (0, 1): 0.0099 / 2, (2, 1): 0.089 / 2, (1, 2): 0.089 / 2,
              (2, 2): 0.011}


def gale_church(la: list[int], lb: list[int], c: float = 1.0, s2: float = 6.8) -> list[tuple[tuple, tuple]]:
    """Gale & Church (1993): minimum-cost monotone path over sentence lengths in characters."""
    n, m = len(la), len(lb)
    ca = np.concatenate([[0], np.cumsum(la)])
    cb = np.concatenate([[0], np.cumsum(lb)])
    prior = {k: -math.log(v) for k, v in _GC_PRIORS.items()}
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 and j == 0:
                continue
            best, arg = inf, None
            for (da, db), pen in prior.items():
                if i < da or j < db or cost[i - da][j - db] == inf:
                    continue
                l1, l2 = ca[i] - ca[i - da], cb[j] - cb[j - db]
                if da and db:
                    mean = (l1 + l2 / c) / 2
                    z = (c * l1 - l2) / math.sqrt(s2 * max(mean, 1.0))
                    p = max(2 * (1 - _phi(abs(z))), 1e-12)
                    d = pen - math.log(p)
                else:
                    d = pen
                total = cost[i - da][j - db] + d
                if total < best:
                    best, arg = total, (da, db)
            cost[i][j], back[i][j] = best, arg
    path = []
    i, j = n, m
    while i or j:
        da, db = back[i][j]
        path.append((tuple(range(i - da, i)), tuple(range(j - db, j))))
        i, j = i - da, j - db
    return path[::-1]


def by_position(n: int, m: int) -> list[tuple[tuple, tuple]]:
    out = [((i,), (i,)) for i in range(min(n, m))]
    out += [((i,), ()) for i in range(m, n)] + [((), (j,)) for j in range(n, m)]
    return out


# ------------------------------------------------------------------------------------ project paths


def align_params(items: list[str], prog: str):
    """AlignParams from `--set NAME=VALUE` items (any field, typed as its default); a bad item: one line
    on stderr and exit 2."""
    from comparator.core import align

    defaults = align.AlignParams()
    overrides = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in align.AlignParams.__dataclass_fields__:
            print(f"{prog}: AlignParams has no field {name!r}", file=sys.stderr)
            raise SystemExit(2)
        kind = type(getattr(defaults, name))
        try:
            overrides[name] = kind(value)
        except ValueError:
            print(f"{prog}: --set {item}: not a {kind.__name__}", file=sys.stderr)
            raise SystemExit(2) from None
    return align.AlignParams(**overrides)


def compare_kwargs(enc, params, windows: str | None) -> dict:
    """Arguments for comparator.core.pipeline.compare, limited to those it takes."""
    import inspect

    from comparator.core import pipeline as engine

    from comparator.core.settings import Settings

    accepted = set(inspect.signature(engine.compare).parameters) | set(Settings.__dataclass_fields__)
    kw = {"encoder": enc, "align": params}
    if windows:
        kw["windows"] = windows
    return {k: v for k, v in kw.items() if k in accepted}


def run_compare(text_a: str, text_b: str, kw: dict):
    """compare() on two texts; the Comparison and seconds spent embedding, aligning and scoring
    (stage times from the engine's progress events: segment, embed A/B, align, score)."""
    from comparator.core import pipeline as engine

    marks: dict[str, float] = {}

    def progress(stage, done, total):
        marks.setdefault(stage + "#first", time.perf_counter())
        marks[stage] = time.perf_counter()

    t0 = time.perf_counter()
    cmp = engine.compare(text_a, text_b, progress=progress, **kw)
    t1 = time.perf_counter()
    seg = marks.get("segment", t0)
    embedded = max([marks[k] for k in ("embed A", "embed B") if k in marks] or [seg])
    aligned = marks.get("align", embedded)
    return cmp, {"embed_s": embedded - seg, "align_s": aligned - embedded, "score_s": t1 - aligned,
                 "compare_s": t1 - t0}


def beads_of(cmp) -> list[tuple[tuple, tuple]]:
    return [(tuple(p.a), tuple(p.b)) for p in cmp.pairs]


def chapter_slices(paragraphs: list[int]) -> dict[int, tuple[int, int]]:
    """paragraph -> (first sentence, end) for a side whose paragraphs are consecutive."""
    out: dict[int, tuple[int, int]] = {}
    for i, p in enumerate(paragraphs):
        lo, _ = out.get(p, (i, i))
        out[p] = (lo, i + 1)
    return out


def per_chapter(side_a: Side, side_b: Side, fn) -> list[tuple[tuple, tuple]]:
    """Run fn(p, a0, a1, b0, b1) -> beads with chapter-local ids on each paragraph (= chapter);
    beads with book ids out."""
    chap_a, chap_b = chapter_slices(side_a.paragraphs), chapter_slices(side_b.paragraphs)
    out = []
    na = nb = 0
    for p in sorted(set(chap_a) | set(chap_b)):
        a0, a1 = chap_a.get(p, (na, na))
        b0, b1 = chap_b.get(p, (nb, nb))
        for x, y in fn(p, a0, a1, b0, b1):
            out.append((tuple(a0 + i for i in x), tuple(b0 + j for j in y)))
        na, nb = a1, b1
    return out


# ----------------------------------------------------------------------------------------- the book


def _add(timing: dict, t: dict, suffix: str = "") -> None:
    for k, v in t.items():
        timing[k.replace("_s", suffix + "_s")] = timing.get(k.replace("_s", suffix + "_s"), 0.0) + v


def run_book(book, data_a, data_b, kw, systems, examples=0) -> dict:
    """Align one book with every system: counts, error patterns and timings."""
    # both sides get the same chapters, so paragraph k is the same chapter on both sides
    chs = sorted(set(data_a[book]) & set(data_b[book]))
    side_a = Side([(book, ch, data_a[book][ch]) for ch in chs])
    side_b = Side([(book, ch, data_b[book][ch]) for ch in chs])
    timing: dict[str, float] = {}
    preds = {}
    if "aligner" in systems:
        cmp, t = run_compare(side_a.text, side_b.text, kw)
        _add(timing, t)
        side_a.assign(cmp.a_sentences, cmp.a_paragraphs, cmp.a_furniture)
        side_b.assign(cmp.b_sentences, cmp.b_paragraphs, cmp.b_furniture)
        preds["aligner"] = beads_of(cmp)
    else:
        side_a.segment()
        side_b.segment()
    gold = gold_beads(side_a.verses, side_b.verses)
    if "aligner/chap" in systems:
        texts = {p: (Side([(book, ch, data_a[book][ch])]).text, Side([(book, ch, data_b[book][ch])]).text)
                 for p, ch in enumerate(chs)}

        def chapter(p, a0, a1, b0, b1):
            cmp, t = run_compare(*texts[p], kw)
            _add(timing, t, "_chap")
            if cmp.a_sentences != side_a.sentences[a0:a1] or cmp.b_sentences != side_b.sentences[b0:b1]:
                raise RuntimeError(f"{book} {chs[p]}: the chapter alone segments differently from the book")
            return beads_of(cmp)

        preds["aligner/chap"] = per_chapter(side_a, side_b, chapter)
    la = [len(x) for x in side_a.sentences]
    lb = [len(x) for x in side_b.sentences]
    ratio = sum(lb) / max(sum(la), 1)
    if "gale-church" in systems:
        preds["gale-church"] = per_chapter(side_a, side_b, lambda p, a0, a1, b0, b1: gale_church(
            la[a0:a1], lb[b0:b1], c=ratio))
    if "position" in systems:
        preds["position"] = per_chapter(side_a, side_b, lambda p, a0, a1, b0, b1: by_position(a1 - a0, b1 - b0))
    res = {"book": book, "chapters": len(chs), "verses_a": len(side_a.spans), "verses_b": len(side_b.spans),
           "sentences_a": len(side_a.sentences), "sentences_b": len(side_b.sentences),
           "furniture_a": len(side_a.furniture), "furniture_b": len(side_b.furniture),
           "gold_beads": len(gold), "gold_one_sided": sum(1 for g in gold if not g[0] or not g[1]),
           "gold_beyond_moves": sum(1 for g in gold if not reachable(g)), "systems": {},
           "timing": {k: round(v, 2) for k, v in timing.items()}}
    for name, pred in preds.items():
        check_partition(pred, len(side_a.sentences), len(side_b.sentences), f"{book}/{name}")
        coarse = coarsen(pred, gold)
        res["systems"][name] = {"counts": counts(gold, pred), "counts_verse": counts(gold, coarse),
                                "errors": error_patterns(gold, coarse), "strict_errors": strict_errors(gold, pred)}
    if examples and "aligner" in preds:
        res["examples"] = wrong_examples(gold, coarsen(preds["aligner"], gold), side_a, side_b, examples)
    return res


def check_partition(beads, n, m, what):
    a = [i for x, _ in beads for i in x]
    b = [j for _, y in beads for j in y]
    if sorted(a) != list(range(n)) or sorted(b) != list(range(m)):
        raise RuntimeError(f"{what}: beads do not cover every sentence exactly once")


def wrong_examples(gold, pred, side_a: Side, side_b: Side, k: int) -> list[dict]:
    """Up to k wrong predicted beads, spread over the book, with the gold beads they touch."""
    gset = set(gold)
    g_of_a = {i: g for g in gold for i in g[0]}
    g_of_b = {j: g for g in gold for j in g[1]}
    out = []
    for p in pred:
        if p in gset:
            continue
        gs = sorted({g_of_a[i] for i in p[0]} | {g_of_b[j] for j in p[1]},
                    key=lambda g: (g[0] or (math.inf,), g[1] or (math.inf,)))
        ia = sorted(set(p[0]).union(*(g[0] for g in gs)))
        ib = sorted(set(p[1]).union(*(g[1] for g in gs)))
        out.append({"pred": [list(p[0]), list(p[1])], "gold": [[list(g[0]), list(g[1])] for g in gs],
                    "a": [f"[{i}] {side_a.sentences[i][:160]}" for i in ia],
                    "b": [f"[{j}] {side_b.sentences[j][:160]}" for j in ib]})
    step = max(len(out) // k, 1)
    return out[::step][:k]


# -------------------------------------------------------------------------------------------- scale


def _rss_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    if field == "VmHWM":
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return None


def align_worker(path: str) -> None:
    """Subprocess: load saved windows, run comparator.core.align.align once, print time and memory."""
    from comparator.core import align

    before_load = _rss_kb("VmRSS")
    z = np.load(path)
    wins = []
    for s in ("a", "b"):
        vecs = {k: z[f"{s}{k}"] for k in range(1, align.MAX_WINDOW + 1) if f"{s}{k}" in z.files}
        wins.append(align.Windows(vecs, z[f"{s}_len"], z[f"{s}_par"]))
    # the sentences (for the lexical evidence) and the run's AlignParams, when the caller saved them
    extra = {}
    if os.path.isfile(path + ".json"):
        with open(path + ".json", encoding="utf-8") as fh:
            extra = json.load(fh)
    if "texts" in extra:
        wins = [align.Windows(w.vecs, np.diff(w.cum), z[f"{s}_par"], extra["texts"][s]) for w, s in zip(wins, "ab")]
    params = align.AlignParams(**{k: v for k, v in extra.get("params", {}).items()
                                  if k in align.AlignParams.__dataclass_fields__})
    rss0, hwm0 = _rss_kb("VmRSS"), _rss_kb("VmHWM")
    t, c = time.perf_counter(), time.process_time()
    beads = align.align(wins[0], wins[1], params)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"align_s": round(wall, 2), "align_cpu_s": round(cpu, 2), "beads": len(beads),
                      "rss_start_mb": round(before_load / 1024, 1) if before_load else None,
                      "rss_before_align_mb": round(rss0 / 1024, 1) if rss0 else None,
                      "peak_before_align_mb": round(hwm0 / 1024, 1) if hwm0 else None,
                      "peak_rss_mb": round(_rss_kb("VmHWM") / 1024, 1)}))


def scale(data_a, data_b, books, sizes, enc, windows: str | None, tmp: str, params=None) -> list[dict]:
    """Per size: concatenate the books (repeating them) until both sides reach it, embed the windows
    the way the engine does, then align in a fresh subprocess for clean time and memory figures."""
    import inspect

    from comparator.core import pipeline as engine

    win_kw = {"how": windows} if windows and "how" in inspect.signature(engine._windows).parameters else {}
    out = []
    for target in sizes:
        chapters_a, chapters_b, used, na, nb = [], [], [], 0, 0
        while min(na, nb) < target:
            book = books[len(used) % len(books)]
            chs = sorted(set(data_a[book]) & set(data_b[book]))
            ca = [(book, ch, data_a[book][ch]) for ch in chs]
            cb = [(book, ch, data_b[book][ch]) for ch in chs]
            chapters_a += ca
            chapters_b += cb
            used.append(book)
            na += len(Side(ca).segment().sentences)
            nb += len(Side(cb).segment().sentences)
        t = time.perf_counter()
        side_a, side_b = Side(chapters_a).segment(), Side(chapters_b).segment()
        seg_s = time.perf_counter() - t
        cache = getattr(enc, "_cache", None)
        cached0 = len(cache) if cache is not None else None
        arrays = {}
        extra = {"texts": {}, "params": {k: getattr(params, k) for k in params.__dataclass_fields__} if params else {}}
        t = time.perf_counter()
        for s, side in (("a", side_a), ("b", side_b)):
            keep = [i for i in range(len(side.sentences)) if i not in side.furniture]
            extra["texts"][s] = [engine._norm(side.sentences[i]) for i in keep]
            w = engine._windows(enc, [engine._norm(side.sentences[i]) for i in keep],
                                [side.paragraphs[i] for i in keep], engine._noop, s.upper(), **win_kw)
            for k, v in w.vecs.items():
                arrays[f"{s}{k}"] = v
            arrays[f"{s}_len"] = np.diff(w.cum)
            arrays[f"{s}_par"] = np.array([side.paragraphs[i] for i in keep])
        embed_s = time.perf_counter() - t
        path = os.path.join(tmp, f"windows-{target}.npz")
        np.savez(path, **arrays)
        with open(path + ".json", "w", encoding="utf-8") as fh:
            json.dump(extra, fh)
        del arrays, extra
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_align-worker", path],
                              capture_output=True, text=True, cwd=str(ROOT))
        os.unlink(path)
        os.unlink(path + ".json")
        if proc.returncode:
            raise RuntimeError(f"align worker failed:\n{proc.stderr[-2000:]}")
        row = {"target": target, "books": used, "sentences_a": len(side_a.sentences),
               "sentences_b": len(side_b.sentences), "segment_s": round(seg_s, 2), "embed_s": round(embed_s, 2),
               "texts_embedded": (len(cache) - cached0) if cache is not None else None}
        row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------- main

SYSTEMS = ("aligner", "aligner/chap", "gale-church", "position")


def fmt_table(rows: list[tuple[str, dict]], systems) -> str:
    """F1 per book: strict | lax | strict at verse granularity, for each system."""
    head = "| book | sentences A/B | gold beads |" + "".join(f" {s} |" for s in systems)
    sep = "|---|---|---|" + "---|" * len(systems)
    lines = [head, sep]
    for name, r in rows:
        cells = [name, f"{r['sentences_a']}/{r['sentences_b']}", str(r["gold_beads"])]
        for s in systems:
            sc, sv = r["scores"][s], r["scores_verse"][s]
            cells.append(f"{sc['f1_strict']:.3f} / {sc['f1_lax']:.3f} / {sv['f1_strict']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fmt_pr(overall: dict, systems) -> str:
    lines = ["| system | strict P | strict R | strict F1 | lax P | lax R | lax F1 | verse-level strict P / R / F1 |",
             "|---|---|---|---|---|---|---|---|"]
    for s in systems:
        sc, sv = overall["scores"][s], overall["scores_verse"][s]
        lines.append(f"| {s} | {sc['p_strict']:.3f} | {sc['r_strict']:.3f} | {sc['f1_strict']:.3f} | "
                     f"{sc['p_lax']:.3f} | {sc['r_lax']:.3f} | {sc['f1_lax']:.3f} | "
                     f"{sv['p_strict']:.3f} / {sv['r_strict']:.3f} / "
                     f"{sv['f1_strict']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder with Twenty.tsv and Anderson.tsv")
    ap.add_argument("--model", default=None, help="embedding model (default: the packaged all-MiniLM-L6-v2; "
                                                 "'hash' for a quick model-free run)")
    ap.add_argument("--backend", default="auto", help="encoder backend, as the CLI's --backend (auto, onnx, torch)")
    ap.add_argument("--windows", default=None, help="window embedding, as the CLI's --windows (default: the engine's)")
    ap.add_argument("--books", default=",".join(DEFAULT_BOOKS), help="comma-separated book names, or 'all'")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"any of {', '.join(SYSTEMS)}")
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                    help="scale test: sentences per side (the books repeated until both sides reach it)")
    ap.add_argument("--no-scale", action="store_true", help="skip the time/memory test")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an AlignParams field for the aligner (repeatable)")
    ap.add_argument("--embed-cache", metavar="FILE",
                    help="keep the encoder's vectors in this pickle between runs (loaded if present, saved at the "
                         "end); for iterating on the aligner: embedding times then only count new texts")
    ap.add_argument("--examples", type=int, default=0, help="print N wrong beads of the aligner per book")
    ap.add_argument("--json", metavar="OUT", help="write every figure to this JSON file")
    ap.add_argument("--_align-worker", dest="align_worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.align_worker:
        align_worker(args.align_worker)
        return 0

    started = time.perf_counter()
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    given = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(shlex.quote(x) for x in [python, os.path.relpath(Path(__file__).resolve(), ROOT)] + given)
    data = Path(args.data)
    paths = [data / f"{s}.tsv" for s in SIDES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"align_bible: evaluation data not found: {', '.join(missing)}\n"
              f"It lives beside the checkout in ../shared/eval/bible-nt (see ../shared/eval/README.md); "
              f"point --data at the folder holding {SIDES[0]}.tsv and {SIDES[1]}.tsv.", file=sys.stderr)
        return 2
    data_a, data_b = load_tsv(paths[0]), load_tsv(paths[1])
    common = [b for b in data_a if b in data_b]
    books = common if args.books.strip().lower() == "all" else [b.strip() for b in args.books.split(",") if b.strip()]
    unknown = [b for b in books if b not in common]
    if unknown:
        print(f"align_bible: unknown book(s) {unknown}; books in both files: {', '.join(common)}", file=sys.stderr)
        return 2
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if any(s not in SYSTEMS for s in systems):
        print(f"align_bible: --systems takes {', '.join(SYSTEMS)}", file=sys.stderr)
        return 2

    from comparator.core import align
    from comparator.core.embed.encoder import DEFAULT_MODEL, get_encoder

    params = align_params(args.set, "align_bible")
    model = args.model or DEFAULT_MODEL
    t = time.perf_counter()
    enc = get_encoder(model, args.backend)
    model_id = f"{model} ({getattr(enc, 'backend', '') or 'default backend'})"
    kw = compare_kwargs(enc, params, args.windows)
    load_s = time.perf_counter() - t
    cache_note = _load_cache(enc, args.embed_cache, model_id)
    revision = _revision()
    print(f"# command: {command}", flush=True)
    print(f"# code: {revision}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"# model {model_id} (loaded in {load_s:.1f}s); A = {SIDES[0]}, B = {SIDES[1]}; books: "
          f"{', '.join(books)}; compare() options: { {k: v for k, v in kw.items() if k != 'encoder'} }", flush=True)
    if cache_note:
        print(f"# {cache_note}", flush=True)

    scale_rows = []
    if not args.no_scale:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
        with tempfile.TemporaryDirectory(prefix="align-bench-") as tmp:
            for row in scale(data_a, data_b, books, sizes, enc, kw.get("windows"), tmp, params):
                scale_rows.append(row)
                print(f"# scale {row['target']}: {row['sentences_a']}/{row['sentences_b']} sentences, "
                      f"embed {row['embed_s']}s, align {row['align_s']}s, peak RSS {row['peak_rss_mb']} MB",
                      flush=True)

    per_book = []
    total = {(s, kind): np.zeros(8, dtype=np.int64) for s in systems for kind in ("counts", "counts_verse")}
    for book in books:
        r = run_book(book, data_a, data_b, kw, systems, args.examples)
        r["scores"] = {s: scores(r["systems"][s]["counts"]) for s in systems}
        r["scores_verse"] = {s: scores(r["systems"][s]["counts_verse"]) for s in systems}
        for s in systems:
            for kind in ("counts", "counts_verse"):
                total[s, kind] += r["systems"][s][kind]
                r["systems"][s][kind] = [int(x) for x in r["systems"][s][kind]]
            r["systems"][s]["strict_errors"] = [int(x) for x in r["systems"][s]["strict_errors"]]
        per_book.append(r)
        sc, sv = r["scores"], r["scores_verse"]
        print(f"# {book}: " + ", ".join(f"{s} {sc[s]['f1_strict']:.3f}/{sc[s]['f1_lax']:.3f}/{sv[s]['f1_strict']:.3f}"
                                        for s in systems) + f"  {r['timing']}", flush=True)

    keys = ("sentences_a", "sentences_b", "gold_beads", "gold_one_sided", "gold_beyond_moves", "furniture_a",
            "furniture_b")
    overall = {k: sum(r[k] for r in per_book) for k in keys}
    overall["scores"] = {s: scores(total[s, "counts"]) for s in systems}
    overall["scores_verse"] = {s: scores(total[s, "counts_verse"]) for s in systems}
    elapsed = time.perf_counter() - started
    _save_cache(enc, args.embed_cache, model_id)

    print()
    print(f"F1 per book, each cell strict / lax / verse-level strict (Vecalign definitions; A = {SIDES[0]}, "
          f"B = {SIDES[1]}; model {model_id})")
    print()
    print(fmt_table([(r["book"], r) for r in per_book] + [("**all**", overall)], systems))
    print()
    print(fmt_pr(overall, systems))
    print()
    print(f"gold: {overall['gold_beads']} beads, {overall['gold_one_sided']} one-sided, "
          f"{overall['gold_beyond_moves']} beyond the aligner's moves {list(align.MOVES)}; "
          f"units marked furniture: A {overall['furniture_a']}, B {overall['furniture_b']}")
    for s in systems:
        err = _merge_errors([r["systems"][s]["errors"] for r in per_book])
        overall.setdefault("errors", {})[s] = err
        se = sum(np.asarray(r["systems"][s]["strict_errors"]) for r in per_book)
        overall.setdefault("strict_errors", {})[s] = dict(zip(
            [f"pred {c}" for c in STRICT_CLASSES] + [f"gold {c}" for c in STRICT_CLASSES], (int(x) for x in se)))
        if s == "aligner":
            c = total[s, "counts"]
            print(f"\n{s} strict errors by class (plain strict, sentence beads):\n")
            print(fmt_strict_errors(se, int(c[0] + c[1]), int(c[4] + c[5]), overall["scores"][s],
                                    overall["scores_verse"][s]))
            print(f"\n{s} error patterns (prediction at verse granularity; bead types A-B):")
            for k, v in err.items():
                print(f"  {k}: {v}")
    timing = Counter()
    for r in per_book:
        timing.update(r["timing"])
    overall["timing"] = {k: round(v, 1) for k, v in timing.items()}
    if timing:
        print(f"\ncompare() on the books: embed {timing['embed_s']:.1f}s, align {timing['align_s']:.1f}s, "
              f"score {timing['score_s']:.1f}s (stage times from its progress events)")
    if scale_rows:
        print("\nScale (books repeated to size; alignment in a fresh subprocess):\n")
        print("| sentences A/B | embed s (new texts) | align wall s | align CPU s | RSS before align MB | "
              "peak RSS MB | growth during align MB |")
        print("|---|---|---|---|---|---|---|")
        for row in scale_rows:
            grow = round(row["peak_rss_mb"] - row["rss_before_align_mb"], 1) if row["rss_before_align_mb"] else None
            print(f"| {row['sentences_a']}/{row['sentences_b']} | {row['embed_s']} ({row['texts_embedded']}) | "
                  f"{row['align_s']} | {row['align_cpu_s']} | {row['rss_before_align_mb']} | {row['peak_rss_mb']} | "
                  f"{grow} |")
    for r in per_book:
        for ex in r.get("examples", []):
            print(f"\n{r['book']} wrong bead {ex['pred']} gold {ex['gold']}")
            for side in ("a", "b"):
                lines = ex[side]
                for line in lines if len(lines) <= 8 else lines[:3] + [f"... {len(lines) - 6} more"] + lines[-3:]:
                    print(f"  {side.upper()} {line[:120]}")
    print(f"\n# elapsed {elapsed:.0f}s ({elapsed / 60:.1f} min), load average now {os.getloadavg()[0]:.1f}; "
          f"command: {command}")
    if args.json:
        out = {"command": command, "revision": revision, "elapsed_s": round(elapsed, 1), "model": model_id,
               "sides": SIDES,
               "params": {k: getattr(params, k) for k in params.__dataclass_fields__}, "books": per_book,
               "overall": overall, "scale": scale_rows}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, ensure_ascii=False, default=_jsonable)
        print(f"# wrote {args.json}")
    return 0


def _revision() -> str:
    """The checkout's commit, and whether files differ from it (read-only git calls)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{head}{' with local changes' if dirty else ''}" if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _load_cache(enc, path, model) -> str:
    import pickle

    if not path or not os.path.isfile(path) or not hasattr(enc, "_cache"):
        return ""
    with open(path, "rb") as fh:
        saved = pickle.load(fh)
    if saved.get("model") != model:
        return f"embedding cache {path} is for model {saved.get('model')!r}: not used"
    enc._cache.update(saved["vectors"])
    return f"embedding cache: {len(saved['vectors'])} vectors loaded from {path} (embedding times count new texts only)"


def _save_cache(enc, path, model) -> None:
    import pickle

    if path and hasattr(enc, "_cache"):
        with open(path, "wb") as fh:
            pickle.dump({"model": model, "vectors": dict(enc._cache)}, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))


def _merge_errors(items: list[dict]) -> dict:
    """Sum per-book error patterns; [hits, total] pairs become 'hits/total (rate)'."""
    out = {}
    for key in ("gold_types_found", "pred_types_correct"):
        hits, tot = Counter(), Counter()
        for it in items:
            for t, (h, n) in it[key].items():
                hits[t] += h
                tot[t] += n
        out[key] = {t: f"{hits[t]}/{n} ({hits[t] / n:.3f})" for t, n in tot.most_common()}
    c = Counter()
    for it in items:
        c.update(it["wrong_pred_beads"])
    out["wrong_pred_beads"] = dict(c.most_common())
    return out


if __name__ == "__main__":
    sys.exit(main())
