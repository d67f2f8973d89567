"""Presentation helpers for the dashboard: a Comparison as a table of pairs, filters, sorting, pages,
summary numbers, a word-level diff of one pair, HTML rows and altair charts.

Pure functions over the engine's result: nothing here scores and nothing here imports streamlit.
Every piece of user text that ends up in HTML goes through `html.escape` or `report.highlight_html`.
"""
from __future__ import annotations

import html
import math
import re
from difflib import SequenceMatcher

import pandas as pd

from comparator.core.marks import FLAG_THRESHOLD, MARK_THRESHOLD, count_marks, is_mark
from comparator.core.metrics import METRICS
from comparator.core.result import Comparison
from comparator.render import report
from comparator.render.report import clean_spans, highlight_html

# Per-pair scores, in the order the dashboard shows them: the flag, then the metric registry's. TER only
# exists when the engine computed it.
SCORES = ("flag", *METRICS)
LABELS = {"flag": "flag", **{m.name: m.label for m in METRICS.values()}, "document": "document order"}
# For these a high value is bad; for the others a low value is bad.
HIGHER_IS_WORSE = {"flag", *(m.name for m in METRICS.values() if not m.higher_is_better)}
# The scale each score lives on (the range sliders' ends); a value outside widens its slider.
BOUNDS = {"flag": (0.0, 1.0), **{m.name: m.bounds for m in METRICS.values()}}
DIGITS = {"flag": 2, **{m.name: m.digits for m in METRICS.values()}, "confidence": 2, "severity": 1}

ONLY_A, ONLY_B, FURNITURE = "only in A", "only in B", "furniture"

# The engine reports progress per stage; this is each stage's share of the whole bar.
_STAGES = {"segment": (0.0, 0.05), "embed A": (0.05, 0.35), "embed B": (0.35, 0.65), "align": (0.65, 0.70),
           "tokens": (0.70, 0.90), "score": (0.90, 1.0)}


def kind_of(pair) -> str:
    """The pair's alignment category: "1-1", "1-2", ... or only in A / only in B / furniture."""
    if pair.furniture:
        return FURNITURE
    if pair.a and not pair.b:
        return ONLY_A
    if pair.b and not pair.a:
        return ONLY_B
    return pair.type or f"{len(pair.a)}-{len(pair.b)}"


def _marked(text: str, spans: list) -> str:
    """The phrases of some spans of one side, "a · b"; spans separated only by spaces read as one phrase."""
    merged: list[list[int]] = []
    for s, e, *_ in sorted(spans, key=lambda x: x[0]):
        if not 0 <= s < e <= len(text):
            continue
        if merged and (s < merged[-1][1] or not text[merged[-1][1]:s].strip()):
            merged[-1][1] = max(merged[-1][1], e)  # overlapping (a mark grown over its neighbours) or touching
        else:
            merged.append([s, e])
    return " · ".join(" ".join(text[s:e].split()) for s, e in merged)


def pairs_frame(result: Comparison) -> pd.DataFrame:
    """One row per pair, in document order; `pair` is the pair's position in `result.pairs`."""
    rows = []
    for n, p in enumerate(result.pairs):
        a_text, b_text = str(p.a_text or ""), str(p.b_text or "")
        # well-formed spans only, [start, end, kind, p]: a hand-edited JSON result may hold others
        a_spans, b_spans = clean_spans(p.a_spans, a_text), clean_spans(p.b_spans, b_text)
        a_marks, b_marks = [s for s in a_spans if is_mark(s)], [s for s in b_spans if is_mark(s)]
        rows.append({
            "pair": n, "kind": kind_of(p), "type": p.type, "a": " ".join(map(str, p.a)), "b": " ".join(map(str, p.b)),
            "a_text": a_text, "b_text": b_text,
            "flag": p.flag, "cosine": p.cosine, "chrf": p.chrf, "bleu": p.bleu, "ter": p.ter,
            "confidence": p.confidence, "severity": getattr(p, "severity", None), "furniture": bool(p.furniture),
            "marks": count_marks(a_spans) + count_marks(b_spans), "a_marks": count_marks(a_spans),
            "b_marks": count_marks(b_spans),
            "a_marked": _marked(a_text, a_marks), "b_marked": _marked(b_text, b_marks),
            "a_changed": _marked(a_text, [s for s in a_spans if not is_mark(s)]),
            "b_changed": _marked(b_text, [s for s in b_spans if not is_mark(s)]),
            "a_spans": a_spans, "b_spans": b_spans,
        })
    cols = ["pair", "kind", "type", "a", "b", "a_text", "b_text", *SCORES, "confidence", "severity", "furniture",
            "marks", "a_marks", "b_marks", "a_marked", "b_marked", "a_changed", "b_changed", "a_spans", "b_spans"]
    df = pd.DataFrame(rows, columns=cols)
    for c in (*SCORES, "confidence", "severity"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    for c in ("pair", "marks", "a_marks", "b_marks"):
        df[c] = df[c].astype("int64")
    # an empty frame's columns are objects; as masks they must stay booleans, or df[mask] picks columns
    df["furniture"] = df["furniture"].astype(bool)
    return df


def scores_present(df: pd.DataFrame) -> list[str]:
    """The per-pair scores this result has (TER only when it was computed)."""
    return [s for s in SCORES if s == "flag" or df[s].notna().any()]


def kinds_present(df: pd.DataFrame) -> list[str]:
    """Alignment categories in a stable order: n-m types by size, then the one-sided ones."""
    found = set(df["kind"])
    typed = sorted((k for k in found if k not in (ONLY_A, ONLY_B, FURNITURE)), key=_type_order)
    return typed + [k for k in (ONLY_A, ONLY_B, FURNITURE) if k in found]


def _type_order(t: str):
    try:
        a, b = t.split("-")
        return (int(a) + int(b), int(a), t)
    except ValueError:
        return (99, 99, t)


def slider_bounds(df: pd.DataFrame, score: str) -> tuple[float, float]:
    lo, hi = BOUNDS[score]
    vals = df[score].dropna()
    if len(vals):
        lo, hi = min(lo, math.floor(float(vals.min()))), max(hi, math.ceil(float(vals.max())))
    return float(lo), float(hi)


def filter_pairs(df: pd.DataFrame, kinds=None, search: str = "", ranges: dict | None = None,
                 only_marks: bool = False) -> pd.DataFrame:
    """Rows whose kind is in `kinds` (None = all), whose A or B text contains `search` (case-insensitive,
    literal), whose scores fall in `ranges` {score: (lo, hi)}, inclusive, and (with `only_marks`) that
    carry at least one mark. A pair without a score (a one-sided pair has no cosine) is dropped by a range on
    that score; pass only ranges that narrow."""
    mask = pd.Series(True, index=df.index)
    if only_marks:
        mask &= df["marks"] > 0
    if kinds is not None:
        mask &= df["kind"].isin(list(kinds))
    needle = (search or "").strip().casefold()
    if needle:
        mask &= (df["a_text"].str.casefold().str.contains(needle, regex=False)
                 | df["b_text"].str.casefold().str.contains(needle, regex=False))
    for score, (lo, hi) in (ranges or {}).items():
        mask &= df[score].between(lo, hi, inclusive="both")
    return df[mask]


def narrowed(ranges: dict, bounds: dict) -> dict:
    """Only the ranges that differ from their full bounds (a full range filters nothing, not even blanks)."""
    return {k: v for k, v in ranges.items() if tuple(v) != tuple(bounds[k])}


def sort_pairs(df: pd.DataFrame, by: str = "flag", worst_first: bool = True) -> pd.DataFrame:
    """Sorted by a score, worst first (high flag/TER, low cosine/chrF/BLEU) or best first; pairs without
    the score go last; ties keep document order. by="document" gives document order."""
    if by == "document" or by not in df.columns:
        return df.sort_values("pair", kind="stable")
    descending = (by in HIGHER_IS_WORSE) == worst_first
    key = df[by] if not descending else -df[by]
    order = pd.DataFrame({"missing": df[by].isna(), "key": key, "pair": df["pair"]}, index=df.index)
    return df.loc[order.sort_values(["missing", "key", "pair"], kind="stable").index]


def page(df: pd.DataFrame, number: int, size: int) -> tuple[pd.DataFrame, int, int]:
    """The rows of page `number` (1-based, clamped into range), the clamped number and the page count."""
    size = max(1, int(size))
    pages = max(1, math.ceil(len(df) / size))
    number = min(max(1, int(number)), pages)
    return df.iloc[(number - 1) * size : number * size], number, pages


def summary(result: Comparison) -> dict:
    """Corpus scores with signatures, mean cosine, and counts: aligned pairs by type, one-sided, furniture."""
    c = result.corpus or {}
    counts = result.counts()
    by_type = {k: v for k, v in counts.items() if k not in ("only_in_a", "only_in_b", "furniture") and _two_sided(k)}
    return {
        "bleu": c.get("bleu"), "chrf": c.get("chrf"), "ter": c.get("ter"),
        "bleu_reason": c.get("bleu_reason"), "chrf_reason": c.get("chrf_reason"),
        "bleu_signature": c.get("bleu_signature", ""), "chrf_signature": c.get("chrf_signature", ""),
        "mean_cosine": c.get("mean_cosine"),
        "pairs_scored": c.get("pairs_scored", sum(by_type.values())),
        "by_type": dict(sorted(by_type.items(), key=lambda kv: _type_order(kv[0]))),
        "only_in_a": counts.get("only_in_a", 0), "only_in_b": counts.get("only_in_b", 0),
        "furniture": counts.get("furniture", 0),
        "pairs": len(result.pairs), "a_sentences": len(result.a_sentences), "b_sentences": len(result.b_sentences),
    }


def language_line(result: Comparison) -> str | None:
    """The one line a cross-lingual result gets: which metrics are not computed and why (None otherwise)."""
    if not result.cross_lingual:
        return None
    lang = result.languages or {}
    how = "as given" if lang.get("given") else "found from the text"
    return (f"A is {lang.get('a') or '?'} and B is {lang.get('b') or '?'} ({how}): BLEU, chrF and TER are not "
            "computed across languages, and word-level marks are off; cosine, sentences found in one rendering "
            "only and changed numbers still count.")


def shown_notes(result: Comparison) -> list[str]:
    """The result's notes the dashboard lists, the cross-lingual one left out (language_line says it)."""
    if not result.cross_lingual:
        return list(result.notes)
    return [n for n in result.notes if "are not computed" not in n or n.startswith("warning")]


def code_safe(text) -> str:
    """Text for a markdown code span: no backticks to close it early, one line."""
    return " ".join(str(text or "").replace("`", "'").split())


def summary_metrics(s: dict) -> list[tuple[str, str, str]]:
    """The summary as (label, value, help) triples, in the order the dashboard shows them."""
    types = " · ".join(f"{t}: {n}" for t, n in s["by_type"].items()) or "none"
    return [
        ("Corpus BLEU", fmt(s["bleu"], digits=2), f"not computed: {s['bleu_reason']}" if s.get("bleu_reason")
         else f"sacrebleu signature: `{code_safe(s['bleu_signature'])}`"),
        ("Corpus chrF", fmt(s["chrf"], digits=2), f"not computed: {s['chrf_reason']}" if s.get("chrf_reason")
         else f"sacrebleu signature: `{code_safe(s['chrf_signature'])}`"),
        ("Mean cosine", fmt(s["mean_cosine"], "cosine"), "over the aligned pairs"),
        ("Aligned pairs", str(s["pairs_scored"]), f"by type: {types}"),
        ("Only in A", str(s["only_in_a"]), "sentences of the reference with no counterpart in B (dropped?)"),
        ("Only in B", str(s["only_in_b"]), "sentences of B with no counterpart in A (added?)"),
        ("Furniture", str(s["furniture"]), "page furniture such as 'Leave a reply': shown, not scored"),
    ]


def _two_sided(t: str) -> bool:
    try:
        a, b = t.split("-")
        return int(a) > 0 and int(b) > 0
    except ValueError:
        return False


def fmt(value, score: str = "", digits: int | None = None) -> str:
    """A score as shown: fixed digits per score, an en dash for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):.{DIGITS.get(score, 2) if digits is None else digits}f}"


_NEXT = {"segment": "embedding the sentences of A", "embed A": "embedding the sentences of B",
         "embed B": "aligning the sentences", "align": "scoring the pairs", "tokens": "scoring the pairs",
         "score": "done"}


def progress_text(stage: str, done: int, total: int) -> str:
    """What the bar says: the engine reports a stage when a step of it ends, so a finished stage names the
    one now running (embedding and aligning a long text can take a while between reports)."""
    if total and done >= total:
        return f"Scoring: {_NEXT.get(stage, stage)}…"
    return f"Scoring: {stage}, {done} of {total}"


def progress_fraction(stage: str, done: int, total: int) -> float:
    """The engine's per-stage progress as one fraction of the whole job, for one progress bar."""
    lo, hi = _STAGES.get(stage, (0.0, 1.0))
    frac = done / total if total else 1.0
    return max(0.0, min(1.0, lo + (hi - lo) * min(1.0, frac)))


def md_escape(text: str) -> str:
    """Text safe to put in Streamlit markdown: every markdown or directive character backslash-escaped."""
    text = " ".join(str(text).split())
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=\"'])", r"\\\1", text)


def sentence_ref(indices: str) -> str:
    """ "3" -> "sentence 3", "3 4" -> "sentences 3, 4", "" -> "no sentence"."""
    parts = str(indices or "").split()
    if not parts:
        return "no sentence"
    return ("sentence " if len(parts) == 1 else "sentences ") + ", ".join(parts)


def default_pair(df: pd.DataFrame) -> int:
    """The pair to show up close first: the worst-flagged aligned pair, else the first pair."""
    two = df[df["kind"].isin([k for k in df["kind"].unique() if _two_sided(k)])]
    if len(two):
        return int(sort_pairs(two, "flag").iloc[0]["pair"])
    return int(df["pair"].iloc[0]) if len(df) else 0


def neighbours(df: pd.DataFrame, n: int, k: int = 2) -> pd.DataFrame:
    """Pairs n-k .. n+k in document order (the pair itself included)."""
    return df[(df["pair"] >= n - k) & (df["pair"] <= n + k)].sort_values("pair")


def pair_labels(df: pd.DataFrame) -> dict[int, str]:
    """Every pair's label, by pair number, for a chooser."""
    cols = ["pair", "kind", "flag", "a_text", "b_text"]
    return {int(r["pair"]): pair_label(r) for r in df[cols].to_dict("records")}


def pair_label(row) -> str:
    """A one-line label for choosing a pair: number, kind, flag and the start of its text."""
    text = " ".join((row["b_text"] or row["a_text"] or "").split())
    if len(text) > 70:
        text = text[:69] + "…"
    return f"#{row['pair']} · {row['kind']} · flag {fmt(row['flag'], 'flag')} · {text}"


# ---- word-level differences ------------------------------------------------------------------------

_WORD = re.compile(r"\w+(?:[’'.,\-]\w+)*|[^\w\s]", re.UNICODE)


def word_diff(a: str, b: str) -> list[tuple[str, str, str]]:
    """Word-level differences of A and B as (op, a_chunk, b_chunk), op in equal/delete/insert/replace.
    Chunks are substrings of the original texts (spacing kept); an equal chunk is given from both sides."""
    ta = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(a)]
    tb = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(b)]
    sm = SequenceMatcher(None, [t[2] for t in ta], [t[2] for t in tb], autojunk=False)
    out = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        ca = _chunk(a, ta, i1, i2)
        cb = _chunk(b, tb, j1, j2)
        out.append((op, ca, cb))
    return out


def _chunk(text: str, toks: list, i1: int, i2: int) -> str:
    """Tokens i1..i2 as written, with a leading space if the text had one before them."""
    if i1 >= i2:
        return ""
    start, end = toks[i1][0], toks[i2 - 1][1]
    lead = " " if start > 0 and text[start - 1].isspace() else ""
    return lead + text[start:end]


_DEL = "background:#ffd6d6;text-decoration:line-through;color:#8a1c1c"
_INS = "background:#c9f2c9;text-decoration:none;color:#125c12"


def diff_html(ops: list[tuple[str, str, str]]) -> str:
    """The diff as one line of escaped HTML: words only in A struck through in red, only in B in green."""
    out = []
    for op, ca, cb in ops:
        if op == "equal":
            out.append(html.escape(cb))
            continue
        if ca:
            lead = " " if ca.startswith(" ") else ""
            out.append(f'{lead}<del style="{_DEL}" title="only in A">{html.escape(ca.lstrip())}</del>')
        if cb:
            lead = " " if cb.startswith(" ") or (ca and op == "replace") else ""
            out.append(f'{lead}<ins style="{_INS}" title="only in B">{html.escape(cb.lstrip())}</ins>')
    return "".join(out).strip()


# ---- side-by-side HTML -----------------------------------------------------------------------------

_TABLE = "width:100%;border-collapse:collapse;table-layout:fixed;font-size:0.92rem"
_TH = "text-align:left;padding:6px 8px;border-bottom:2px solid #ccc;background:#f6f6f8"
_TD = "padding:6px 8px;border-bottom:1px solid #e4e4e8;vertical-align:top;overflow-wrap:anywhere;line-height:1.5"
_MISSING = "color:#999;font-style:italic"


def flag_colour(flag) -> str:
    """A background for the flag badge: green for low flags through amber to red from FLAG_THRESHOLD up."""
    if flag is None or (isinstance(flag, float) and math.isnan(flag)):
        return "#eeeeee"
    hue = 120.0 * (1.0 - min(1.0, max(0.0, float(flag)) / FLAG_THRESHOLD))
    return f"hsl({hue:.0f},75%,82%)"


def _display(text: str) -> str:
    # one sentence is one line: the same length, so span offsets still hold
    return re.sub(r"[\r\n\t\f\v]", " ", text or "")


def _side(text: str, spans: list, other_side: str, show_changes: bool = True) -> str:
    if not text:
        return f'<span style="{_MISSING}">— not in {other_side} —</span>'
    return highlight_html(_display(text), spans, show_changes)


def _scores_cell(row, scores: list[str]) -> str:
    if row["furniture"]:
        return f'<span style="{_MISSING}">page furniture, not scored</span>'
    badge = (f'<span style="background:{flag_colour(row["flag"])};padding:1px 6px;border-radius:8px;'
             f'font-weight:600;white-space:nowrap">flag {fmt(row["flag"], "flag")}</span>')
    rest = " · ".join(f'{LABELS[s]}&nbsp;{fmt(row[s], s)}' for s in scores if s != "flag" and pd.notna(row[s]))
    if pd.notna(row.get("severity")):
        badge += (f'<br><span style="font-size:0.85em" title="expected MQM error points (minor 1, major 5)">'
                  f'severity&nbsp;{fmt(row["severity"], "severity")}</span>')
    return badge + (f'<br><span style="color:#555;font-size:0.85em">{rest}</span>' if rest else "")


def pairs_html(rows: pd.DataFrame, scores: list[str] | None = None, current: int | None = None,
               show_changes: bool = True) -> str:
    """One HTML table, one row per pair: number and kind, A with its spans, B with its spans, the number of
    marks, scores. Changes are left undrawn when `show_changes` is False.
    A single line with no blank lines, so that markdown treats all of it as one HTML block."""
    scores = scores or [s for s in SCORES if s != "ter"]
    head = (f'<table style="{_TABLE}"><colgroup><col style="width:4.5em"><col><col><col style="width:4em">'
            f'<col style="width:10.5em"></colgroup><thead><tr><th style="{_TH}">#</th>'
            f'<th style="{_TH}">A · reference</th><th style="{_TH}">B · rendering under review</th>'
            f'<th style="{_TH}" title="spans with error probability ≥ {MARK_THRESHOLD:g}, both sides">marks</th>'
            f'<th style="{_TH}">scores</th></tr></thead><tbody>')
    body = []
    for _, r in rows.iterrows():
        style = _TD
        if r["furniture"]:
            style += ";color:#888"
        row_style = ' style="background:#fff8d6;outline:2px solid #e0b000"' if current == r["pair"] else ""
        body.append(
            f'<tr{row_style}><td style="{style}"><b>{int(r["pair"])}</b><br>'
            f'<span style="color:#666;font-size:0.8em;white-space:nowrap">{html.escape(str(r["kind"]))}</span></td>'
            f'<td style="{style}">{_side(r["a_text"], r["a_spans"], "A", show_changes)}</td>'
            f'<td style="{style}">{_side(r["b_text"], r["b_spans"], "B", show_changes)}</td>'
            f'<td style="{style};text-align:center{";font-weight:600" if r["marks"] else ";color:#999"}">'
            f'{int(r["marks"])}</td>'
            f'<td style="{style}">{_scores_cell(r, scores)}</td></tr>')
    return head + "".join(body) + "</tbody></table>"


def legend_html(kinds=None, show_changes: bool = True) -> str:
    """Which drawing is a mark and which a change, and the kinds' colours (`kinds`: those to show, e.g.
    `span_kinds(df)`; default all known kinds)."""
    return report.legend_html(kinds, show_changes)


def span_kinds(df: pd.DataFrame) -> list[str]:
    """The span kinds this result has, in the legend's order."""
    return report.span_kinds([*df["a_spans"], *df["b_spans"]])


def no_p_note(result: Comparison) -> str:
    """The one sentence the dashboard says for a result whose spans carry no error probability, else ""."""
    return report.no_p_note(result)


def table_frame(df: pd.DataFrame, scores: list[str] | None = None, show_changes: bool = True) -> pd.DataFrame:
    """The columns the st.dataframe table shows, with readable names: scores and marks before the long
    texts; the changed words only while changes are shown; severity when the engine gave one."""
    scores = scores or scores_present(df)
    severity = {"severity": "severity"} if df["severity"].notna().any() else {}
    changed_b = {"b_changed": "changed in B"} if show_changes else {}
    changed_a = {"a_changed": "changed in A"} if show_changes else {}
    cols = {"pair": "#", "kind": "alignment", **{s: LABELS[s] for s in scores}, **severity, "marks": "marks",
            "b_marked": "marked in B", **changed_b, "a_text": "A (reference)", "b_text": "B (rendering)",
            "a_marked": "marked in A", **changed_a}
    return df[list(cols)].rename(columns=cols).reset_index(drop=True)


def worst_pairs(df: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The n aligned pairs (both sides present, not furniture) with the highest flag."""
    two = df[df["kind"].map(_two_sided).astype(bool)]
    return sort_pairs(two, "flag").head(n)


def one_sided_note(df: pd.DataFrame, limit: int = 8) -> str:
    """A plain-text line naming the pairs found in only one rendering, e.g. "1 only in A (#19)"."""
    parts = []
    for kind in (ONLY_A, ONLY_B):
        ids = df.loc[df["kind"] == kind, "pair"].tolist()
        if ids:
            shown = ", ".join(f"#{i}" for i in ids[:limit]) + (", …" if len(ids) > limit else "")
            parts.append(f"{len(ids)} sentence{'s' if len(ids) != 1 else ''} {kind} ({shown})")
    return " and ".join(parts)


# ---- charts ----------------------------------------------------------------------------------------

def _short(text: str, n: int = 110) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _chart_data(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["pair", "kind", *[s for s in SCORES if s in df]]].copy()
    out["A"] = df["a_text"].map(_short)
    out["B"] = df["b_text"].map(_short)
    return out


def score_histogram(df: pd.DataFrame, score: str):
    """The distribution of one score over the pairs that have it (page furniture is not scored)."""
    import altair as alt

    data = df[df[score].notna() & ~df["furniture"]][["pair", score]]
    lo, hi = BOUNDS[score]
    if len(data):  # the bins cover the score's usual scale, and any value outside it
        lo, hi = min(lo, float(data[score].min())), max(hi, float(data[score].max()))
        if score == "cosine":  # cosines of aligned sentences crowd near 1: zoom to where they are
            lo = min(0.9, math.floor(float(data[score].min()) * 10) / 10)
    return (alt.Chart(data, height=170, title=LABELS[score])
            .mark_bar(color="#e4572e" if score in HIGHER_IS_WORSE else "#4c78a8")
            .encode(x=alt.X(f"{score}:Q", bin=alt.Bin(maxbins=20, extent=[lo, hi]), title=LABELS[score]),
                    y=alt.Y("count():Q", title="pairs"),
                    tooltip=[alt.Tooltip(f"{score}:Q", bin=True, title=LABELS[score]),
                             alt.Tooltip("count():Q", title="pairs")]))


def flag_along_document(df: pd.DataFrame, window: int = 5):
    """Each pair's flag in document order, coloured by kind, with a running mean: where does B drift?"""
    import altair as alt

    data = _chart_data(df[~df["furniture"]])
    data["running mean"] = data["flag"].rolling(window, center=True, min_periods=1).mean()
    base = alt.Chart(data, height=260)
    last = float(data["pair"].max()) if len(data) else 1.0
    bars = base.mark_bar().encode(
        x=alt.X("pair:Q", title="pair (document order)", scale=alt.Scale(domain=[-0.5, last + 0.5], nice=False),
                axis=alt.Axis(format="d", tickMinStep=1)),
        y=alt.Y("flag:Q", title="flag (higher = more likely wrong)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("kind:N", title="alignment"),
        tooltip=["pair:Q", "kind:N", alt.Tooltip("flag:Q", format=".2f"), "A:N", "B:N"])
    line = base.mark_line(color="#333", strokeDash=[4, 3]).encode(
        x="pair:Q", y=alt.Y("running mean:Q"), tooltip=[alt.Tooltip("running mean:Q", format=".2f")])
    return bars + line


def cosine_vs_chrf(df: pd.DataFrame):
    """Cosine against chrF for aligned pairs: high cosine with low chrF is a fluent paraphrase;
    both low is a likely mistranslation."""
    import altair as alt

    data = _chart_data(df[df["cosine"].notna() & df["chrf"].notna()])
    points = alt.Chart(data, height=340).mark_circle(size=70, opacity=0.8).encode(
        x=alt.X("chrf:Q", title="chrF (surface overlap)", scale=alt.Scale(domain=[0, 100])),
        y=alt.Y("cosine:Q", title="cosine (meaning)", scale=alt.Scale(zero=False)),
        color=alt.Color("flag:Q", title="flag", scale=alt.Scale(scheme="redyellowgreen", reverse=True,
                                                               domain=[0, 1])),
        tooltip=["pair:Q", "kind:N", alt.Tooltip("cosine:Q", format=".3f"), alt.Tooltip("chrf:Q", format=".1f"),
                 alt.Tooltip("flag:Q", format=".2f"), "A:N", "B:N"])
    ymin = float(min(data["cosine"].min(), 0.5)) if len(data) else 0.0
    notes = pd.DataFrame([
        {"chrf": 2, "cosine": 1.0, "text": "↖ fluent paraphrase (same meaning, other words)"},
        {"chrf": 2, "cosine": ymin, "text": "↙ likely mistranslation (both low)"},
    ])
    labels = alt.Chart(notes).mark_text(align="left", baseline="middle", color="#666", fontSize=11).encode(
        x="chrf:Q", y="cosine:Q", text="text:N")
    return points + labels
