import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from comparator import Comparison, InputError, compare
from comparator.core.marks.phrasing import SPAN_KINDS


def _assert_complete(result: Comparison):
    a = [i for p in result.pairs for i in p.a]
    b = [j for p in result.pairs for j in p.b]
    assert a == list(range(len(result.a_sentences)))
    assert b == list(range(len(result.b_sentences)))
    for p in result.pairs:
        assert p.a or p.b
        assert p.a_text == " ".join(result.a_sentences[i] for i in p.a)
        assert p.b_text == " ".join(result.b_sentences[j] for j in p.b)
        for text, spans in ((p.a_text, p.a_spans), (p.b_text, p.b_spans)):
            for s, e, kind, prob in spans:
                assert 0.0 <= prob <= 1.0
                assert 0 <= s < e <= len(text) and kind in SPAN_KINDS


def _pair_of(result, a_words, b_words):
    for p in result.pairs:
        if a_words in p.a_text and b_words in p.b_text:
            return p
    raise AssertionError(f"no pair holds {a_words!r} / {b_words!r}")


def test_sample_alignment(sample_result):
    r = sample_result
    _assert_complete(r)
    # the split sentence is one 1-2 pair; the merged sentences one 2-1 pair
    assert _pair_of(r, "He told reporters", "He told the reporters.").type == "1-2"
    assert _pair_of(r, "The town council has approved", "The municipal council").type == "2-1"
    assert _pair_of(r, "Water rose 6.2 feet", "Two residents elderly").type == "1-2"
    # the dropped sentence is only in A; the added paragraph only in B
    dropped = _pair_of(r, "Construction could begin", "")
    assert dropped.b == [] and dropped.flag == 1.0 and dropped.cosine is None
    added = [p for p in r.pairs if not p.a and "Tennant River crosses" in p.b_text]
    assert added and added[0].bleu is None
    # furniture is kept, marked, and kept out of corpus scores
    fur = [p for p in r.pairs if p.furniture]
    assert any("Leave a reply" in p.b_text for p in fur)
    assert any(p.b_text.startswith("date 2025-10-09") for p in fur)
    assert r.corpus["pairs_scored"] == sum(1 for p in r.pairs if p.a and p.b and not p.furniture)


def test_sample_scores(sample_result):
    r = sample_result
    c = r.corpus
    assert 20 < c["bleu"] < 80 and 50 < c["chrf"] < 95
    assert c["bleu_signature"].startswith("nrefs:1|case:mixed") and "chrF2" not in c["bleu_signature"]
    assert "version:" in c["chrf_signature"]
    assert 0.8 < c["mean_cosine"] <= 1.0
    for p in r.pairs:
        if p.a and p.b and not p.furniture:
            assert 0.2 <= p.cosine <= 1.0 and 0 <= p.bleu <= 100 and 0 <= p.chrf <= 100
            assert 0.0 <= p.flag <= 1.0


def test_sample_spans_mark_the_breakage(sample_result):
    r = sample_result
    p = _pair_of(r, "He told reporters", "He told the reporters.")
    marked = [p.b_text[s:e] for s, e, k, _ in p.b_spans if k == "boundary"]
    assert any("reporters. that" in m or ". that" in m for m in marked)
    p = _pair_of(r, "thrice", "") if False else _pair_of(r, "2,500 feet", "2,050 feet")
    assert any(k == "number" and p.b_text[s:e] == "2,050" for s, e, k, _ in p.b_spans)
    p = _pair_of(r, "without asking", "without to ask")
    assert any(k == "punctuation" for s, e, k, _ in p.b_spans)


def test_identical_texts_are_all_one_to_one(sample_texts, model_encoder):
    ref = sample_texts[0]
    r = compare(ref, ref, encoder=model_encoder)
    _assert_complete(r)
    assert all(p.type == "1-1" for p in r.pairs)
    assert all(p.a_spans == [] and p.b_spans == [] for p in r.pairs)
    assert r.corpus["bleu"] == pytest.approx(100.0)


def test_lines_mode_keeps_lines_whole(hash_encoder):
    a = "One sentence. And another.\nSecond line.\n"
    b = "One sentence. And another one.\nSecond line!\nExtra line.\n"
    r = compare(a, b, mode="lines", encoder=hash_encoder)
    assert r.a_sentences == ["One sentence. And another.", "Second line."]
    assert len(r.b_sentences) == 3
    _assert_complete(r)


def test_aligned_mode_pairs_by_position(hash_encoder):
    r = compare("a b c\nd e f\n\ng\n", "x y z\nd e f\nh\ng\n", mode="aligned", encoder=hash_encoder)
    assert [(p.a, p.b) for p in r.pairs] == [([0], [0]), ([1], [1]), ([], [2]), ([2], [3])]
    assert r.settings["mode"] == "aligned"


def test_aligned_mode_refuses_unequal_line_counts(hash_encoder):
    with pytest.raises(InputError, match="equal line counts"):
        compare("a\nb\n", "a\n", mode="aligned", encoder=hash_encoder)


@pytest.mark.parametrize("a,b", [("", ""), ("   \n\n", "Hello there."), ("Hello there.", "")])
def test_empty_inputs_give_a_sensible_result(a, b, hash_encoder):
    r = compare(a, b, encoder=hash_encoder)
    _assert_complete(r)
    assert r.corpus["bleu"] is None


def test_json_round_trip(sample_result):
    again = Comparison.from_json(sample_result.to_json())
    assert again == sample_result
    data = json.loads(sample_result.to_json())
    for key in ("a_sentences", "b_sentences", "pairs", "corpus"):
        assert key in data
    assert {"a", "b", "a_text", "b_text", "cosine", "bleu", "chrf", "flag", "a_spans", "b_spans"} <= set(data["pairs"][0])


def test_to_dict_is_asdict_and_a_copy(sample_result):
    import dataclasses

    d = sample_result.to_dict()
    assert d == dataclasses.asdict(sample_result)
    assert list(d) == [f.name for f in dataclasses.fields(sample_result)]
    # a copy: changing it leaves the result as it was
    before = sample_result.to_json()
    for p in d["pairs"]:
        p["a"].append(99)
        for sp in p["a_spans"] + p["b_spans"]:
            sp[0] = -1
    d["corpus"].clear()
    d["a_sentences"].append("x")
    assert sample_result.to_json() == before


def test_same_input_same_output(sample_texts, hash_encoder):
    from comparator.core.embed.encoder import HashEncoder

    one = compare(*sample_texts, encoder=hash_encoder).to_json()
    two = compare(*sample_texts, encoder=HashEncoder()).to_json()
    assert one == two


_WORDS = ["the", "flood", "wall", "Mr.", "Hood", "said", "U.S.", "2,500", "river", "“quoted”", "town", "a", "of"]


@st.composite
def documents(draw):
    paras = []
    for _ in range(draw(st.integers(0, 5))):
        sents = []
        for _ in range(draw(st.integers(1, 4))):
            words = draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=12))
            sents.append(" ".join(words).capitalize() + draw(st.sampled_from([".", "!", "?", ". .", ""])))
        paras.append(" ".join(sents))
    return "\n\n".join(paras)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=documents(), b=documents(), mode=st.sampled_from(["text", "lines"]))
def test_nothing_is_lost_for_random_documents(a, b, mode, hash_encoder):
    r = compare(a, b, mode=mode, encoder=hash_encoder)
    _assert_complete(r)


def test_confidence_per_pair(sample_result):
    for p in sample_result.pairs:
        if p.a and p.b:
            assert 0.0 <= p.confidence <= 1.0
        else:
            assert p.confidence is None
    confident = [p.confidence for p in sample_result.pairs if p.type == "1-1"]
    assert sorted(confident)[len(confident) // 2] > 0.8  # most clear pairs are sure


def test_repeated_sentences_lower_confidence(hash_encoder):
    same = "The river rose again today. " * 6
    r = compare(same, same, encoder=hash_encoder)
    assert all(p.confidence < 0.6 for p in r.pairs if p.a and p.b)


def test_mean_windows_embed_only_sentences(sample_texts):
    from comparator.core.embed.encoder import HashEncoder

    seen = {}
    for how in ("embed", "mean"):
        enc = HashEncoder()
        compare(*sample_texts, encoder=enc, windows=how)
        seen[how] = len(enc._cache)
        assert compare(*sample_texts, encoder=enc, windows=how).settings["windows"] == how
    assert seen["mean"] < seen["embed"]


def test_token_flag_uses_token_vectors(sample_texts, model_encoder):
    plain = compare(*sample_texts, encoder=model_encoder, token_flag=False)
    tok = compare(*sample_texts, encoder=model_encoder)
    assert tok.settings["token_flag"] and not plain.settings["token_flag"]
    assert [p.a for p in tok.pairs] == [p.a for p in plain.pairs]
    assert any(abs(x.flag - y.flag) > 1e-6 for x, y in zip(tok.pairs, plain.pairs) if x.a and x.b)
    for p in tok.pairs:
        assert 0.0 <= p.flag <= 1.0


class _TokenHash:
    """The hash encoder plus made-up token vectors (one per word), counting the texts it is asked for."""

    def __new__(cls):
        import re

        import numpy as np

        from comparator.core.embed.encoder import HashEncoder

        class Enc(HashEncoder):
            asked = 0

            def token_embeddings(self, texts):
                self.asked += len(texts)
                out = []
                for t in texts:
                    words = list(re.finditer(r"\w+", t))
                    vecs = self.encode([m.group().lower() for m in words]) if words else np.zeros((0, 512))
                    out.append(([(m.start(), m.end()) for m in words], vecs))
                return out

        return Enc()


def test_token_scores_are_computed_once_and_kept_on_disk(sample_texts, tmp_path):
    enc = _TokenHash()
    first = compare(*sample_texts, encoder=enc)
    asked = enc.asked
    assert asked > 0 and first.settings["token_flag"]
    again = compare(*sample_texts, encoder=enc)
    assert enc.asked == asked  # the same pairs: nothing recomputed
    assert [p.flag for p in again.pairs] == [p.flag for p in first.pairs]
    # a new process (a new encoder) with the on-disk store finds them there
    enc1 = _TokenHash()
    enc1.use_disk_cache(str(tmp_path / "store.sqlite"))
    compare(*sample_texts, encoder=enc1)
    enc2 = _TokenHash()
    enc2.use_disk_cache(str(tmp_path / "store.sqlite"))
    third = compare(*sample_texts, encoder=enc2)
    assert enc1.asked == asked and enc2.asked == 0
    assert [p.flag for p in third.pairs] == [p.flag for p in first.pairs]
    plain = compare(*sample_texts, encoder=_TokenHash(), token_flag=False)
    assert any(abs(x.flag - y.flag) > 1e-6 for x, y in zip(plain.pairs, first.pairs) if x.a and x.b)


def test_token_vectors_are_taken_in_chunks(sample_texts, monkeypatch):
    import comparator.core.pipeline as engine

    monkeypatch.setattr(engine, "TOKEN_CHUNK", 3)
    enc = _TokenHash()
    calls = []
    orig = enc.token_embeddings
    enc.token_embeddings = lambda texts: calls.append(len(texts)) or orig(texts)
    small = compare(*sample_texts, encoder=enc)
    # a call holds the sentences of at most 3 pairs
    assert len(calls) > 3 and max(calls) <= 3 * max(len(p.a) + len(p.b) for p in small.pairs)
    monkeypatch.setattr(engine, "TOKEN_CHUNK", 10_000)
    whole = compare(*sample_texts, encoder=_TokenHash())
    assert [p.flag for p in small.pairs] == [p.flag for p in whole.pairs]


def test_identical_pairs_need_no_token_vectors():
    enc = _TokenHash()
    text = "The council met on Monday. It approved the plan. Work starts in May."
    same = compare(text, text, encoder=enc)
    assert enc.asked == 0 and all(p.flag == 0.0 for p in same.pairs)
    changed = compare(text, text.replace("Monday", "Tuesday"), encoder=enc)
    assert enc.asked == 2 and [p.flag > 0 for p in changed.pairs] == [True, False, False]


def test_one_model_pass_serves_sentence_and_token_vectors(sample_texts, model_encoder, monkeypatch):
    """The ONNX encoder keeps the token vectors of the sentences it embeds for alignment; a pair, merged or
    not, then needs no second pass, and its flag is the one the second pass gives."""
    import comparator.core.pipeline as engine

    if model_encoder.backend != "onnx":
        pytest.skip("only the ONNX encoder keeps token vectors from its sentence pass")

    def fresh():
        model_encoder._cache.clear()
        model_encoder._pairs.clear()
        asked = []
        real = type(model_encoder).token_embeddings
        monkeypatch.setattr(model_encoder, "token_embeddings", lambda texts: asked.append(len(texts)) or
                            real(model_encoder, texts), raising=False)
        return asked

    asked = fresh()
    one = compare(*sample_texts, encoder=model_encoder)
    one_pass = sum(asked)
    monkeypatch.setattr(engine, "UNIT_TOKEN_BYTES", 0)
    asked = fresh()
    two = compare(*sample_texts, encoder=model_encoder)
    from comparator.core.documents import normalise

    # the one pass leaves out only sentences the model read in another form (their offsets would not fit)
    other_form = {t for t in one.a_sentences + one.b_sentences if normalise(t) != t}
    assert one_pass <= len(other_form) < sum(asked)
    # with no budget every sentence of a pair gets a second pass, merged pairs too: the same flags
    assert [p.flag for p in one.pairs] == [p.flag for p in two.pairs]
    model_encoder._cache.clear()
    model_encoder._pairs.clear()
