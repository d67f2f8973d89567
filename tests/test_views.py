"""Unit tests of comparator.dashboard.views: the dashboard's pure presentation helpers."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from comparator.dashboard import views
from comparator.core.result import Comparison, Pair


def _pair(a, b, a_text, b_text, flag, cosine=None, chrf=None, bleu=None, a_spans=(), b_spans=(), type_=None,
          furniture=False):
    return Pair(a=list(a), b=list(b), a_text=a_text, b_text=b_text, cosine=cosine, bleu=bleu, chrf=chrf, flag=flag,
                a_spans=[list(s) for s in a_spans], b_spans=[list(s) for s in b_spans],
                type=type_ or ("furniture" if furniture else f"{len(a)}-{len(b)}"), furniture=furniture)


# Spans as the engine gives them: [start, end, kind, p]; p >= 0.5 is a mark, the rest are changes.
@pytest.fixture
def result() -> Comparison:
    pairs = [
        _pair([0], [0], "The cat sat on the mat.", "The cat sat on a mat.", 0.2, 0.95, 80.0, 60.0,
              a_spans=[(15, 18, "substitution", 0.2)], b_spans=[(15, 16, "substitution", 0.2)]),
        _pair([1], [], "A dropped sentence.", "", 1.0, a_spans=[(0, 19, "omission", 0.93)]),
        _pair([2, 3], [1], "Two short. Sentences here.", "Two short sentences here.", 0.35, 0.90, 70.0, 30.0,
              a_spans=[(9, 10, "punctuation", 0.1)]),
        _pair([4], [2], "Numbers: 2,500 feet.", "Numbers: 2,050 feet.", 0.6, 0.97, 65.0, 40.0,
              a_spans=[(9, 14, "number", 0.55)], b_spans=[(9, 14, "number", 0.91), (15, 19, "wording", 0.3)]),
        _pair([], [3], "", "An added <script>alert(1)</script> line.", 1.0, b_spans=[(0, 40, "addition", 0.7)]),
        _pair([], [4], "", "Leave a reply", 0.0, furniture=True),
    ]
    return Comparison(
        a_sentences=["The cat sat on the mat.", "A dropped sentence.", "Two short.", "Sentences here.",
                     "Numbers: 2,500 feet."],
        b_sentences=["The cat sat on a mat.", "Two short sentences here.", "Numbers: 2,050 feet.",
                     "An added <script>alert(1)</script> line.", "Leave a reply"],
        pairs=pairs,
        corpus={"bleu": 45.1234, "chrf": 71.5, "bleu_signature": "nrefs:1|bleu", "chrf_signature": "nrefs:1|chrf",
                "mean_cosine": 0.94, "pairs_scored": 3},
        settings={"mode": "text", "model": "hash", "a_name": "a.txt", "b_name": "b.txt"},
        b_furniture=[4],
    )


@pytest.fixture
def df(result) -> pd.DataFrame:
    return views.pairs_frame(result)


def test_pairs_frame_one_row_per_pair_in_document_order(result, df):
    assert len(df) == len(result.pairs)
    assert df["pair"].tolist() == list(range(len(result.pairs)))
    assert df["kind"].tolist() == ["1-1", views.ONLY_A, "2-1", "1-1", views.ONLY_B, views.FURNITURE]
    assert df.loc[2, "a"] == "2 3" and df.loc[2, "b"] == "1"
    assert math.isnan(df.loc[1, "cosine"]) and df.loc[0, "chrf"] == 80.0
    assert df["flag"].dtype == "float64"


def test_marked_and_changed_words_merge_adjacent_spans(df):
    # pair 0 has only changes; pair 3 a mark on each side and a change in B
    assert df.loc[0, "a_marked"] == "" and df.loc[0, "a_changed"] == "the" and df.loc[0, "b_changed"] == "a"
    assert df.loc[3, "b_marked"] == "2,050" and df.loc[3, "b_changed"] == "feet"
    assert df.loc[3, "a_marked"] == "2,500"
    assert views._marked("a big red dog", [[0, 1, "x"], [2, 5, "x"], [10, 13, "x"]]) == "a big · dog"
    assert views._marked("a big red dog", [[0, 1, "x", 0.9], [2, 5, "x", 0.8]]) == "a big"
    # a mark grown over its neighbours overlaps them: one phrase, nothing lost
    assert views._marked("a big red dog", [[0, 5, "x", 0.9], [2, 9, "x", 0.6]]) == "a big red"


def test_marks_are_counted_per_pair_and_side(df):
    assert df["marks"].tolist() == [0, 1, 0, 2, 1, 0]
    assert df["a_marks"].tolist() == [0, 1, 0, 1, 0, 0] and df["b_marks"].tolist() == [0, 0, 0, 1, 1, 0]
    assert df["marks"].dtype == "int64"


def test_malformed_spans_from_a_hand_edited_json_are_dropped():
    r = Comparison(["abc"], ["abd"], [_pair([0], [0], "abc", "abd", 0.3, a_spans=[(0, 9, "x"), ("a", 1, "x")],
                                           b_spans=[(2, 3, "substitution", 0.8), (1,), (0, 1, "x", "high"),
                                                    (1, 2, "x", 7.0)])], {}, {})
    df = views.pairs_frame(r)
    assert df.loc[0, "a_spans"] == []
    # a p that is not a probability is unknown: the span stays, as a change
    assert df.loc[0, "b_spans"] == [[2, 3, "substitution", 0.8], [0, 1, "x", None], [1, 2, "x", None]]
    assert df.loc[0, "marks"] == 1
    assert views.pairs_html(df).count("<mark") == 1


def test_kinds_present_orders_types_then_one_sided(df):
    assert views.kinds_present(df) == ["1-1", "2-1", views.ONLY_A, views.ONLY_B, views.FURNITURE]


def test_filter_by_kind_search_and_range(df):
    assert views.filter_pairs(df, kinds=["1-1"])["pair"].tolist() == [0, 3]
    assert views.filter_pairs(df, kinds=[])["pair"].tolist() == []
    # search is literal and case-insensitive, on either side
    assert views.filter_pairs(df, search="CAT")["pair"].tolist() == [0]
    assert views.filter_pairs(df, search="<script>")["pair"].tolist() == [4]
    assert views.filter_pairs(df, search="2,500")["pair"].tolist() == [3]
    assert views.filter_pairs(df, search=".*")["pair"].tolist() == []
    # a range keeps its ends and drops pairs without the score
    assert views.filter_pairs(df, ranges={"chrf": (65.0, 80.0)})["pair"].tolist() == [0, 2, 3]
    assert views.filter_pairs(df, ranges={"flag": (0.5, 1.0)})["pair"].tolist() == [1, 3, 4]


def test_filter_only_pairs_with_marks(df):
    assert views.filter_pairs(df, only_marks=True)["pair"].tolist() == [1, 3, 4]
    assert views.filter_pairs(df, only_marks=False)["pair"].tolist() == list(range(6))
    assert views.filter_pairs(df, kinds=["1-1"], only_marks=True)["pair"].tolist() == [3]


def test_narrowed_keeps_only_changed_ranges():
    bounds = {"flag": (0.0, 1.0), "chrf": (0.0, 100.0)}
    assert views.narrowed({"flag": (0.0, 1.0), "chrf": (10.0, 100.0)}, bounds) == {"chrf": (10.0, 100.0)}


def test_sort_worst_first_per_score_and_missing_last(df):
    assert views.sort_pairs(df, "flag")["pair"].tolist() == [1, 4, 3, 2, 0, 5]
    assert views.sort_pairs(df, "flag", worst_first=False)["pair"].tolist() == [5, 0, 2, 3, 1, 4]
    # low chrF is worse; pairs without chrF go last, in document order
    assert views.sort_pairs(df, "chrf")["pair"].tolist() == [3, 2, 0, 1, 4, 5]
    assert views.sort_pairs(df, "cosine", worst_first=False)["pair"].tolist() == [3, 0, 2, 1, 4, 5]
    assert views.sort_pairs(df.iloc[::-1], "document")["pair"].tolist() == list(range(6))


def test_sorting_and_filtering_do_not_change_scores(df):
    before = df.copy()
    views.sort_pairs(views.filter_pairs(df, search="a"), "bleu")
    pd.testing.assert_frame_equal(df, before)


def test_page_clamps_and_counts(df):
    rows, number, pages = views.page(df, 2, 4)
    assert (number, pages) == (2, 2) and rows["pair"].tolist() == [4, 5]
    rows, number, pages = views.page(df, 99, 4)
    assert number == 2
    rows, number, pages = views.page(df.iloc[:0], 3, 10)
    assert (number, pages, len(rows)) == (1, 1, 0)


def test_summary_counts_and_corpus(result):
    s = views.summary(result)
    assert s["bleu"] == 45.1234 and s["chrf"] == 71.5 and s["mean_cosine"] == 0.94
    assert s["bleu_signature"] == "nrefs:1|bleu"
    assert s["by_type"] == {"1-1": 2, "2-1": 1}
    assert (s["only_in_a"], s["only_in_b"], s["furniture"]) == (1, 1, 1)
    assert s["pairs"] == 6


def test_summary_metrics(result):
    m = {label: (value, help_) for label, value, help_ in views.summary_metrics(views.summary(result))}
    assert m["Corpus BLEU"][0] == "45.12" and m["Corpus chrF"][0] == "71.50" and m["Mean cosine"][0] == "0.940"
    assert "nrefs:1|bleu" in m["Corpus BLEU"][1]
    assert m["Aligned pairs"] == ("3", "by type: 1-1: 2 · 2-1: 1")
    assert (m["Only in A"][0], m["Only in B"][0], m["Furniture"][0]) == ("1", "1", "1")
    assert views.code_safe("a`b\nc") == "a'b c"


def test_fmt():
    assert views.fmt(None) == "–" and views.fmt(float("nan"), "chrf") == "–"
    assert views.fmt(78.3913, "chrf") == "78.4" and views.fmt(0.94178, "cosine") == "0.942"
    assert views.fmt(78.3913, digits=2) == "78.39"


def test_progress_fraction_is_monotonic_over_stages():
    seq = [("segment", 1, 1), ("embed A", 5, 10), ("embed A", 10, 10), ("embed B", 10, 10), ("align", 1, 1),
           ("score", 1, 20), ("score", 20, 20)]
    fr = [views.progress_fraction(*x) for x in seq]
    assert fr == sorted(fr) and fr[-1] == 1.0 and all(0 <= f <= 1 for f in fr)
    assert views.progress_fraction("unknown stage", 0, 0) == 1.0


def test_progress_text_names_the_running_stage():
    assert views.progress_text("segment", 1, 1) == "Scoring: embedding the sentences of A…"
    assert views.progress_text("embed B", 3, 10) == "Scoring: embed B, 3 of 10"
    assert views.progress_text("embed B", 10, 10) == "Scoring: aligning the sentences…"


def test_md_escape_neutralises_markdown():
    out = views.md_escape("**bold** [x](http://e) $x$ :red[y] <b>")
    for raw in ("**", "](", "$x$", ":red[", "<b>"):
        assert raw not in out


def test_word_diff_keeps_text_and_marks_changes():
    ops = views.word_diff("The cat sat on the mat.", "The cat sat on a mat.")
    assert ("replace", " the", " a") in ops
    # the B side reassembled from the ops is B itself
    assert "".join(cb for _, _, cb in ops).strip() == "The cat sat on a mat."
    assert "".join(ca for _, ca, _ in ops).strip() == "The cat sat on the mat."
    h = views.diff_html(ops)
    assert "<del" in h and ">the</del>" in h and ">a</ins>" in h


def test_diff_html_escapes_user_text():
    h = views.diff_html(views.word_diff("safe text", "<script>alert(1)</script> text"))
    assert "<script>" not in h and "&lt;script&gt;" in h


def test_pairs_html_escapes_and_marks(df):
    h = views.pairs_html(df)
    assert "<script>" not in h and "&lt;script&gt;alert(1)&lt;/script&gt;" in h
    assert 'class="span-number mark"' in h and "2,050</mark>" in h
    assert 'class="span-wording change"' in h and ">feet</span>" in h
    assert "not in A" in h and "not in B" in h
    assert "\n" not in h  # one HTML block for markdown
    assert 'outline' in views.pairs_html(df, current=3)
    assert "page furniture, not scored" in views.pairs_html(df[df["furniture"]])


def test_pairs_html_newlines_in_text_do_not_break_the_block():
    df = views.pairs_frame(Comparison(["x\n\n# heading"], ["y"], [_pair([0], [0], "x\n\n# heading", "y", 0.5)],
                                      {}, {}))
    h = views.pairs_html(df)
    assert "\n" not in h and "# heading" in h


def test_sentence_ref():
    assert views.sentence_ref("3") == "sentence 3"
    assert views.sentence_ref("3 4") == "sentences 3, 4"
    assert views.sentence_ref("") == "no sentence"


def test_flag_colour_runs_green_to_red():
    assert views.flag_colour(0.0).startswith("hsl(120") and views.flag_colour(0.9).startswith("hsl(0")
    assert views.flag_colour(None) == "#eeeeee"


def test_worst_pairs_and_default_pair(df):
    assert views.worst_pairs(df, 2)["pair"].tolist() == [3, 2]
    assert views.default_pair(df) == 3
    assert views.default_pair(df[df["kind"] == views.ONLY_B]) == 4


def test_one_sided_note(df):
    assert views.one_sided_note(df) == "1 sentence only in A (#1) and 1 sentence only in B (#4)"
    assert views.one_sided_note(df[df["kind"] == "1-1"]) == ""


def test_neighbours_and_label(df):
    assert views.neighbours(df, 0, 2)["pair"].tolist() == [0, 1, 2]
    assert views.neighbours(df, 4, 1)["pair"].tolist() == [3, 4, 5]
    label = views.pair_label(df.loc[3])
    assert label.startswith("#3 · 1-1 · flag 0.60 · Numbers")
    labels = views.pair_labels(df)
    assert list(labels) == list(range(6)) and labels[3] == label
    assert labels[1].startswith("#1 · only in A · flag 1.00 · A dropped sentence")


def test_table_frame_columns(df):
    t = views.table_frame(df)
    assert list(t.columns[:7]) == ["#", "alignment", "flag", "cosine", "chrF", "BLEU", "marks"]
    assert len(t) == len(df) and "TER" not in t.columns and "severity" not in t.columns
    assert t["marks"].tolist() == [0, 1, 0, 2, 1, 0]
    assert "changed in B" in t.columns and "changed in B" not in views.table_frame(df, show_changes=False).columns


def test_scores_present_includes_ter_only_when_computed(result):
    assert "ter" not in views.scores_present(views.pairs_frame(result))
    result.pairs[0].ter = 12.0
    assert "ter" in views.scores_present(views.pairs_frame(result))


def test_slider_bounds_widen_for_out_of_scale_values(df):
    assert views.slider_bounds(df, "chrf") == (0.0, 100.0)
    df = df.copy()
    df.loc[0, "cosine"] = -0.2
    assert views.slider_bounds(df, "cosine") == (-1.0, 1.0)


def test_charts_build_and_serialise(df):
    charts = [views.score_histogram(df, s) for s in ("flag", "cosine", "chrf", "bleu")]
    charts += [views.flag_along_document(df), views.cosine_vs_chrf(df)]
    for c in charts:
        spec = c.to_dict()
        assert "$schema" in spec


def test_charts_with_no_aligned_pairs(df):
    one = df[df["kind"] == views.ONLY_B]
    views.cosine_vs_chrf(one).to_dict()
    views.score_histogram(one, "cosine").to_dict()
    views.flag_along_document(one).to_dict()


def test_engine_result_round_trip_to_frame():
    from comparator import compare

    r = compare("One sentence here. Another one there.", "One sentence here. Another one over there.",
                model="hash")
    df = views.pairs_frame(r)
    assert len(df) == len(r.pairs) and df["flag"].notna().all()
    again = views.pairs_frame(Comparison.from_json(r.to_json()))
    pd.testing.assert_frame_equal(df, again)


# ---- marks and changes -------------------------------------------------------------------------------


def test_pairs_html_hides_changes_on_request_and_counts_marks(df):
    shown, hidden = views.pairs_html(df), views.pairs_html(df, show_changes=False)
    assert 'change"' in shown and 'change"' not in hidden
    assert shown.count("<mark") == hidden.count("<mark") == int(df["marks"].sum())
    assert "The cat sat on the mat." in hidden  # a hidden change leaves its words, as text
    assert "marks</th>" in shown
    assert ">2</td>" in views.pairs_html(df[df["pair"] == 3])


def test_pairs_html_tooltips_carry_kind_and_p(df):
    h = views.pairs_html(df[df["pair"] == 3])
    assert 'title="mark · number · error probability 0.91"' in h
    assert 'title="change · wording · error probability 0.30"' in h


def test_tooltip_of_a_hostile_kind_stays_inside_its_attribute():
    kind = '"><img src=x onerror=alert(1)>'
    r = Comparison(["a b"], ["a c"], [_pair([0], [0], "a b", "a <script>c", 0.7, b_spans=[(2, 10, kind, 0.9)])],
                   {}, {})
    df = views.pairs_frame(r)
    h = views.pairs_html(df) + views.legend_html(views.span_kinds(df))
    assert "<img" not in h and "<script" not in h
    assert 'title="mark · &quot;&gt;&lt;img src=x onerror=alert(1)&gt; · error probability 0.90"' in h


def test_legend_names_the_kinds_present(df):
    assert views.span_kinds(df) == ["omission", "addition", "substitution", "number", "punctuation", "wording"]
    legend = views.legend_html(views.span_kinds(df))
    assert "Marks" in legend and "Changes" in legend and "reorder" not in legend
    assert "changes hidden" in views.legend_html(views.span_kinds(df), show_changes=False)
    assert "reorder" in views.legend_html()  # no kinds given: all of them


def test_an_older_result_without_p_opens_with_changes_only(result):
    for p in result.pairs:
        p.a_spans, p.b_spans = [s[:3] for s in p.a_spans], [s[:3] for s in p.b_spans]
    df = views.pairs_frame(result)
    assert df["marks"].sum() == 0 and df.loc[3, "b_changed"] == "2,050 feet"
    assert "<mark" not in views.pairs_html(df) and "no error probability" in views.pairs_html(df)
    assert "no error probability" in views.no_p_note(result)
    assert views.filter_pairs(df, only_marks=True).empty


def test_no_note_when_every_span_has_p(result):
    assert views.no_p_note(result) == ""
    result.pairs[0].a_spans = [[15, 18, "substitution"]]
    assert views.no_p_note(result).startswith("1 of its 8 spans carry no error probability")


def test_severity_is_shown_when_the_engine_gives_it(result):
    assert views.pairs_frame(result)["severity"].isna().all()
    result.pairs[3].severity = 5.2
    df = views.pairs_frame(result)
    assert df.loc[3, "severity"] == 5.2 and "severity" in views.table_frame(df).columns
    assert "severity&nbsp;5.2" in views.pairs_html(df[df["pair"] == 3])
