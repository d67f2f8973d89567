import re

from hypothesis import given, settings, strategies as st

from comparator.core.segment import aligned_lines, segment, split_sentences


def test_abbreviations_and_numbers_stay_whole():
    s = split_sentences("Mr. Hood met Maj. Gen. Reilly of the U.S. Army on Main St., he said. It cost 2,500 dollars.")
    assert s == ["Mr. Hood met Maj. Gen. Reilly of the U.S. Army on Main St., he said.", "It cost 2,500 dollars."]


def test_broken_machine_sentence_is_split_where_the_period_is():
    s = split_sentences("Activists at the time. that Prime Minister Al Kadhimi is preparing to visit.")
    assert s == ["Activists at the time.", "that Prime Minister Al Kadhimi is preparing to visit."]


def test_opening_quote_moves_to_the_next_sentence():
    s = split_sentences("“We want peace,” Hood said. “The more time we spend, the less we do.”")
    assert s[1].startswith("“The more")
    assert not s[0].endswith("“")


def test_punctuation_only_fragment_joins_its_neighbour():
    s = split_sentences("“We continue the work.” Mr. Hood said. .")
    assert s[-1].endswith("said. .")
    assert all(re.search(r"\w", x) for x in s)


def test_paragraphs_and_lines():
    text = "Title line\n\nFirst para one. First para two.\n\nSecond para.\nAnother line in it."
    units = segment(text)
    assert [u.paragraph for u in units] == [0, 1, 1, 2, 2]
    assert units[0].text == "Title line"


def test_hard_wrapped_prose_is_joined():
    text = ("The committee met on a cold morning and discussed the plan for the\n"
            "new bridge at length, before the chair called a vote that nobody had\n"
            "expected to pass. It passed anyway.\n")
    units = segment(text)
    assert [u.text for u in units][-1] == "It passed anyway."
    assert len(units) == 2


def test_furniture_is_marked_and_dateline_split():
    text = ("date 2021-07-15 Shafaq News / The top diplomat called on the government to act now.\n\n"
            "Next: Low rainfall and poor management\n\nLeave a reply\n\n"
            "Your email address will not be published. Required fields are marked *")
    units = segment(text)
    assert units[0].furniture and units[0].text == "date 2021-07-15 Shafaq News /"
    assert not units[1].furniture and units[1].text.startswith("The top diplomat")
    assert all(u.furniture for u in units[2:])


def test_lines_mode_does_not_resplit():
    units = segment("One. Two.\nThree\n\nFour.", mode="lines")
    assert [u.text for u in units] == ["One. Two.", "Three", "Four."]


def test_aligned_lines_keep_empty_lines():
    assert aligned_lines("a\n\nb\n") == ["a", "", "b"]


def test_long_line_without_punctuation_is_cut_not_lost():
    line = " ".join(["word"] * 50000)
    units = segment(line)
    assert len(units) > 1 and all(len(u.text) <= 1000 for u in units)
    assert sum(u.text.count("word") for u in units) == 50000


def _squash(s):
    return re.sub(r"\s+", "", s)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("abcXY .,!?“”\"'\n\t-:") + ["Mr.", "U.S.", " e.g. ", "\u00a0", "Word"]),
                max_size=120).map("".join))
def test_segmentation_loses_no_character(text):
    for mode in ("text", "lines"):
        units = segment(text, mode)
        joined = _squash("".join(u.text for u in units))
        from comparator.core.documents import clean_display

        assert joined == _squash(clean_display(text)), mode
        assert all(u.text.strip() for u in units)


def test_navigation_is_furniture_but_prose_starting_with_next_is_not():
    from comparator.core.furniture import is_furniture

    assert is_furniture("Next Low rainfall and poor management - Eurasia Review")
    assert is_furniture("Previous Article: County approves new budget")
    assert not is_furniture("Next came some Sadducees to him.")
    assert not is_furniture("Next to Jesus sat one of his disciples.")


def test_sentences_inside_a_quotation_are_split():
    s = split_sentences("“We promised people that we would never again be caught unprepared. "
                        "Today we kept that promise,” she said. It’s done.")
    assert s == ["“We promised people that we would never again be caught unprepared.",
                 "Today we kept that promise,” she said.", "It’s done."]


def test_line_of_invisible_characters_is_blank():
    units = segment("Hello there.\n\n\u200b\u200b\ufeff\n\nBye now.")
    assert [u.text for u in units] == ["Hello there.", "Bye now."]


def test_odd_spaces_around_punctuation_do_not_break_the_splitter():
    # a hypothesis run found sentencex panicking on a byte index inside an NBSP
    for text in ["a.\u00a0b", ".\u00a0\u00a0a “x.\u00a0”\u00a0Y", "Mr.\u00a0\u2009X.\u3000Y!\u00a0", "\u00a0.\u00a0"]:
        units = segment(text)
        assert _squash("".join(u.text for u in units)) == _squash(text.replace("\u00a0", " "))
