"""The comparison engine: read -> segment -> embed -> align -> score -> flag, into one Comparison."""
from __future__ import annotations

import hashlib
import logging
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np

from comparator import __version__
from comparator.core import align, languages as langs, metrics, parallel
from comparator.core.marks import MARK_THRESHOLD, fluency, model as span_model, phrasing
from comparator.core.marks import rule as mark_rule
from comparator.core.documents import Document, normalise, read_path, read_text
from comparator.core.embed.encoder import (DEFAULT_MODEL, ENGLISH_ONLY_MODELS, HASH_MODEL, Encoder, get_encoder,
                                           join_tokens)
from comparator.core.errors import InputError
from comparator.core.result import Comparison, Pair
from comparator.core.segment import Unit, aligned_lines, segment
from comparator.core.settings import WINDOW_MODES, Settings  # noqa: F401  (WINDOW_MODES: re-exported)

log = logging.getLogger("comparator.core.pipeline")

# progress(stage, done, total)
ProgressFn = Callable[[str, int, int], None]


def _noop(stage: str, done: int, total: int) -> None:
    pass


def compare_files(path_a: str, path_b: str, **kw) -> Comparison:
    da, db = read_path(path_a), read_path(path_b)
    return compare(da, db, **kw)


def compare(
    a: str | Document,
    b: str | Document,
    settings: Settings | None = None,
    *,
    encoder: Encoder | None = None,
    progress: ProgressFn | None = None,
    **overrides,
) -> Comparison:
    """Compare reference `a` with rendering `b`. Every sentence of both sides ends in exactly one pair.

    `settings`: a Settings (default: its defaults); keyword arguments named like its fields override it
    (`compare(a, b, mode="lines")`). `encoder`: a loaded encoder to use instead of `settings.model`.
    With `token_flag` (default), the flag gets the pairs' contextual token vectors, which tell a rewording
    from a loss (phrasing.py): the ONNX encoder keeps them from its pass over the sentences
    (UNIT_TOKEN_BYTES), and a merged pair reads its sentences' vectors, so each sentence goes through the
    model once; sentences beyond that budget or embedded by another encoder get a second pass. Without,
    the flag uses the sentence cosine instead."""
    settings = _settings(settings, overrides, encoder)
    mode = settings.mode
    progress = progress or _noop
    doc_a = a if isinstance(a, Document) else read_text(a, "A")
    doc_b = b if isinstance(b, Document) else read_text(b, "B")
    notes = [d.note for d in (doc_a, doc_b) if d.note]

    if mode == "aligned":
        units_a, units_b, beads = _aligned_units(doc_a.text, doc_b.text)
    else:
        units_a = segment(doc_a.text, mode, doc_a.furniture)
        units_b = segment(doc_b.text, mode, doc_b.furniture)
        beads = None
    progress("segment", 1, 1)

    model_name = settings.model
    need_vectors = any(not u.furniture for u in units_a) and any(not u.furniture for u in units_b)
    enc = encoder if encoder is not None else (get_encoder(model_name, settings.backend) if need_vectors else None)
    # the on-disk store serves this run only: a shared encoder goes back to how the caller had it
    own_store = settings.disk_cache and enc is not None and enc.store is None and enc.backend != "hash"
    if own_store:
        enc.use_disk_cache()
    try:
        result = _compare(doc_a, doc_b, units_a, units_b, beads, enc, settings, progress, notes)
        store = enc.store if enc is not None else None
        if store is not None and store.notes:  # a damaged vector cache moved aside: said once, in this result
            result.notes.extend(store.notes)
            store.notes.clear()
        return result
    finally:
        if own_store:
            enc.close_disk_cache()


def _settings(settings: Settings | None, overrides: dict, encoder: Encoder | None) -> Settings:
    settings = settings or Settings()
    if "model" in overrides and not overrides["model"]:
        del overrides["model"]  # no model given: the settings' own
    if encoder is not None and "model" not in overrides and settings.model == DEFAULT_MODEL:
        overrides["model"] = encoder.name  # a result names the model that made it
    return settings.replace(**overrides) if overrides else settings


def _compare(doc_a, doc_b, units_a, units_b, beads, enc, settings: Settings, progress, notes) -> Comparison:
    mode, ter, params, windows, token_flag = (settings.mode, settings.ter, settings.align, settings.windows,
                                              settings.token_flag)
    model_name = settings.model
    lang = langs.decide(" ".join(u.text for u in units_a if not u.furniture),
                        " ".join(u.text for u in units_b if not u.furniture), settings.languages)
    notes.extend(language_notes(lang, model_name, enc))
    if lang.cross:
        token_flag = False  # token vectors compare A's words with B's: not across languages

    # the model's pass over the sentences also keeps their token vectors for the flag, within a budget
    unit_tokens: dict | None = {} if token_flag and enc is not None else None
    with _one_blas_thread():
        if beads is None:
            beads = _align_units(units_a, units_b, enc, params, progress, windows, unit_tokens)
        pairs, corpus = _score(units_a, units_b, beads, enc, ter, progress, token_flag, unit_tokens, lang)

    scored = [p for p in pairs if p.a and p.b and not p.furniture]
    cos = [p.cosine for p in scored if p.cosine is not None]
    corpus["mean_cosine"] = round(float(np.mean(cos)), 4) if cos else None
    corpus["pairs_scored"] = len(scored)
    notes = notes + phrasing.evidence_notes([p.a_text for p in scored])
    recorded = {
        "mode": mode,
        "model": model_name,
        "backend": enc.backend if enc is not None else None,
        "ter": ter,
        "align": {k: getattr(params, k) for k in params.__dataclass_fields__},
        "windows": windows,
        "token_flag": bool(token_flag and hasattr(enc, "token_embeddings")),
        "mark_threshold": MARK_THRESHOLD,
        "mark_rule": span_model.load().rule.as_dict(),
        "languages": settings.languages,
        "version": __version__,
        "a_name": doc_a.name,
        "b_name": doc_b.name,
        "a_encoding": doc_a.encoding,
        "b_encoding": doc_b.encoding,
    }
    return Comparison(
        a_sentences=[u.text for u in units_a],
        b_sentences=[u.text for u in units_b],
        pairs=pairs,
        corpus=corpus,
        settings=recorded,
        a_paragraphs=[u.paragraph for u in units_a],
        b_paragraphs=[u.paragraph for u in units_b],
        a_furniture=[i for i, u in enumerate(units_a) if u.furniture],
        b_furniture=[i for i, u in enumerate(units_b) if u.furniture],
        notes=notes,
        languages=lang.to_dict(),
    )


CROSS_REASON = "A and B are in different languages"


def _language_name(code: str | None) -> str:
    return {None: "too little text to tell", "mixed": "mixed languages", "latin": "Latin script"}.get(code, code)


def language_notes(lang: langs.Languages, model: str, enc: Encoder | None) -> list[str]:
    """What a result says about its languages: the metrics and marks a cross-lingual pair goes without,
    and a model that cannot read the texts."""
    out = []
    how = "as given" if lang.given else "found from the text"
    if lang.cross:
        out.append(f"A is {_language_name(lang.a)} and B is {_language_name(lang.b)} ({how}): BLEU, chrF and TER "
                   "are not computed (they compare A's words and characters with B's, which means nothing across "
                   "languages), and word-level marks are off; cosine, sentences found in one rendering only and "
                   "changed numbers" + (" and names" if lang.same_script else "") + " still count, and the flag is "
                   "built from them")
    name = enc.name if enc is not None else model
    others = [x for x in (lang.a, lang.b) if not langs.english_or_unknown(x)] if not lang.given else \
        [x for x in (lang.a, lang.b) if x.split("-")[0] != "en"]
    if others and name in ENGLISH_ONLY_MODELS:
        out.append(f"warning: the model {name} reads English only, and A is {_language_name(lang.a)}, B "
                   f"{_language_name(lang.b)}: its vectors, so the alignment and the cosines, mean little here; "
                   "use the model 'multilingual' (--model multilingual)")
    elif lang.cross and name == HASH_MODEL:
        out.append("warning: the hash encoder compares characters, which two languages do not share: the "
                   "alignment and the cosines mean little here; use the model 'multilingual'")
    return out


def _norm(text: str) -> str:
    return normalise(text)


def _aligned_units(text_a: str, text_b: str):
    la, lb = aligned_lines(text_a), aligned_lines(text_b)
    if len(la) != len(lb):
        raise InputError(f"aligned mode needs equal line counts: A has {len(la)} lines, B has {len(lb)}")
    units_a: list[Unit] = []
    units_b: list[Unit] = []
    beads = []
    for line, (x, y) in enumerate(zip(la, lb)):
        ai = bi = ()
        if x:
            ai = (len(units_a),)
            units_a.append(Unit(x, line))
        if y:
            bi = (len(units_b),)
            units_b.append(Unit(y, line))
        if ai or bi:
            beads.append(align.Bead(ai, bi, None))
    return units_a, units_b, beads


LONG_WINDOW_CHARS = 1200  # about the 256 word pieces a MiniLM input holds


def _windows(encoder: Encoder, texts: list[str], paragraphs: list[int], progress, side: str,
             how: str = "mean") -> align.Windows:
    """Vectors of runs of 1..MAX_WINDOW sentences. `mean` takes the length-weighted mean of the
    sentence vectors (no extra model calls); `embed` runs the model on the joined text of each run,
    except runs too long for the model's input, which would be cut short and so keep the mean."""
    lengths = np.array([len(t) for t in texts], dtype=np.float64)
    joined = {k: align.window_texts(texts, k) for k in range(2, align.MAX_WINDOW + 1)}
    embed = {k: [n for n, t in enumerate(w) if len(t) <= LONG_WINDOW_CHARS] if how == "embed" else []
             for k, w in joined.items()}
    # one call, so that batches of similar length form across sentences and windows
    encoder.encode(list(texts) + [joined[k][n] for k in joined for n in embed[k]],
                   progress=lambda d, t: progress(f"embed {side}", d, t))
    one = encoder.encode(texts)
    vecs = {1: one}
    weighted = one * lengths[:, None]
    for k, wins in joined.items():
        if not wins:
            break
        mean = sum(weighted[i : len(texts) - k + 1 + i] for i in range(k))
        mean = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-9)
        if embed[k]:
            mean[embed[k]] = encoder.encode([wins[n] for n in embed[k]])
        vecs[k] = mean.astype(np.float32)

    def edges(idx):
        # the edge evidence's first and last words (align.split_edges), embedded when the aligner asks:
        # only around the beads that are not 1-1, so a close rendering costs few model calls
        cuts = [align.split_edges(texts[i]) for i in idx]
        have = [n for n, c in enumerate(cuts) if c is not None]
        head = np.zeros((len(cuts), encoder.dim), dtype=np.float32)
        tail = np.zeros_like(head)
        if have:  # a sentence too short to have edges keeps zero vectors: the aligner gives it no such evidence
            v = encoder.encode([cuts[n][0] for n in have] + [cuts[n][1] for n in have])
            head[have], tail[have] = v[: len(have)], v[len(have):]
        return head, tail

    return align.Windows(vecs, lengths, np.asarray(paragraphs), texts, edges)


def _align_units(units_a, units_b, enc, params, progress, windows, unit_tokens=None) -> list[align.Bead]:
    """The beads of the two texts, furniture put back. With an on-disk store (scripted runs, the
    dashboard) the beads are kept there too, under a digest of everything they depend on, so that a re-run
    of the same texts and settings does not align again (see `_alignment_key`)."""
    store = getattr(enc, "store", None)
    key = _alignment_key(enc, params, windows, units_a, units_b) if store is not None else None
    if key is not None:
        try:
            kept = store.get_pairs([key]).get(key)
        except Exception as exc:  # the store's own failures are the encoder's to report; align anew
            log.debug("stored alignment unreadable: %s", exc)
            kept = None
        beads = _decode_beads(kept, len(units_a), len(units_b)) if kept is not None else None
        if beads is not None:
            progress("align", 1, 1)
            return beads
    beads = _align_fresh(units_a, units_b, enc, params, progress, windows, unit_tokens)
    if key is not None:
        try:
            store.put_pairs({key: _encode_beads(beads)})
        except Exception as exc:  # a full or read-only disk: the next run aligns again
            log.debug("alignment not stored: %s", exc)
    return beads


_ALIGN_KEY = "alignment/1:"
_DIGESTS: dict[tuple[str, ...], str] = {}


def _files_digest(paths) -> str:
    """A digest of the files' bytes, once per process for each list of paths; an unreadable file gives
    a digest that matches nothing, so nothing stored is reused."""
    key = tuple(paths)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for path in key:
            try:
                with open(path, "rb") as fh:
                    h.update(fh.read())
            except OSError:
                h.update(f"unreadable:{path}:{time.time()}".encode())
        _DIGESTS[key] = h.hexdigest()[:32]
    return _DIGESTS[key]


def _source_digest() -> str:
    """A digest of the code that turns vectors into beads: a changed aligner never reads older beads."""
    return _files_digest((align.__file__, __file__))


def _alignment_key(enc, params, windows, units_a, units_b) -> str:
    h = hashlib.sha256()
    for part in (_source_digest(), getattr(enc, "cache_key", type(enc).__name__), repr(params), repr(windows)):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    for units in (units_a, units_b):
        h.update(str(len(units)).encode())
        for u in units:
            h.update(f"\x01{u.paragraph}\x02{int(bool(u.furniture))}\x03".encode())
            h.update(u.text.encode("utf-8", "surrogatepass"))
        h.update(b"\x04")
    return _ALIGN_KEY + h.hexdigest()


def _encode_beads(beads) -> tuple[float, ...]:
    """Beads as one row of numbers (the store keeps float tuples): per bead the counts on each side, whether
    it has a similarity and a confidence, the indices, then the two values (0 when absent)."""
    out: list[float] = [float(len(beads))]
    for bd in beads:
        sim, conf = bd.similarity, bd.confidence
        out += [len(bd.a), len(bd.b), sim is not None, conf is not None, *bd.a, *bd.b,
                0.0 if sim is None else float(sim), 0.0 if conf is None else float(conf)]
    return tuple(float(x) for x in out)


def _decode_beads(values, n_a: int, n_b: int) -> list[align.Bead] | None:
    """The beads `_encode_beads` wrote, or None when the numbers are not a whole alignment of these texts
    (every sentence of each side in exactly one bead, in order): then the texts are aligned anew."""
    try:
        vals = [float(v) for v in values]
        count, pos, beads = int(vals[0]), 1, []
        seen_a: list[int] = []
        seen_b: list[int] = []
        for _ in range(count):
            na, nb, has_sim, has_conf = (int(v) for v in vals[pos : pos + 4])
            pos += 4
            a = tuple(int(v) for v in vals[pos : pos + na])
            b = tuple(int(v) for v in vals[pos + na : pos + na + nb])
            sim, conf = vals[pos + na + nb], vals[pos + na + nb + 1]
            pos += na + nb + 2
            if len(a) != na or len(b) != nb or not (a or b):
                return None
            seen_a += a
            seen_b += b
            beads.append(align.Bead(a, b, sim if has_sim else None, conf if has_conf else None))
    except (ValueError, IndexError, TypeError, OverflowError):
        return None
    if pos != len(vals) or sorted(seen_a) != list(range(n_a)) or sorted(seen_b) != list(range(n_b)):
        return None
    return beads


def _align_fresh(units_a, units_b, enc, params, progress, windows, unit_tokens=None) -> list[align.Bead]:
    content_a = [i for i, u in enumerate(units_a) if not u.furniture]
    content_b = [i for i, u in enumerate(units_b) if not u.furniture]
    if content_a and content_b:
        with _collecting_tokens(enc, unit_tokens, units_a, units_b):
            wa = _windows(enc, [_norm(units_a[i].text) for i in content_a],
                          [units_a[i].paragraph for i in content_a], progress, "A", windows)
            wb = _windows(enc, [_norm(units_b[i].text) for i in content_b],
                          [units_b[i].paragraph for i in content_b], progress, "B", windows)
        inner = align.align(wa, wb, params, progress=lambda d, t: progress("align", d, t))
    else:
        inner = align.align(align.Windows({}, np.zeros(len(content_a)), np.zeros(len(content_a))),
                            align.Windows({}, np.zeros(len(content_b)), np.zeros(len(content_b))), params)
    progress("align", 1, 1)
    beads = [align.Bead(tuple(content_a[i] for i in bd.a), tuple(content_b[j] for j in bd.b), bd.similarity,
                        bd.confidence) for bd in inner]
    return _with_furniture(beads, units_a, units_b)


def _with_furniture(beads, units_a, units_b) -> list[align.Bead]:
    """Put furniture units back as one-sided beads, in document order on both sides."""
    fa = [i for i, u in enumerate(units_a) if u.furniture]
    fb = [j for j, u in enumerate(units_b) if u.furniture]
    out = []
    for bd in beads:
        while fa and bd.a and fa[0] < bd.a[0]:
            out.append(align.Bead((fa.pop(0),), (), None))
        while fb and bd.b and fb[0] < bd.b[0]:
            out.append(align.Bead((), (fb.pop(0),), None))
        out.append(bd)
    out.extend(align.Bead((i,), (), None) for i in fa)
    out.extend(align.Bead((), (j,), None) for j in fb)
    return out


TOKEN_CHUNK = 256  # pairs whose missing token vectors are computed and held at once; then dropped
# token vectors kept from the sentence pass (float16, about 25 KB a sentence): about 12,000 sentences' worth;
# sentences beyond it get theirs from a second pass, in chunks of pairs
UNIT_TOKEN_BYTES = 300_000_000
_TOKEN_KEY = "token_match/4:"  # bump when phrasing.token_evidence or its token vectors change: stored values are keyed by it


@contextmanager
def _collecting_tokens(enc, unit_tokens, units_a, units_b):
    """While the model embeds sentences, keep their token vectors in `unit_tokens` (within UNIT_TOKEN_BYTES
    in all), so that the flag needs no second pass."""
    if unit_tokens is None or enc is None:
        yield
        return
    # sentences whose matching form is their text as written (most): their token vectors index it
    same = {u.text for u in (*units_a, *units_b) if not u.furniture and _norm(u.text) == u.text}
    enc.collect_tokens(unit_tokens, same, UNIT_TOKEN_BYTES - sum(v.nbytes for v in unit_tokens.values()))
    try:
        yield
    finally:
        enc.collect_tokens(None)


def _token_scores(pairs: list[Pair], enc, progress, units_a=(), units_b=(), unit_tokens=None) -> dict[str, tuple]:
    """What the contextual token vectors of each two-sided pair say (phrasing.token_evidence), keyed by
    `_token_key`. A pair's token vectors are its sentences' own, as the sentence pass kept them, joined in
    order for a merged pair (join_tokens); sentences without (beyond the budget, or another encoder) get
    a second pass over their text as written, in chunks of pairs so that the vectors of a long text are
    never all held at once. The values are kept (memory, and disk for scripted runs) so that a re-run
    computes nothing."""
    if enc is None or not hasattr(enc, "token_embeddings"):
        return {}
    pair_of = {_token_key(p): p for p in pairs if p.a and p.b and not p.furniture}
    kept = unit_tokens or {}

    def side(idx, units, fresh):
        parts = [units[i].text for i in idx]
        return join_tokens([kept[t] if t in kept else fresh[t] for t in parts], parts)

    def evidence(k: str, fresh: dict) -> tuple | None:
        p = pair_of[k]
        tm = phrasing.token_evidence(p.a_text, p.b_text, (side(p.a, units_a, fresh), side(p.b, units_b, fresh)))
        return None if tm is None else tuple(float(x) for x in tm)

    def compute(todo: list[str]) -> dict[str, tuple]:
        out: dict[str, tuple] = {}
        rest = []
        ready = []  # pairs whose sentences' token vectors the sentence pass kept: matched on every core
        for k in todo:
            p = pair_of[k]
            if p.a_text == p.b_text:  # the sides read the same: every token finds itself
                out[k] = (0.0, 0.0, 0.0)
            elif all(units_a[i].text in kept for i in p.a) and all(units_b[j].text in kept for j in p.b):
                ready.append(k)
            else:
                rest.append(k)

        def match(keys, report=None):  # pure: it may run in a forked worker
            res = []
            for n, k in enumerate(keys):
                res.append(evidence(k, {}))
                if report is not None and n % 256 == 0:
                    report(n)
            return res

        for k, tm in zip(ready, parallel.map_chunks(match, ready, progress=lambda d, t: progress("tokens", d, t))):
            if tm is not None:
                out[k] = tm
        for start in range(0, len(rest), TOKEN_CHUNK):
            chunk = rest[start : start + TOKEN_CHUNK]
            texts = {units_a[i].text for k in chunk for i in pair_of[k].a}
            texts |= {units_b[j].text for k in chunk for j in pair_of[k].b}
            missing = sorted((t for t in texts if t not in kept), key=lambda t: (len(t), t))
            fresh = dict(zip(missing, enc.token_embeddings(missing))) if missing else {}

            for k in chunk:
                tm = evidence(k, fresh)
                if tm is not None:
                    out[k] = tm
            progress("tokens", min(start + TOKEN_CHUNK, len(rest)), len(rest))
        return out

    return enc.pair_values(list(pair_of), compute) if pair_of else {}


# a merged side with a sentence of at most this many word pieces is read as one text by the model: a short
# fragment ("at the time.", a sentence broken mid-way) means most through its neighbours, and its own vector
# says little of what the joined text says. bench/one_pass.py (mac-dev and four NT books, 5,274 pairs): the
# pair cosines' r with a joined-text pass over every merged side 0.987 -> 0.992 (merged pairs 0.960 ->
# 0.975), for about 3% more model tokens on the 11k book set
SHORT_PART_TOKENS = 8


def _merged_vectors(enc, merged: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Vectors of merged pairs' sides from their sentences' vectors: mean pooling over a concatenation is
    the token-count-weighted mean of its parts' (OnnxEncoder.pool_weights), so the model reads each
    sentence once; a side with a short sentence (SHORT_PART_TOKENS) is read joined. Encoders that cannot
    say so embed every joined text."""
    if not hasattr(enc, "pool_weights"):
        joined = list(merged)
        return dict(zip(joined, enc.encode(joined)))
    parts = sorted({t for ps in merged.values() for t in ps}, key=lambda t: (len(t), t))
    pieces = dict(zip(parts, enc.token_counts(parts)))
    whole = [j for j, ps in merged.items() if min(pieces[t] for t in ps) <= SHORT_PART_TOKENS]
    out = dict(zip(whole, enc.encode(whole))) if whole else {}
    parts = sorted({t for j, ps in merged.items() if j not in out for t in ps}, key=lambda t: (len(t), t))
    unit = dict(zip(parts, enc.encode(parts).astype(np.float64)))
    weight = dict(zip(parts, enc.pool_weights(parts)))
    for joined, ps in merged.items():
        if joined not in out:
            v = sum(weight[t] * unit[t] for t in ps)
            out[joined] = (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
    return out


def _token_key(p: Pair) -> str:
    return f"{_TOKEN_KEY}{len(p.a_text)}:{p.a_text}{p.b_text}"


def _score(units_a, units_b, beads, enc, ter, progress, token_flag=False, unit_tokens=None,
           lang: langs.Languages | None = None) -> list[Pair]:
    cross = bool(lang and lang.cross)
    pairs: list[Pair] = []
    texts = []
    merged: dict[str, list[str]] = {}  # a merged side's text -> its sentences' (normalised)
    context: dict[int, tuple] = {}  # id(pair) -> what its sides' neighbours say (_side_contexts), when anything
    strays: dict[tuple, frozenset] = {}
    for bd in beads:
        a_text = " ".join(units_a[i].text for i in bd.a)
        b_text = " ".join(units_b[j].text for j in bd.b)
        fur = bool(bd.a or bd.b) and all(units_a[i].furniture for i in bd.a) and all(
            units_b[j].furniture for j in bd.b)
        pairs.append(Pair(a=list(bd.a), b=list(bd.b), a_text=a_text, b_text=b_text, cosine=None, bleu=None,
                          chrf=None, flag=0.0, type="furniture" if fur else f"{len(bd.a)}-{len(bd.b)}",
                          furniture=fur, confidence=bd.confidence))
        if not fur:
            ctx = _side_contexts(bd, units_a, units_b, strays)
            if ctx != phrasing.NO_CONTEXT:
                context[id(pairs[-1])] = ctx
        if bd.a and bd.b and not fur and enc is not None:
            for idx, units, text in ((bd.a, units_a, a_text), (bd.b, units_b, b_text)):
                if len(idx) > 1:
                    merged[_norm(text)] = [_norm(units[i].text) for i in idx]
                else:
                    texts.append(_norm(text))
    vec = {}
    if texts:  # aligned mode's first pass over the sentences: it keeps their token vectors too
        with _collecting_tokens(enc, unit_tokens if token_flag else None, units_a, units_b):
            emb = enc.encode(texts)
        vec = dict(zip(texts, emb))
    if merged:
        vec.update(_merged_vectors(enc, merged))
    for p in pairs:
        if p.a and p.b and not p.furniture:
            na, nb = _norm(p.a_text), _norm(p.b_text)
            if na in vec and nb in vec:
                p.cosine = round(float(np.clip(vec[na] @ vec[nb], -1.0, 1.0)), 4)
    scored = [p for p in pairs if p.a and p.b and not p.furniture]
    live = [p for p in pairs if not p.furniture]
    # with an on-disk store, what a pair's scoring gave (scores, spans, flag) is kept under a digest of its
    # texts, the settings and the scoring code: a re-run scores only the pairs it has not seen
    store = getattr(enc, "store", None)
    # (not across languages: what is computed there depends on the languages too, not only on the texts)
    keys = _result_keys(enc, live, ter, token_flag, context) if store is not None and not cross else {}
    kept = _stored_results(store, keys)
    corpus_key = _corpus_key(keys, scored, ter) if keys else None
    corpus = _stored_corpus(store, corpus_key, ter) if corpus_key and all(id(p) in kept for p in scored) else None
    todo = [p for p in live if id(p) not in kept]
    tokens = _token_scores(todo, enc, progress, units_a, units_b, unit_tokens) if token_flag and todo else {}
    if unit_tokens:
        unit_tokens.clear()
    if cross:  # BLEU, chrF and TER compare words and characters of one language: null, with the reason
        _, corpus = metrics.scores([], [], ter)
        for name in metrics.wanted(ter):
            corpus[f"{name}_reason"] = CROSS_REASON
        sentence_of = {id(p): metrics.SentenceScores(None, None, None) for p in scored}
    elif corpus is None:  # (a stored corpus is only read when every pair was kept)
        # sentence and corpus BLEU/chrF from one pass of sacrebleu over the pairs
        sentence, corpus = metrics.scores([_norm(p.a_text) for p in scored], [_norm(p.b_text) for p in scored],
                                          ter)
        sentence_of = {id(p): s for p, s in zip(scored, sentence)}
    else:
        sentence_of = {}
    for p in todo:
        if p.a and p.b:
            s = sentence_of[id(p)]
            p.bleu, p.chrf, p.ter = s.bleu, s.chrf, s.ter
    same_script = lang.same_script if cross else None
    items = [(p.a_text, p.b_text, p.chrf, p.cosine, tokens.get(_token_key(p)), context.get(id(p), phrasing.NO_CONTEXT))
             for p in todo]
    # loaded here, once, before any worker starts (the span model's one-line error raised here too); the
    # word tables only when there is something to score (a re-run from the store needs none)
    span_model.load()
    if todo:
        fluency.tables()
    scored_spans = parallel.map_chunks(lambda chunk, report: _spans_and_flags(chunk, cross, same_script, report),
                                       items, progress=lambda d, t: progress("score", d, t))
    for p, (sa, sb, f, sev) in zip(todo, scored_spans):
        p.a_spans, p.b_spans, p.flag, p.severity = sa, sb, f, sev
    for p in live:
        if id(p) in kept:
            p.bleu, p.chrf, p.ter, p.flag, p.severity, p.a_spans, p.b_spans = kept[id(p)]
    for p in pairs:
        if p.furniture:
            p.flag = 0.0
    if keys:
        _store_results(store, {keys[id(p)]: p for p in todo if id(p) in keys},
                       {corpus_key: corpus} if corpus_key else {}, ter)
    if not todo:
        progress("score", 1, 1)
    return pairs, corpus


def _side_contexts(bd, units_a, units_b, strays: dict) -> tuple:
    """What a bead's sides' neighbours say (phrasing.SideContext for A and B), from the units' order and
    paragraphs: a sentence broken mid-way just before a side's first unit, by the unit before it in its
    paragraph (phrasing.unit_break: the sentence break of a text the segmenter cut there); and for a side
    without counterpart, which of its curly quotes and brackets do not pair up in its paragraph (a quotation
    of several sentences opens in one unit and closes in another). `strays` keeps each paragraph's."""
    one_sided = not (bd.a and bd.b)
    out = []
    for side, idx, units in (("a", bd.a, units_a), ("b", bd.b, units_b)):
        if not idx:
            out.append(phrasing.SideContext())
            continue
        first = idx[0]
        lead = None
        if first > 0 and units[first - 1].paragraph == units[first].paragraph:
            lead = phrasing.unit_break(units[first - 1].text, units[first].text)
        stray = None
        if one_sided and any(phrasing.QUOTE_CHARS.intersection(units[i].text) for i in idx):
            stray, pos = set(), 0
            for i in idx:  # the side's text is its units joined by a space
                got = strays.get((side, i))
                if got is None:
                    got = _paragraph_strays(side, i, units, strays)
                stray.update(pos + k for k in got)
                pos += len(units[i].text) + 1
            stray = frozenset(stray)
        out.append(phrasing.SideContext(lead, stray))
    return tuple(out)


def _paragraph_strays(side: str, i: int, units, strays: dict) -> frozenset:
    """The offsets, in unit i's text, of its curly quotes and brackets that do not pair up in its paragraph
    (phrasing.stray_marks of the paragraph's units joined; a quotation left open where the next paragraph
    opens one goes on there); every unit of the paragraph kept in `strays`."""
    lo, hi = i, i
    while lo > 0 and units[lo - 1].paragraph == units[i].paragraph:
        lo -= 1
    while hi + 1 < len(units) and units[hi + 1].paragraph == units[i].paragraph:
        hi += 1
    starts, pos = [], 0
    for k in range(lo, hi + 1):
        starts.append(pos)
        pos += len(units[k].text) + 1
    text = " ".join(units[k].text for k in range(lo, hi + 1))
    if hi + 1 < len(units) and units[hi + 1].text.lstrip().startswith("“"):
        # a quotation that goes on in the next paragraph opens it again and is not closed at the end of this
        # one (the English convention): read as closed there
        text += "”"
    bad = phrasing.stray_marks(text)
    for n, k in enumerate(range(lo, hi + 1)):
        strays[(side, k)] = frozenset(x - starts[n] for x in bad if starts[n] <= x < starts[n] + len(units[k].text))
    return strays[(side, i)]


def _spans_and_flags(items, cross: bool, same_script, report=None) -> list[tuple]:
    """For each (a_text, b_text, chrf, cosine, token evidence, context): the spans of both sides with their
    error probability, the flag and the severity (phrasing.spans, then phrasing.score_pairs: the span model
    run once over the chunk). `context`: phrasing.SideContext of A and B (_side_contexts). Pure: it may run
    in a forked worker (parallel.map_chunks)."""
    spans = []
    for n, (a_text, b_text, _chrf, _cos, _ts, ctx) in enumerate(items):
        more = (ctx,) if ctx != phrasing.NO_CONTEXT else ()  # (most pairs: their texts say all)
        spans.append(phrasing.cross_spans(a_text, b_text, same_script, *more) if cross
                     else phrasing.spans(a_text, b_text, *more))
        if report is not None and n % 200 == 0:
            report(n // 2)  # the spans are about half of a chunk's time
    out = phrasing.score_pairs([(a, b, sa, sb, chrf, cos, ts)
                                for (a, b, chrf, cos, ts, _ctx), (sa, sb) in zip(items, spans)])
    if report is not None:
        report(len(items))
    return out


_RESULT_KEY = "pair_result/1:"
_CORPUS_KEY = "corpus_result/1:"
def _scoring_digest() -> str:
    """A digest of the code and data that turn a pair's texts and vectors into its scores, spans and flag
    (the span model file in use included: `use_model_file` or its environment variable may change it):
    stored results of other code are never read."""
    import sacrebleu

    code = (__file__, metrics.__file__, phrasing.__file__, fluency.__file__, span_model.__file__,
            mark_rule.__file__)
    return f"{_files_digest(code)}{_files_digest((span_model.model_path(),))}:{sacrebleu.__version__}"


def _result_keys(enc, live, ter, token_flag, context=None) -> dict[int, str]:
    """The store's key of each pair's result: its texts and, when its neighbours say something of it
    (`_side_contexts`), that too."""
    head = f"{_RESULT_KEY}{_scoring_digest()}:{getattr(enc, 'cache_key', '')}:{int(bool(ter))}{int(bool(token_flag))}:"
    context = context or {}

    def tail(p):
        ctx = context.get(id(p))
        return "" if ctx is None else "\0" + repr([(c.lead, sorted(c.stray) if c.stray is not None else None)
                                                  for c in ctx])
    return {id(p): f"{head}{len(p.a_text)}:{p.a_text}\0{p.b_text}{tail(p)}" for p in live}


def _corpus_key(keys, scored, ter) -> str:
    h = hashlib.sha256()
    for p in scored:
        h.update(keys[id(p)].encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return f"{_CORPUS_KEY}{_scoring_digest()}:{int(bool(ter))}:{h.hexdigest()}"


def _stored_results(store, keys: dict[int, str]) -> dict[int, tuple]:
    if not keys:
        return {}
    try:
        found = store.get_pairs(list(keys.values()))
    except Exception as exc:  # the store's failures are the encoder's to report; score anew
        log.debug("stored results unreadable: %s", exc)
        return {}
    out = {}
    for pid, key in keys.items():
        if key in found:
            decoded = _decode_result(found[key])
            if decoded is not None:
                out[pid] = decoded
    return out


def _opt(x) -> tuple[float, float]:
    return (0.0, 0.0) if x is None else (1.0, float(x))


def _encode_result(p) -> tuple[float, ...] | None:
    """A pair's scores, flag and spans as one row of numbers (the store keeps float tuples); None when a
    value does not fit (a span kind this code does not know), and then the pair is not kept."""
    out = [*_opt(p.bleu), *_opt(p.chrf), *_opt(p.ter), float(p.flag), *_opt(p.severity),
           float(len(p.a_spans)), float(len(p.b_spans))]
    for sp in (*p.a_spans, *p.b_spans):
        if len(sp) != 4 or sp[2] not in phrasing.SPAN_KINDS:
            return None
        out += [float(sp[0]), float(sp[1]), float(phrasing.SPAN_KINDS.index(sp[2])), *_opt(sp[3])]
    vals = tuple(out)
    return vals if all(np.isfinite(vals)) else None


def _decode_result(vals) -> tuple | None:
    try:
        v = [float(x) for x in vals]

        def opt(i):
            return v[i + 1] if v[i] == 1.0 else None

        bleu, chrf, ter_, flag, severity = opt(0), opt(2), opt(4), v[6], opt(7)
        na, nb = int(v[9]), int(v[10])
        if len(v) != 11 + 5 * (na + nb) or na < 0 or nb < 0:
            return None
        spans = []
        for i in range(na + nb):
            start, end, kind, has_p, p = v[11 + 5 * i : 16 + 5 * i]
            spans.append([int(start), int(end), phrasing.SPAN_KINDS[int(kind)], p if has_p == 1.0 else None])
    except (ValueError, IndexError, TypeError, OverflowError):
        return None
    return bleu, chrf, ter_, flag, severity, spans[:na], spans[na:]


def _stored_corpus(store, key, ter) -> dict | None:
    try:
        found = store.get_pairs([key]).get(key)
    except Exception as exc:
        log.debug("stored corpus scores unreadable: %s", exc)
        return None
    names = metrics.wanted(ter)
    if found is None or len(found) != 2 * len(names):
        return None
    corpus = metrics.corpus_scores([], [], ter)  # the signatures
    for n, name in enumerate(names):
        corpus[name] = float(found[2 * n + 1]) if found[2 * n] == 1.0 else None
    return corpus


def _store_results(store, fresh: dict[str, object], corpus: dict[str, dict], ter) -> None:
    values = {}
    for key, p in fresh.items():
        row = _encode_result(p)
        if row is not None:
            values[key] = row
    for key, c in corpus.items():
        values[key] = tuple(x for name in metrics.wanted(ter) for x in _opt(c.get(name)))
    if not values:
        return
    try:
        store.put_pairs(values)
    except Exception as exc:  # a full or read-only disk: the next run scores again
        log.debug("results not stored: %s", exc)


@contextmanager
def _one_blas_thread():
    """numpy's BLAS on one thread while sentences are aligned and pairs scored: their products are small (a
    band of windows, tens of token vectors), and waking BLAS threads for each costs more than the product
    (about 2 ms against 0.1 ms a pair). The model runs on ONNX Runtime's own threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
