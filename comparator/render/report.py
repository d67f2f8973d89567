"""Renderers of a Comparison: CSV/TSV rows, JSON (the result serialised) and a standalone HTML report.

They only render what the engine returned. User text is always escaped: it is text, never markup.
"""
from __future__ import annotations

import csv
import html
import io
import json

from comparator.core.metrics import METRICS
from comparator.core.result import Comparison, Pair
from comparator.render.cells import spreadsheet_safe

# the registry's metrics in the order a pair's JSON has them
PAIR_METRICS = [f for f in Pair.__dataclass_fields__ if f in METRICS]
COLUMNS = ["pair", "type", "a", "b", "a_text", "b_text", *PAIR_METRICS, "flag", "confidence",
           "furniture", "a_spans", "b_spans"]

SPAN_COLOURS = {
    "omission": "#ffd6d6", "addition": "#d6e4ff", "substitution": "#ffe9b3", "reorder": "#f3d1ff",
    "number": "#ffb3b3", "name": "#ffc2e0", "punctuation": "#d9d9d9", "boundary": "#ff9f80", "repetition": "#c2f0c2",
    "wording": "#b3ecec",
}


def rows(result: Comparison) -> list[dict]:
    out = []
    for n, p in enumerate(result.pairs):
        out.append({
            "pair": n, "type": p.type, "a": " ".join(map(str, p.a)), "b": " ".join(map(str, p.b)),
            "a_text": p.a_text, "b_text": p.b_text, **{m: getattr(p, m) for m in PAIR_METRICS},
            "flag": p.flag, "confidence": p.confidence, "furniture": p.furniture,
            "a_spans": json.dumps(p.a_spans, ensure_ascii=False), "b_spans": json.dumps(p.b_spans, ensure_ascii=False),
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


def highlight_html(text: str, spans: list) -> str:
    """Text with its spans wrapped in <mark>; every character of `text` is escaped."""
    out = []
    pos = 0
    # [start, end, kind] or, newer, [start, end, kind, p]
    for start, end, kind, *_ in sorted((s for s in spans if 0 <= s[0] < s[1] <= len(text)), key=lambda s: s[0]):
        if start < pos:
            continue
        out.append(html.escape(text[pos:start]))
        colour = SPAN_COLOURS.get(kind, "#eeeeee")
        out.append(f'<mark class="span-{html.escape(str(kind))}" title="{html.escape(str(kind))}" '
                   f'style="background:{colour}">{html.escape(text[start:end])}</mark>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _fmt(x, digits=1):
    return "" if x is None else f"{x:.{digits}f}"


def to_html(result: Comparison, title: str = "Translation comparison") -> str:
    c = result.corpus
    counts = result.counts()
    legend = " ".join(f'<mark style="background:{col}">{k}</mark>' for k, col in SPAN_COLOURS.items())
    body = []
    for n, p in enumerate(result.pairs):
        cls = "furniture" if p.furniture else ("onesided" if p.one_sided else "")
        body.append(
            f'<tr class="{cls}"><td>{n}</td><td>{html.escape(p.type)}</td>'
            f"<td>{highlight_html(p.a_text, p.a_spans)}</td><td>{highlight_html(p.b_text, p.b_spans)}</td>"
            f"<td>{_fmt(p.flag, 2)}</td><td>{_fmt(p.cosine, 3)}</td><td>{_fmt(p.chrf)}</td><td>{_fmt(p.bleu)}</td></tr>"
        )
    summary = (
        f"<p>Corpus BLEU {_fmt(c.get('bleu'))} <code>{html.escape(str(c.get('bleu_signature', '')))}</code><br>"
        f"Corpus chrF {_fmt(c.get('chrf'))} <code>{html.escape(str(c.get('chrf_signature', '')))}</code><br>"
        f"Mean cosine {_fmt(c.get('mean_cosine'), 3)} over {c.get('pairs_scored', 0)} aligned pairs; "
        + ", ".join(f"{html.escape(str(k))}: {v}" for k, v in sorted(counts.items())) + "</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em}} table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:4px 6px;vertical-align:top;font-size:14px}} th{{background:#f4f4f4}}
tr.onesided td{{background:#fafafa;font-style:italic}} tr.furniture td{{color:#999}} mark{{padding:0 1px}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>A: {html.escape(str(result.settings.get('a_name', '')))} &nbsp; B: {html.escape(str(result.settings.get('b_name', '')))}
 &nbsp; mode {html.escape(str(result.settings.get('mode', '')))}, model {html.escape(str(result.settings.get('model', '')))}</p>
{summary}
<p>Spans: {legend}</p>
<table><thead><tr><th>#</th><th>type</th><th>A (reference)</th><th>B (rendering)</th><th>flag</th><th>cosine</th>
<th>chrF</th><th>BLEU</th></tr></thead><tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""


FORMATS = {"json": to_json, "csv": to_csv, "tsv": to_tsv, "html": to_html}
