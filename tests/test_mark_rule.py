"""The mark rule (comparator/core/marks/rule.py): the pair gate, widening, and the mark scale of p."""
import json

import pytest

from comparator.core.marks import MARK_THRESHOLD, is_mark, model, phrasing
from comparator.core.marks.rule import MarkRule, apply, rule_from, widened

RULE = MarkRule(gate=0.3, span=0.25, widen=1)


@pytest.mark.parametrize("q", [0.0, 0.05, 0.2, 0.2499, 0.25, 0.26, 0.4, 0.9, 1.0])
def test_p_is_a_mark_exactly_when_q_reaches_the_span_threshold_in_an_open_pair(q):
    p = RULE.scale(q)
    assert 0.0 <= p <= 1.0
    assert (p >= MARK_THRESHOLD) == (q >= RULE.span)
    assert RULE.scale(q, open_=False) < MARK_THRESHOLD  # a gated pair has no marks
    assert RULE.q_of(p) == pytest.approx(q)


def test_the_scale_keeps_the_order_of_q():
    qs = [i / 50 for i in range(51)]
    for open_ in (True, False):
        ps = [RULE.scale(q, open_) for q in qs]
        assert ps == sorted(ps)
    assert RULE.scale(0.0) == 0.0 and RULE.scale(1.0) == 1.0


def test_a_pair_below_the_gate_has_no_marks_and_one_above_it_does():
    a, b = "The cat sat on the mat.", "The dog sat on a mat."
    a_sp, b_sp = [[4, 7, "substitution"], [15, 18, "substitution"]], [[4, 7, "substitution"], [15, 16, "substitution"]]
    # B's strongest q 0.28 < gate 0.3: nothing is a mark, not even A's span at 0.5
    a4, b4 = apply(RULE, a, b, [0.5, 0.1], [0.28, 0.1], a_sp, b_sp)
    assert not any(is_mark(sp) for sp in a4 + b4)
    assert [sp[:3] for sp in a4] == a_sp and [sp[:3] for sp in b4] == b_sp  # nothing moved, nothing lost
    # B's strongest at the gate: its spans from `span` up are marks, widened by a word either side
    a4, b4 = apply(RULE, a, b, [0.5, 0.1], [0.3, 0.1], a_sp, b_sp)
    assert [is_mark(sp) for sp in a4] == [True, False] and [is_mark(sp) for sp in b4] == [True, False]
    assert b[b4[0][0]:b4[0][1]] == "The dog sat" and a[a4[0][0]:a4[0][1]] == "The cat sat"
    assert b4[1][:3] == [15, 16, "substitution"]  # a change keeps its extent


def test_a_sentence_in_one_rendering_only_has_no_gate_and_its_damage_is_not_widened():
    text = "as the the talks went on."
    a4, b4 = apply(RULE, "", text, [], [None, 0.26], [], [[0, 7, "addition", 1.0], [7, 10, "repetition"]],
                   two_sided=False)
    assert b4[0] == [0, 7, "addition", 1.0] and b4[1][:3] == [7, 10, "repetition"] and is_mark(b4[1])


def test_widening_grows_to_whole_words_and_leaves_a_space_alone():
    t = "one two three four"
    assert widened(t, 5, 6, 0) == (4, 7)
    assert widened(t, 5, 6, 1) == (0, 13)
    assert widened(t, 0, 2, 2) == (0, 13)
    assert widened(t, 3, 4, 1) == (3, 4)  # the space between words touches none
    assert widened(t, 5, 6, -1) == (5, 6)


def test_an_older_model_file_with_one_threshold_reads_as_a_rule_without_gate():
    r = rule_from({"threshold": 0.35})
    assert (r.gate, r.span, r.widen) == (0.0, 0.35, -1)
    assert rule_from({"marks": {"gate": 0.28, "span": 0.25, "widen": 1}}) == MarkRule(0.28, 0.25, 1)


def _scored(a, b):
    sa, sb = phrasing.spans(a, b)
    (a4, b4, flag, _sev), = phrasing.score_pairs([(a, b, sa, sb, 60.0, 0.9, None)])
    assert 0.0 <= flag <= 1.0 and all(0.0 <= sp[3] <= 1.0 for sp in a4 + b4)
    json.dumps([a4, b4])  # plain numbers
    return a4, b4


def test_the_engine_marks_a_changed_fact_with_its_neighbours_and_leaves_a_rewording_a_change():
    assert model.load().rule.widen == 1
    b = "He paid 2,500 dollars for the car."
    a4, b4 = _scored("He paid 2,050 dollars for the car.", b)
    marks = [b[s:e] for s, e, _k, p in b4 if p >= MARK_THRESHOLD]
    assert marks == ["paid 2,500 dollars"]
    a4, b4 = _scored("The killing shocked the city.", "The murder shocked the city.")
    assert a4 and b4 and not any(is_mark(sp) for sp in a4 + b4)


def test_a_file_made_with_the_line_at_035_keeps_its_marks_when_read(sample_result):
    from comparator.core.result import Comparison

    data = json.loads(sample_result.to_json())
    old_line = 0.35
    data["settings"]["mark_threshold"] = old_line
    data["settings"].pop("mark_rule", None)
    # as the version before wrote it: p calibrated, marks from 0.35 (p on both sides of the line)
    ps = [0.1, 0.34, 0.35, 0.6]
    n = 0
    for pair in data["pairs"]:
        for side in ("a_spans", "b_spans"):
            for sp in pair[side]:
                sp[3] = ps[n % len(ps)]
                n += 1
    assert n >= len(ps)
    back = Comparison.from_dict(data)
    assert back.settings["mark_threshold"] == MARK_THRESHOLD and back.settings["mark_threshold_read"] == old_line
    for before, after in zip(data["pairs"], back.pairs):
        for side in ("a_spans", "b_spans"):
            for old, new in zip(before[side], getattr(after, side), strict=True):
                assert new[:3] == old[:3] and (new[3] >= MARK_THRESHOLD) == (old[3] >= old_line)
    # a file made at this version's line is read as it is
    again = Comparison.from_dict(json.loads(sample_result.to_json()))
    assert again.pairs[0].a_spans == sample_result.pairs[0].a_spans and "mark_threshold_read" not in again.settings
