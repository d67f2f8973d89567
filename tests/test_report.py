import csv
import io

from comparator import compare
from comparator.render.report import highlight_html, to_csv, to_html

PAYLOADS = ['<script>alert("x")</script>', '<img src=x onerror=alert(1)>', '"><b>bold</b>']


def test_highlight_escapes_text_and_wraps_spans():
    text = "a <b>bold</b> word"
    out = highlight_html(text, [[2, 13, "addition"]])
    assert "<b>" not in out and "&lt;b&gt;bold&lt;/b&gt;" in out
    assert out.count("<mark") == 1 and 'title="addition"' in out


def test_spans_out_of_range_are_ignored():
    assert highlight_html("abc", [[2, 10, "omission"], [-1, 1, "x"]]) == "abc"


def test_html_report_is_inert_for_hostile_text(hash_encoder):
    a = "Plain sentence one. " + " ".join(PAYLOADS)
    b = "Plain sentence one! " + " ".join(PAYLOADS[::-1])
    html = to_html(compare(a, b, encoder=hash_encoder))
    for p in PAYLOADS:
        assert p not in html
    assert "<script" not in html.lower().replace("&lt;script", "")
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")


def test_csv_cells_cannot_be_formulas(hash_encoder):
    r = compare("=1+2 is a sum.", "=1+2 is the sum.", encoder=hash_encoder)
    rows = list(csv.DictReader(io.StringIO(to_csv(r))))
    assert rows[0]["a_text"].startswith("'=")
