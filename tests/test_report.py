import csv
import io
import json

from comparator import compare
from comparator.core.marks import MARK_THRESHOLD
from comparator.core.result import Comparison, Pair
from comparator.render import report
from comparator.render.report import highlight_html, to_csv, to_html

PAYLOADS = ['<script>alert("x")</script>', '<img src=x onerror=alert(1)>', '"><b>bold</b>']


def test_highlight_escapes_text_and_wraps_spans():
    text = "a <b>bold</b> word"
    out = highlight_html(text, [[2, 13, "addition", 0.9]])
    assert "<b>" not in out and "&lt;b&gt;bold&lt;/b&gt;" in out
    assert out.count("<mark") == 1 and 'title="mark · addition · error probability 0.90"' in out


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


# ---- error probabilities: marks (p >= 0.5) and changes ---------------------------------------------------

HOSTILE_KIND = '" onmouseover="alert(1)" x="<script>'


def _result(a_spans, b_spans, a_text="The cat sat on the mat.", b_text="The cat sat on a mat.") -> Comparison:
    pair = Pair(a=[0], b=[0], a_text=a_text, b_text=b_text, cosine=0.9, bleu=50.0, chrf=70.0, flag=0.4,
                a_spans=a_spans, b_spans=b_spans, type="1-1")
    return Comparison([a_text], [b_text], [pair], {"bleu": 50.0, "chrf": 70.0}, {"a_name": "a", "b_name": "b"})


def test_marks_are_drawn_strongly_and_changes_faintly_with_p_in_the_title():
    out = highlight_html("The cat sat on a mat.", [[15, 16, "substitution", 0.83], [4, 7, "wording", 0.12]])
    assert out.count("<mark") == 1 and '<mark class="span-substitution mark"' in out
    assert 'title="mark · substitution · error probability 0.83"' in out and ">a</mark>" in out
    assert '<span class="span-wording change" title="change · wording · error probability 0.12"' in out
    assert ">cat</span>" in out
    # hidden changes leave their words as plain text; marks stay
    hidden = highlight_html("The cat sat on a mat.", [[15, 16, "substitution", 0.83], [4, 7, "wording", 0.12]],
                            show_changes=False)
    assert "change" not in hidden and "The cat sat" in hidden and ">a</mark>" in hidden


def test_the_threshold_is_the_shared_one_and_a_change_never_reads_as_a_mark():
    at = highlight_html("abc", [[0, 1, "number", MARK_THRESHOLD]])
    below = highlight_html("abc", [[0, 1, "number", MARK_THRESHOLD - 0.0001]])
    assert "<mark" in at and "<mark" not in below
    shown = f"{MARK_THRESHOLD - 0.01:.2f}"
    assert f"error probability {shown}" in below  # cut, not rounded up to the threshold


def test_three_element_spans_are_changes_without_p():
    out = highlight_html("The cat sat.", [[4, 7, "substitution"]])
    assert "<mark" not in out and 'class="span-substitution change"' in out
    assert "no error probability" in out
    assert highlight_html("The cat sat.", [[4, 7, "substitution"]], show_changes=False) == "The cat sat."


def test_a_mark_inside_a_change_takes_its_characters():
    out = highlight_html("abcdefgh", [[0, 8, "wording", 0.1], [2, 4, "number", 0.9]])
    assert out.count("<mark") == 1 and ">cd</mark>" in out
    assert ">ab</span>" in out and ">efgh</span>" in out


def test_tooltip_and_class_cannot_break_out_of_the_attribute():
    text = 'x <img src=x onerror=alert(1)> y'
    out = highlight_html(text, [[2, 30, HOSTILE_KIND, 0.9], [0, 1, HOSTILE_KIND, 0.1]])
    assert "<img" not in out and "<script" not in out
    assert 'onmouseover="' not in out  # the quote is escaped: no attribute of its own
    assert "&quot; onmouseover=&quot;alert(1)&quot;" in out and "&lt;script&gt;" in out
    legend = report.legend_html([HOSTILE_KIND])
    assert 'onmouseover="' not in legend and "<script" not in legend
    for markup in (out, legend):  # as a browser parses it: only the tags and attributes this code writes
        tags = _tags(markup)
        assert {tag for tag, _ in tags} <= {"mark", "span", "b"}
        assert all(set(attrs) <= {"class", "title", "style"} for _, attrs in tags), tags
    titles = [attrs["title"] for tag, attrs in _tags(out)]
    assert f"mark · {HOSTILE_KIND} · error probability 0.90" in titles  # the kind as text, whole


def _tags(markup: str) -> list[tuple[str, dict]]:
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collect().feed(markup)
    return found


def test_legend_says_which_is_which_and_names_the_kinds():
    legend = report.legend_html(["number", "omission"])
    assert "Marks" in legend and "Changes" in legend and "error probability" in legend
    assert legend.count("<mark") == 2 and legend.count('change"') == 2
    assert "number" in legend and "omission" in legend and "reorder" not in legend
    hidden = report.legend_html(["number"], show_changes=False)
    assert "changes hidden" in hidden and 'change"' not in hidden


def test_csv_and_tsv_carry_p_marks_and_their_count():
    r = _result([[15, 18, "substitution", 0.62]], [[15, 16, "substitution", 0.2], [4, 7, "wording", 0.75]])
    for text, delim in ((report.to_csv(r), ","), (report.to_tsv(r), "\t")):
        rows = list(csv.DictReader(io.StringIO(text), delimiter=delim))
        assert list(rows[0]) == report.COLUMNS
        row = rows[0]
        assert row["marks"] == "2"
        assert row["a_marks"] == "the (substitution, 0.62)" and row["b_marks"] == "cat (wording, 0.75)"
        assert json.loads(row["b_spans"]) == [[15, 16, "substitution", 0.2], [4, 7, "wording", 0.75]]
        assert row["severity"] == ""


def test_csv_marks_cannot_be_formulas():
    r = _result([], [[0, 6, "addition", 0.9]], a_text="Sum.", b_text="=1+2*3 is it.")
    row = next(csv.DictReader(io.StringIO(report.to_csv(r))))
    assert row["b_marks"].startswith("'=") and row["b_text"].startswith("'=")


def test_html_report_draws_marks_with_tooltips_and_counts_them():
    r = _result([[15, 18, "substitution", 0.62]], [[15, 16, "substitution", 0.2]])
    page = report.to_html(r)
    assert 'title="mark · substitution · error probability 0.62"' in page
    assert 'title="change · substitution · error probability 0.20"' in page
    assert "<th>marks</th>" in page and "<td>1</td><td>0.40</td>" in page
    assert "Marks</b>" in page and "Changes</b>" in page and "no error probability" not in page


def test_html_report_of_an_older_result_says_spans_have_no_p():
    page = report.to_html(_result([[15, 18, "substitution"]], [[15, 16, "substitution"]]))
    assert "<mark" not in page.split("<table>")[1]
    assert "no error probability (a result from an older version)" in page


def test_html_report_shows_severity_when_the_engine_gives_it():
    r = _result([[15, 18, "substitution", 0.62]], [])
    assert "<th>severity</th>" not in report.to_html(r)
    r.pairs[0].severity = 5.25
    page = report.to_html(r)
    assert "<th>severity</th>" in page and "<td>5.2</td>" in page
    assert next(csv.DictReader(io.StringIO(report.to_csv(r))))["severity"] == "5.25"


def test_cli_formats_are_these_renderers(tmp_path):
    from conftest import run_cli

    from comparator.core.documents import read_path

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("The river rose in the night. People left early.", "utf-8")
    b.write_text("The river rose during the night. People left early!", "utf-8")
    expected = compare(read_path(str(a)), read_path(str(b)), model="hash")
    for fmt in ("csv", "tsv", "html"):
        out = run_cli("score", a, b, "--model", "hash", "--format", fmt)
        assert out.returncode == 0, out.stderr
        assert out.stdout == report.FORMATS[fmt](expected), fmt
