"""Renderers of a Comparison: CSV/TSV rows, JSON (the result serialised) and a standalone HTML report,
and the span drawing the dashboard shares with the report.

They only render what the engine returned. User text is always escaped: it is text, never markup.
A span `[start, end, kind, p]` with p >= MARK_THRESHOLD is a *mark* (drawn strongly); the others are
*changes* (drawn faintly); an older three-element span has no p and is a change.
"""
from __future__ import annotations

import csv
import html
import io
import json
import math
import re

from comparator.core.marks import MARK_THRESHOLD, count_marks, is_mark
from comparator.core.metrics import METRICS
from comparator.core.result import Comparison, Pair
from comparator.render.cells import spreadsheet_safe

# the registry's metrics in the order a pair's JSON has them
PAIR_METRICS = [f for f in Pair.__dataclass_fields__ if f in METRICS]
# New columns go at the end: scripts cut these files by column number.
COLUMNS = ["pair", "type", "a", "b", "a_text", "b_text", *PAIR_METRICS, "flag", "confidence",
           "furniture", "a_spans", "b_spans", "severity", "marks", "a_marks", "b_marks"]

SPAN_COLOURS = {
    "omission": "#ffd6d6", "addition": "#d6e4ff", "substitution": "#ffe9b3", "reorder": "#f3d1ff",
    "number": "#ffb3b3", "name": "#ffc2e0", "punctuation": "#d9d9d9", "boundary": "#ff9f80", "repetition": "#c2f0c2",
    "wording": "#b3ecec",
}
OTHER_COLOUR = "#e0e0e0"  # a kind this version does not know (a newer engine, a hand-edited file)
# A mark: the kind's colour, solid. A change: the same colour as a faint tint (hex alpha), dotted underline.
_MARK_STYLE = "background:{c};border-radius:2px;padding:0 1px;font-weight:600;color:inherit"
_CHANGE_STYLE = "background:{c}59;border-bottom:1px dotted #888;color:inherit"


def clean_spans(spans, text: str) -> list[list]:
    """The well-formed spans as `[start, end, kind, p]` inside `text`; p a float in [0, 1], or None when the
    span has none (an older result) or a hand-edited file gave something else. Others are left out."""
    out = []
    for sp in spans or []:
        try:
            start, end, kind = int(sp[0]), int(sp[1]), str(sp[2])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if 0 <= start < end <= len(text):
            out.append([start, end, kind, _probability(sp[3] if len(sp) > 3 else None)])
    return out


def _probability(value) -> float | None:
    try:
        p = float(value)
    except (TypeError, ValueError):
        return None
    return p if 0.0 <= p <= 1.0 else None  # NaN fails both comparisons


def p_text(p) -> str:
    """An error probability as shown, two digits cut (not rounded), so that a change never reads 0.50."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "unknown"
    return f"{math.floor(float(p) * 100 + 1e-9) / 100:.2f}"


def span_title(span) -> str:
    """The tooltip of a span (plain text; escape it for an attribute)."""
    kind, p = str(span[2]), span[3] if len(span) > 3 else None
    if p is None:
        return f"change · {kind} · no error probability (an older result)"
    return f"{'mark' if is_mark(span) else 'change'} · {kind} · error probability {p_text(p)}"


def _css_class(kind: str) -> str:
    return "span-" + (re.sub(r"[^a-z0-9_-]", "_", kind.lower()) or "_")


def _wrap(chunk_html: str, span, title: str | None = None) -> str:
    kind = str(span[2])
    colour = SPAN_COLOURS.get(kind, OTHER_COLOUR)
    title = html.escape(span_title(span) if title is None else title, quote=True)
    if is_mark(span):
        return (f'<mark class="{_css_class(kind)} mark" title="{title}" '
                f'style="{_MARK_STYLE.format(c=colour)}">{chunk_html}</mark>')
    return (f'<span class="{_css_class(kind)} change" title="{title}" '
            f'style="{_CHANGE_STYLE.format(c=colour)}">{chunk_html}</span>')


def _strength(span):
    return (is_mark(span), -1.0 if span[3] is None else span[3])


def highlight_html(text: str, spans: list, show_changes: bool = True) -> str:
    """Text with its marks in <mark> and its changes (unless `show_changes` is False) in a faint <span>,
    each with its kind and error probability as a tooltip. Every character of `text` is escaped. Where spans
    overlap, the characters go to the strongest (a mark before a change, then the higher p)."""
    text = str(text or "")
    spans = [s for s in clean_spans(spans, text) if show_changes or is_mark(s)]
    if not spans:
        return html.escape(text)
    cuts = sorted({0, len(text), *(s[0] for s in spans), *(s[1] for s in spans)})
    pieces: list[list] = []  # [start, end, span or None], neighbours with the same span joined
    for lo, hi in zip(cuts, cuts[1:]):
        best = max((s for s in spans if s[0] <= lo and hi <= s[1]), key=_strength, default=None)
        if pieces and pieces[-1][2] is best:
            pieces[-1][1] = hi
        else:
            pieces.append([lo, hi, best])
    return "".join(html.escape(text[lo:hi]) if s is None else _wrap(html.escape(text[lo:hi]), s)
                   for lo, hi, s in pieces)


def span_kinds(spans_lists) -> list[str]:
    """The kinds found in some lists of spans, known kinds in the legend's order, then any others."""
    found = {str(sp[2]) for spans in spans_lists for sp in spans or [] if len(sp) > 2}
    return [k for k in SPAN_COLOURS if k in found] + sorted(found - set(SPAN_COLOURS))


def legend_html(kinds=None, show_changes: bool = True) -> str:
    """What the drawing means: marks (solid, by kind) and changes (faint), with each kind's colour.
    `kinds` defaults to every known kind; user-supplied kind names are escaped."""
    kinds = list(kinds) if kinds else list(SPAN_COLOURS)
    marks = " ".join(_wrap(html.escape(k), [0, 1, k, 1.0], f"mark · {k}") for k in kinds)
    out = (f"<b>Marks</b> (likely errors, error probability ≥ {MARK_THRESHOLD:g}): {marks}")
    if show_changes:
        changes = " ".join(_wrap(html.escape(k), [0, 1, k, 0.0], f"change · {k}") for k in kinds)
        out += f" · <b>Changes</b> (differences that are probably fine): {changes}"
    else:
        out += " · changes hidden"
    return out + " · hover over a span for its kind and error probability"


def marks_count(spans) -> int:
    """The marks of one side (`count_marks`: a whole-unit addition cut around the damage inside it is one)."""
    return count_marks(spans)


def marks_text(text: str, spans) -> str:
    """The marks of one side as plain text, "2,050 (number, 0.91) · sat (substitution, 0.62)"."""
    return " · ".join(f"{' '.join(text[s:e].split())} ({kind}, {p_text(p)})"
                      for s, e, kind, p in clean_spans(spans, text) if is_mark([s, e, kind, p]))


def spans_without_p(result: Comparison) -> tuple[int, int]:
    """(spans with no error probability, all spans) over the result's pairs."""
    spans = [sp for p in result.pairs for side in (p.a_spans, p.b_spans) for sp in side or []]
    return sum(1 for sp in spans if len(sp) < 4 or _probability(sp[3]) is None), len(spans)


def no_p_note(result: Comparison) -> str:
    """One sentence for a result whose spans carry no error probability, else ""."""
    missing, total = spans_without_p(result)
    if not missing:
        return ""
    which = "Its spans carry" if missing == total else f"{missing} of its {total} spans carry"
    return (f"{which} no error probability (a result from an older version): they are drawn as changes, "
            "none as marks.")


def rows(result: Comparison) -> list[dict]:
    out = []
    for n, p in enumerate(result.pairs):
        a_text, b_text = str(p.a_text or ""), str(p.b_text or "")
        a_spans, b_spans = clean_spans(p.a_spans, a_text), clean_spans(p.b_spans, b_text)
        out.append({
            "pair": n, "type": p.type, "a": " ".join(map(str, p.a)), "b": " ".join(map(str, p.b)),
            "a_text": p.a_text, "b_text": p.b_text, **{m: getattr(p, m) for m in PAIR_METRICS},
            "flag": p.flag, "confidence": p.confidence, "furniture": p.furniture,
            "a_spans": json.dumps(p.a_spans, ensure_ascii=False), "b_spans": json.dumps(p.b_spans, ensure_ascii=False),
            "severity": getattr(p, "severity", None),
            "marks": marks_count(a_spans) + marks_count(b_spans),
            "a_marks": marks_text(a_text, a_spans), "b_marks": marks_text(b_text, b_spans),
        })
    return out


def _safe_cell(value):
    return "" if value is None else spreadsheet_safe(value)


def to_delimited(result: Comparison, delimiter: str = ",") -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, delimiter=delimiter, lineterminator="\n")
    w.writeheader()
    for r in rows(result):
        w.writerow({k: _safe_cell(v) for k, v in r.items()})
    return buf.getvalue()


def to_csv(result: Comparison) -> str:
    return to_delimited(result, ",")


def to_tsv(result: Comparison) -> str:
    return to_delimited(result, "\t")


def to_json(result: Comparison) -> str:
    return result.to_json()


def _fmt(x, digits=1):
    return "" if x is None else f"{x:.{digits}f}"


def _number(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def to_html(result: Comparison, title: str = "Translation comparison") -> str:
    c = result.corpus
    counts = result.counts()
    kinds = span_kinds([sp for pr in result.pairs for sp in (pr.a_spans, pr.b_spans)])
    note = no_p_note(result)
    legend = legend_html(kinds) + (f"<br><i>{html.escape(note)}</i>" if note else "")
    severities = [getattr(pr, "severity", None) for pr in result.pairs]
    has_severity = any(v is not None for v in severities)
    body = []
    for n, p in enumerate(result.pairs):
        cls = "furniture" if p.furniture else ("onesided" if p.one_sided else "")
        a_text, b_text = str(p.a_text or ""), str(p.b_text or "")
        marks = marks_count(clean_spans(p.a_spans, a_text)) + marks_count(clean_spans(p.b_spans, b_text))
        severity = f"<td>{_fmt(_number(severities[n]), 1)}</td>" if has_severity else ""
        body.append(
            f'<tr class="{cls}"><td>{n}</td><td>{html.escape(str(p.type))}</td>'
            f"<td>{highlight_html(a_text, p.a_spans)}</td><td>{highlight_html(b_text, p.b_spans)}</td>"
            f"<td>{marks}</td><td>{_fmt(p.flag, 2)}</td>{severity}<td>{_fmt(p.cosine, 3)}</td><td>{_fmt(p.chrf)}</td>"
            f"<td>{_fmt(p.bleu)}</td></tr>"
        )
    def _corpus(name: str, label: str) -> str:  # a metric not computed shows its reason, never a number
        if c.get(name) is None and c.get(f"{name}_reason"):
            return f"Corpus {label} not computed: {html.escape(str(c[f'{name}_reason']))}<br>"
        return f"Corpus {label} {_fmt(c.get(name))} <code>{html.escape(str(c.get(f'{name}_signature', '')))}</code><br>"

    summary = (
        f"<p>{_corpus('bleu', 'BLEU')}{_corpus('chrf', 'chrF')}"
        f"Mean cosine {_fmt(c.get('mean_cosine'), 3)} over {c.get('pairs_scored', 0)} aligned pairs; "
        + ", ".join(f"{html.escape(str(k))}: {v}" for k, v in sorted(counts.items())) + "</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em}} table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:4px 6px;vertical-align:top;font-size:14px}} th{{background:#f4f4f4}}
tr.onesided td{{background:#fafafa;font-style:italic}} tr.furniture td{{color:#999}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>A: {html.escape(str(result.settings.get('a_name', '')))} &nbsp; B: {html.escape(str(result.settings.get('b_name', '')))}
 &nbsp; mode {html.escape(str(result.settings.get('mode', '')))}, model {html.escape(str(result.settings.get('model', '')))}</p>
{summary}
<p>{legend}</p>
<table><thead><tr><th>#</th><th>type</th><th>A (reference)</th><th>B (rendering)</th><th>marks</th><th>flag</th>
{'<th>severity</th>' if has_severity else ''}<th>cosine</th><th>chrF</th><th>BLEU</th></tr></thead><tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""


FORMATS = {"json": to_json, "csv": to_csv, "tsv": to_tsv, "html": to_html}
