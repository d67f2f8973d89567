"""Renderers of a systems comparison: the system table as CSV / TSV, text for a terminal, and an HTML
report with the sentences the systems disagree on most (user text always escaped)."""
from __future__ import annotations

import csv
import html
import io

from comparator.analysis.systems import SIGNIFICANCE_LEVEL, SystemsComparison
from comparator.core.marks import FLAG_THRESHOLD
from comparator.render.cells import spreadsheet_safe

TABLE_COLUMNS = ["rank", "system", "bleu", "bleu_ci", "bleu_p", "chrf", "chrf_ci", "chrf_p", "mean_cosine",
                 "flagged", "pairs_scored", "only_in_reference", "only_in_system", "corpus_bleu", "corpus_chrf"]


def _cell(v):
    if v is None:
        return ""
    return spreadsheet_safe(v)


def to_delimited(sc: SystemsComparison, delimiter: str = ",") -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=TABLE_COLUMNS, delimiter=delimiter, lineterminator="\n",
                       extrasaction="ignore")
    w.writeheader()
    for row in sc.table:
        w.writerow({k: _cell(row.get(k)) for k in TABLE_COLUMNS})
    return buf.getvalue()


def _pm(score, ci) -> str:
    if score is None:
        return "–"
    return f"{score:.2f} ± {ci:.2f}" if ci is not None else f"{score:.2f}"


def _p(p, baseline: bool = True) -> str:
    if p is None:
        return "baseline" if baseline else "–"  # no test: the baseline, or a metric not computed
    return f"p={p:.4f}" + (" *" if p < SIGNIFICANCE_LEVEL else "")


def text_rows(sc: SystemsComparison) -> list[list[str]]:
    """The system table as strings, in input order (baseline first): what the text and HTML reports show."""
    out = []
    for r in sc.table:
        first = r is sc.table[0]
        out.append([str(r["rank"]), r["system"], _pm(r["bleu"], r["bleu_ci"]), _p(r["bleu_p"], baseline=first),
                    _pm(r["chrf"], r["chrf_ci"]), _p(r["chrf_p"], baseline=first),
                    "–" if r["mean_cosine"] is None else f"{r['mean_cosine']:.4f}", str(r["flagged"])])
    return out


TEXT_HEADER = ["rank", "system", "BLEU ± 95% CI", "vs baseline", "chrF ± 95% CI", "vs baseline", "cosine",
               "flagged"]


def to_text(sc: SystemsComparison) -> str:
    rows = [TEXT_HEADER, *text_rows(sc)]
    widths = [max(len(r[c]) for r in rows) for c in range(len(TEXT_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    s = sc.significance
    if s:
        lines.append("")
        lines.append(f"Paired bootstrap resampling, {s['n_samples']} samples, seed {s['seed']}, over {s['segments']} "
                     f"reference segments; baseline {s['baseline']}; * p < {s['level']}.")
        lines.append(f"BLEU {s['bleu_signature']}")
        lines.append(f"chrF {s['chrf_signature']}")
    lines.append(f"flagged: pairs with flag >= {sc.settings.get('flag_threshold', FLAG_THRESHOLD)} "
                 "(sentences found in one rendering only included, page furniture not).")
    lines.extend(f"note: {n}" for n in sc.notes)
    return "\n".join(lines) + "\n"


def to_html(sc: SystemsComparison, disputed: int = 10) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in TEXT_HEADER)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in text_rows(sc))
    s = sc.significance or {}
    sys_head = "".join(f"<th>{esc(n)}</th>" for n in sc.names)
    seg_rows = []
    for i in sc.most_disputed(disputed):
        seg = sc.segments[i]
        cells = "".join(f"<td>{esc(h) or '<i>(left out)</i>'}<br><small>"
                        f"{'' if c is None else f'chrF {c:.1f} · '}flag {f:.2f}</small></td>"
                        for h, c, f in zip(seg.hypotheses, seg.chrf, seg.flag))
        seg_rows.append(f"<tr><td>{esc(' '.join(map(str, seg.a)))}</td><td>{esc(seg.reference)}</td>{cells}"
                        f"<td>{seg.disagreement:.1f}</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Systems compared</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em}} table{{border-collapse:collapse;width:100%;margin-bottom:1.5em}}
td,th{{border:1px solid #ccc;padding:4px 6px;vertical-align:top;font-size:14px}} th{{background:#f4f4f4}}
</style></head><body>
<h1>Systems compared</h1>
<p>Reference: {esc(sc.reference_name)} · mode {esc(str(sc.settings.get('mode', '')))} · model {esc(str(sc.settings.get('model', '')))}</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p>Paired bootstrap resampling ({esc(str(s.get('n_samples', '')))} samples, seed {esc(str(s.get('seed', '')))}) over
{esc(str(s.get('segments', '')))} reference segments; baseline {esc(str(s.get('baseline', '')))}; * p &lt; {SIGNIFICANCE_LEVEL}.<br>
BLEU <code>{esc(str(s.get('bleu_signature', '')))}</code><br>chrF <code>{esc(str(s.get('chrf_signature', '')))}</code></p>
<h2>Where the systems disagree most</h2>
<table><thead><tr><th>reference sentences</th><th>reference</th>{sys_head}<th>chrF spread</th></tr></thead>
<tbody>{''.join(seg_rows)}</tbody></table>
</body></html>
"""


FORMATS = {
    "json": lambda sc: sc.to_json(),
    "csv": lambda sc: to_delimited(sc, ","),
    "tsv": lambda sc: to_delimited(sc, "\t"),
    "html": to_html,
    "text": to_text,
}
