"""Sentence alignment: monotonic dynamic programming over embedding similarity, in two passes.

Pure functions over numpy arrays; no model here. Pass one finds a 1-1/skip path (coarse to fine:
for long texts the embeddings are averaged in blocks and the path found on the coarse grid is
refined in a band). Pass two searches a band around that path for every move up to 3-3, 2-4, 4-2,
1-6 and 6-1, scoring a move by the cosine of the merged windows times a length prior; the cosine is
taken after part of the two texts' mean vector is removed from both windows (`AlignParams.center`),
so that what every sentence of the texts shares (their topic, their style) does not make a short or
generic sentence match its neighbours' translations almost as well as its own. When the caller gives
the sentences' texts (`Windows.texts`), pass two adds lexical evidence to that cosine: the cosine of
the windows' hashed, idf-weighted character n-gram counts, above what a near decoy gets, times a
weight the two texts themselves support (`lexical_weight`; 0 when they share no script), the sum
scaled back to the embeddings' range (`_lexical_evidence`). Each cut between beads adds dialogue evidence
(`_boundary_evidence`: whether each side's cut is a turn of dialogue, as a log likelihood ratio the two
texts support). The length prior's ratio of the two texts' lengths is read off the sentences that are
paired, and pass two re-run until it settles, so that added paragraphs do not make every pair look
short (`paired_length_ratio`). A last step gives a
sentence the DP left unaligned to the pair beside it when it completes that pair (`_absorb`).
Windows of up to MAX_WINDOW sentences come embedded by the caller; longer ones are the length-weighted
mean of their sentences' vectors, computed on the fly from prefix sums. Time and memory grow with
n * band width, not n * m.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# (sentences of A, sentences of B) consumed by one move
MOVES_1TO1 = ((1, 1), (1, 0), (0, 1))
MOVES = ((1, 1), (1, 0), (0, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (2, 3), (3, 2), (3, 3),
         (1, 4), (4, 1), (2, 4), (4, 2), (1, 5), (5, 1), (1, 6), (6, 1))
MAX_WINDOW = 3  # windows up to this size are embedded as joined text by the caller
MAX_MOVE = max(max(m) for m in MOVES)  # the most sentences of one side a move takes

FULL_CELLS = 750_000  # above this, pass one runs coarse-to-fine (the full grid costs 8 bytes a cell)
BAND_PASS1 = 16
BAND_PASS2 = 8


@dataclass(frozen=True)
class AlignParams:
    skip: float = -0.1  # score of a sentence left unaligned
    paragraph_penalty: float = 0.15  # for each paragraph boundary inside a merged window
    merge_penalty: float = 0.0
    # a pair below this is split into an omission and an addition, unless it lies between two pairs at least
    # this similar and the texts' own pairs get as loose (`_enclosed`, `_loosest_pair`)
    min_similarity: float = 0.2
    # share of the two texts' mean sentence vector taken out of every window vector before pass two
    # compares them (0 = plain cosine; below 1, so a vector never cancels out)
    center: float = 0.5
    absorb: float = 0.0  # a sentence left unaligned joins the pair beside it when that raises its cosine by more
    # how far the length prior is normalised by the two texts' overall length ratio (1 = fully: a sentence
    # of A is compared with a B sentence as long as A's length times total B / total A; 0 = raw lengths).
    # Across scripts the raw ratio is far from 1 (a Chinese sentence has about a third of its English
    # translation's characters), and the prior would otherwise favour the wrong merges.
    length_norm: float = 1.0
    # weight of the lexical evidence (cosine of the windows' hashed character n-gram counts, idf-weighted)
    # beside the embeddings' cosine in pass two, as a multiple of the weight the two texts themselves
    # support (see `lexical_weight`: 0 when the n-grams do not tell a sentence's pair from its
    # neighbours, e.g. two sides in different scripts); 0 turns the evidence off
    lexical: float = 1.0
    # weight of the dialogue evidence: a cut between two beads where one side's sentences change speaker
    # or leave a quotation (a closing quote, an opening quote, a speech-introducing colon) and the other's
    # do not, as a multiple of the weight the two texts support (see `_boundary_evidence`); 0 turns it off
    speech: float = 1.0
    # weight of the edge evidence: at a cut between two beads, whether the sentences next to it belong where it
    # puts them (the first and last words of the coarser side's sentences against the other side's sentences,
    # `_edge_evidence`), as a multiple of the weight the two texts support; 0 turns it off. It needs the
    # edges' vectors from the caller (`Windows.edges`)
    edge: float = 1.0


@dataclass(frozen=True)
class Bead:
    a: tuple[int, ...]
    b: tuple[int, ...]
    similarity: float | None
    confidence: float | None = None


class Windows:
    """Vectors of runs of consecutive sentences of one side, with lengths and paragraph boundaries."""

    def __init__(self, vecs: dict[int, np.ndarray], lengths: np.ndarray, paragraphs: np.ndarray,
                 texts: list[str] | None = None, edges=None):
        self.vecs = vecs  # k -> (n - k + 1, d) normalised, for the sizes the caller embedded
        self.texts = texts  # the sentences, for lexical evidence (None: embeddings only)
        # edges(indices) -> (vectors of how those sentences begin, of how they end), normalised, zero for a
        # sentence too short to have edges (`split_edges`), for the edge evidence; None: no such evidence
        self.edges = edges
        self.n = len(lengths)
        self.cum = np.concatenate([[0], np.cumsum(lengths, dtype=np.float64)])
        para = np.asarray(paragraphs)
        self.para_cum = np.concatenate([[0], np.cumsum(np.r_[False, para[1:] != para[:-1]])]) if self.n else np.zeros(1)
        one = vecs.get(1)
        self._prefix = None
        if one is not None and len(one):
            weighted = one.astype(np.float64) * np.asarray(lengths, dtype=np.float64)[:, None]
            self._prefix = np.vstack([np.zeros((1, one.shape[1])), np.cumsum(weighted, axis=0)])

    def count(self, k: int) -> int:
        return max(0, self.n - k + 1)

    def window(self, k: int, starts) -> np.ndarray:
        """Vectors of the k-sentence windows starting at `starts` (an int or an array of ints)."""
        if k in self.vecs:
            return self.vecs[k][starts]
        w = self._prefix[np.asarray(starts) + k] - self._prefix[starts]
        norm = np.linalg.norm(w, axis=-1, keepdims=True)
        return (w / np.maximum(norm, 1e-12)).astype(np.float32)

    def length(self, start, k):
        return self.cum[start + k] - self.cum[start]

    def crosses(self, start, k):
        """How many paragraph boundaries lie strictly inside the window [start, start + k)."""
        if k <= 1 or not self.n:
            return np.zeros(np.shape(start), dtype=np.int64)
        return self.para_cum[start + k] - self.para_cum[start + 1]


def window_texts(sentences: list[str], k: int) -> list[str]:
    return [" ".join(sentences[i : i + k]) for i in range(len(sentences) - k + 1)]


_CLAUSE = re.compile(r"[,;:\u2014\u2013\uff0c\u3001\uff1b\uff1a]+\s*")  # , ; : — – ， 、 ； ：
_SPACE = re.compile(r"\s+")


EDGE_WORDS = 4  # words of a sentence's edge (`split_edges`)
EDGE_MIN_LETTERS = 8  # a sentence in a script without spaces is cut in two from this many letters up


def split_edges(text: str, words: int = EDGE_WORDS) -> tuple[str, str] | None:
    """How a sentence begins and how it ends, what the edge evidence compares: its first and last `words`
    words; a sentence of `words` + 1 to twice as many words is cut in two near its middle (`split_half`),
    and so is one in a script without spaces with at least EDGE_MIN_LETTERS letters. None for a sentence
    too short to have edges ("Look!", "he asked."): it is all edge, and its whole vector says as much."""
    w = text.split()
    if len(w) > 2 * words:
        return " ".join(w[:words]), " ".join(w[-words:])
    if len(w) > words or (len(w) == 1 and sum(c.isalpha() for c in w[0]) >= EDGE_MIN_LETTERS):
        return split_half(text)
    return None


def split_half(text: str) -> tuple[str, str]:
    """A sentence cut in two near its middle, for the edge evidence: at the clause mark (a comma, a
    semicolon, a colon, a dash, in any script) closest to the middle, else at the space closest to it,
    else (a script without spaces) at the middle character; a cut only in the middle half of the text.
    A text too short to cut is both its halves."""
    t = text.strip()
    if len(t) < 4:
        return t, t
    lo, hi = len(t) / 4, 3 * len(t) / 4
    for pattern in (_CLAUSE, _SPACE):
        cuts = [m.end() for m in pattern.finditer(t) if lo < m.end() < hi]
        if cuts:
            c = min(cuts, key=lambda c: abs(c - len(t) / 2))
            break
    else:
        c = len(t) // 2 if not _SPACE.search(t) else 0
    head, tail = t[:c].strip(), t[c:].strip()
    return (head, tail) if head and tail else (t, t)


LEX_DIM = 512  # hashed buckets of the lexical vectors (4 bytes each a sentence)
LEX_N = 3  # characters per n-gram
_WORD = re.compile(r"\w+")


def _hash_ngrams(texts: list[str], n: int = LEX_N, dim: int = LEX_DIM) -> np.ndarray:
    """(len(texts), dim) counts of each text's character n-grams (case-folded, NFKC, words joined by one
    space and padded with one), hashed into `dim` buckets with a random sign per n-gram so that
    collisions cancel on average. One vectorised pass over all the texts' characters."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    norm = [" " + " ".join(_WORD.findall(unicodedata.normalize("NFKC", t).casefold())) + " " for t in texts]
    codes = np.frombuffer("\0".join(norm).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < n:
        return out
    sid = np.repeat(np.arange(len(texts)), [len(t) + 1 for t in norm])[: len(codes)]
    valid = np.ones(len(codes) - n + 1, dtype=bool)
    h = np.zeros(len(codes) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            c = codes[k : len(codes) - n + 1 + k]
            valid &= c != 0  # no n-gram across two texts
            h = (h ^ c) * np.uint64(0x100000001B3)  # FNV-1a over code points
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
    h, first = h[valid], sid[: len(valid)][valid]
    sign = np.where((h >> np.uint64(40)) & np.uint64(1), 1.0, -1.0)
    bucket = (h % np.uint64(dim)).astype(np.int64)
    step = 1024  # sentences a block: bincount's float64 counts stay small
    for lo in range(0, len(texts), step):
        hi = min(lo + step, len(texts))
        s0, s1 = np.searchsorted(first, [lo, hi])
        counts = np.bincount((first[s0:s1] - lo) * dim + bucket[s0:s1], weights=sign[s0:s1],
                             minlength=(hi - lo) * dim)
        out[lo:hi] = counts.reshape(hi - lo, dim)
    return out


class Lexical:
    """Hashed, idf-weighted character n-gram vectors of both sides' sentences; a window's vector is the
    sum of its sentences' (no window vectors stored: products and norms come from the sentences')"""

    def __init__(self, texts_a: list[str], texts_b: list[str]):
        xa, xb = _hash_ngrams(texts_a), _hash_ngrams(texts_b)
        # idf over the sentences of both texts: n-grams every sentence has ("the", "ed ") weigh nothing
        df = (xa != 0).sum(axis=0) + (xb != 0).sum(axis=0)
        idf = np.log((len(xa) + len(xb) + 1) / (df + 1)).astype(np.float32)
        xa *= idf
        xb *= idf
        self.a, self.b = xa, xb

        # norms of every window of up to MAX_MOVE sentences, each side: n floats a size
        self.norm_a, self.norm_b = self._norms(self.a), self._norms(self.b)

    @staticmethod
    def _norms(x: np.ndarray) -> dict[int, np.ndarray]:
        out = {}
        w = x
        for k in range(1, MAX_MOVE + 1):
            if not len(w):
                break
            out[k] = np.sqrt(np.einsum("ij,ij->i", w, w))
            w = w[:-1] + x[k:]
        return out

    def cosine(self, sa: int, da: int, sb: np.ndarray, db: int) -> np.ndarray:
        """Lexical cosine of A's window (sa, da) with B's windows (sb[k], db), sb ascending. A window's
        vector is the sum of its sentences', so its product with A's window is the sum of its
        sentences' products: one product per B sentence of the stretch, not per window and sentence."""
        va = self.a[sa : sa + da].sum(axis=0)
        lo, hi = int(sb[0]), int(sb[-1]) + db
        y = np.concatenate([[0.0], np.cumsum(self.b[lo:hi] @ va, dtype=np.float64)])
        dots = y[sb - lo + db] - y[sb - lo]
        na = self.norm_a[da][sa] if da in self.norm_a else np.sqrt(va @ va)
        if db in self.norm_b:
            nb = self.norm_b[db][sb]
        else:  # a pair the absorb step grew beyond the largest move
            nb = np.array([np.linalg.norm(self.b[j : j + db].sum(axis=0)) for j in sb])
        return dots / np.maximum(na * nb, 1e-9)

    def cosines(self, sa: np.ndarray, da: int, sb: np.ndarray, db: int) -> np.ndarray:
        """Lexical cosine of A's windows (sa[c], da) with B's windows (sb[c], db) for arrays of cells (a
        block of pass two's band): each distinct A window's vector times the stretch of B sentences the
        cells span, summed over each B window from prefix sums, as `cosine` does for one A window."""
        if not len(sa):
            return np.zeros(0, dtype=np.float64)
        ua, inv = np.unique(sa, return_inverse=True)
        va = self.a[ua]
        for t in range(1, da):
            va = va + self.a[ua + t]
        lo, hi = int(sb.min()), int(sb.max()) + db
        if _stretch_pays(len(ua), hi - lo, len(sa)):
            y = np.zeros((len(ua), hi - lo + 1), dtype=np.float64)
            np.cumsum(va @ self.b[lo:hi].T, axis=1, dtype=np.float64, out=y[:, 1:])
            dots = y[inv, sb - lo + db] - y[inv, sb - lo]
        else:  # a stretch far wider than the cells: each cell's B window gathered
            vb = self.b[sb]
            for t in range(1, db):
                vb = vb + self.b[sb + t]
            dots = np.einsum("ij,ij->i", va[inv], vb).astype(np.float64)
        na = self.norm_a[da][sa] if da in self.norm_a else np.sqrt(np.einsum("ij,ij->i", va, va))[inv]
        if db in self.norm_b:
            nb = self.norm_b[db][sb]
        else:
            nb = np.array([np.linalg.norm(self.b[j : j + db].sum(axis=0)) for j in sb])
        return dots / np.maximum(na * nb, 1e-9)

    def pairs(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Lexical cosine of single sentences a[i[k]], b[j[k]] (in blocks: no large gathered copy)."""
        out = np.zeros(len(i), dtype=np.float64)
        for lo in range(0, len(i), 1024):
            va, vb = self.a[i[lo : lo + 1024]], self.b[j[lo : lo + 1024]]
            num = np.einsum("ij,ij->i", va, vb)
            den = np.sqrt(np.einsum("ij,ij->i", va, va) * np.einsum("ij,ij->i", vb, vb))
            out[lo : lo + 1024] = num / np.maximum(den, 1e-9)
        return out


def lexical_weight(emb_true, emb_false, lex_true, lex_false) -> tuple[float, float]:
    """How much the lexical cosine counts beside the embedding cosine, from the two texts themselves:
    given similarities of likely pairs (pass one's 1-1 path) and of near decoys (the same sentences
    against B sentences a little further along), Fisher's linear discriminant of the two features
    (pooled covariance inverse times the difference of the means: two features that say the same thing
    share the weight) gives the direction that best tells pairs from decoys; the lexical weight is its
    lexical component over its embedding component, so it is in cosine units. It is 0 when the lexical
    cosine does not separate pairs from decoys beyond chance (t below 3, e.g. two texts in different
    scripts share no n-grams), full from t 6, and at most 2. Returns (weight, the decoys' mean lexical
    cosine: what an unrelated pair gets, subtracted so that only lexical evidence above that moves a
    score)."""
    et, ef, lt, lf = (np.asarray(x, dtype=np.float64) for x in (emb_true, emb_false, lex_true, lex_false))
    if min(len(et), len(ef)) < 8:
        return 0.0, 0.0
    base = float(lf.mean())
    delta = np.array([et.mean() - ef.mean(), lt.mean() - lf.mean()])
    cov = (np.cov(et, lt, bias=True) * len(et) + np.cov(ef, lf, bias=True) * len(ef)) / (len(et) + len(ef))
    if delta[0] <= 0 or delta[1] <= 0 or cov[1, 1] <= 0 or np.linalg.det(cov) <= 1e-18:
        return 0.0, base
    t = delta[1] / np.sqrt(cov[1, 1] * (1 / len(lt) + 1 / len(lf)))
    gate = float(np.clip((t - 3) / 3, 0.0, 1.0))
    direction = np.linalg.solve(cov, delta)
    if direction[0] <= 0 or direction[1] <= 0:
        return 0.0, base
    return float(min(direction[1] / direction[0] * gate, 2.0)), base


def _centred_cosine(sim, pa, pb, mm):
    """Cosine of (x - mean, y - mean) for unit vectors x, y, from sim = x.y, pa = x.mean, pb = y.mean
    and mm = mean.mean (|x - mean|^2 = 1 - 2 x.mean + mean.mean, never 0 while |mean| < 1)."""
    return (sim - pa - pb + mm) / np.sqrt(np.maximum((1 - 2 * pa + mm) * (1 - 2 * pb + mm), 1e-12))


def length_ratio(a_len: np.ndarray, b_len: np.ndarray, strength: float = 1.0) -> float:
    """Total length of B over total length of A, raised to `strength`, clipped to [1/10, 10]: what one
    character of A is worth in B's characters. Totals, not a per-sentence statistic, so that sentences
    found in one rendering only move it by their share of the text."""
    ta, tb = float(np.sum(a_len)), float(np.sum(b_len))
    if strength <= 0 or ta <= 0 or tb <= 0:
        return 1.0
    return float(np.clip(tb / ta, 0.1, 10.0)) ** float(strength)


def paired_length_ratio(path, a_len: np.ndarray, b_len: np.ndarray, strength: float, fallback: float) -> float:
    """length_ratio over the sentences a path pairs (its two-sided moves) only: sentences found in one
    rendering (added paragraphs, a comment section) would otherwise make every sentence of the other
    text look short beside its pair, and the length prior would then favour pairs that swallow them.
    `fallback` when the path pairs fewer than 8 sentences of A."""
    pa = [k for i0, i1, j0, j1 in path if i1 > i0 and j1 > j0 for k in range(i0, i1)]
    pb = [k for i0, i1, j0, j1 in path if i1 > i0 and j1 > j0 for k in range(j0, j1)]
    if len(pa) < 8:
        return fallback
    return length_ratio(a_len[pa], b_len[pb], strength)


RATIO_ROUNDS = 3  # at most this many more runs of pass two while the paired length ratio moves
RATIO_TOLERANCE = 0.005  # ... by more than this (natural log)


def _length_prior(la, lb, ratio: float = 1.0):
    """How alike the lengths of two windows are, in (0, 1]: log2(1 + shorter / longer), A's length first
    put in B's units (`ratio`, see length_ratio)."""
    la = la * ratio
    lo = np.minimum(la, lb)
    hi = np.maximum(np.maximum(la, lb), 1)
    return np.log2(1.0 + lo / hi)


def _stretch_pays(rows: int, stretch: int, cells: int) -> bool:
    """Whether one product of `rows` distinct A vectors with a stretch of `stretch` B vectors costs little
    beside gathering two vectors for each of `cells` cells (at most 16 products a cell, or a small block)."""
    return rows * stretch <= 16 * cells + 65536


def _cell_dots(fa, ia: np.ndarray, fb, jb: np.ndarray) -> np.ndarray:
    """fa(ia)[c] . fb(jb)[c] for every cell c (fa, fb: the vectors of rows / windows given their
    indices). Cells of a band come in runs of nearby indices, so one matrix product of the distinct A
    vectors with the stretch of B vectors the cells span costs less than gathering two vectors per cell;
    when the stretch is far wider than the band (a row whose band spans a long skip), the vectors are
    gathered per cell instead."""
    if not len(ia):
        return np.zeros(0, dtype=np.float32)
    ua, inv = np.unique(ia, return_inverse=True)
    j0, j1 = int(jb.min()), int(jb.max()) + 1
    if _stretch_pays(len(ua), j1 - j0, len(ia)):
        return (fa(ua) @ fb(np.arange(j0, j1)).T)[inv, jb - j0]
    return np.einsum("ij,ij->i", fa(ia), fb(jb))


def _window_proj(win: Windows, k: int, starts: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The product with `mean` of the k-sentence windows at `starts` (each distinct window once)."""
    u, inv = np.unique(starts, return_inverse=True)
    return (win.window(k, u) @ mean)[inv]


DP_BLOCK = 64  # rows whose cells are scored at once


def _dp(n: int, m: int, lo: np.ndarray, hi: np.ndarray, moves, score_fn, skip: float, progress=None):
    """Best monotone path from (0,0) to (n,m) inside rows' j-ranges [lo[i], hi[i]].

    score_fn(i, jj, da, db) gives the scores of a move (da, db) for arrays of cells: the move ends at row
    i and its B window starts at jj. It is asked once per move for a block of DP_BLOCK rows (not per row),
    and each row then takes the best of every move at once. Moves are tried in order, the first of equal
    scores kept; (0, 1) moves are solved along the row."""
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    width = hi - lo + 1
    off = np.concatenate([[0], np.cumsum(width)])
    total = int(off[-1])
    # every cell's best score and move, row after row; the last slot stays -inf: it stands for a previous
    # cell outside the band
    best_all = np.full(total + 1, -np.inf)
    back_all = np.full(total, -1, dtype=np.int16)
    steps = [(code, da, db) for code, (da, db) in enumerate(moves) if da > 0]
    codes = np.array([c for c, _, _ in steps], dtype=np.int16)
    has_ins = (0, 1) in moves
    ins_code = len(moves)  # back-pointer code of the (0, 1) move
    for b0 in range(0, n + 1, DP_BLOCK):
        if progress is not None and b0 % 256 == 0:
            progress(b0, n)
        b1 = min(b0 + DP_BLOCK, n + 1)
        c0, c1 = int(off[b0]), int(off[b1])
        rows = np.repeat(np.arange(b0, b1), width[b0:b1])
        js = np.arange(c0, c1) - off[rows] + lo[rows]
        prev = np.full((len(steps), c1 - c0), total, dtype=np.int64)
        sc = np.full((len(steps), c1 - c0), -np.inf)
        for s, (_, da, db) in enumerate(steps):
            r = rows - da
            jj = js - db
            rr = np.maximum(r, 0)
            ok = (r >= 0) & (jj >= lo[rr]) & (jj <= hi[rr])
            if not ok.any():
                continue
            prev[s, ok] = off[rr[ok]] + jj[ok] - lo[rr[ok]]
            sc[s, ok] = skip if db == 0 else score_fn(rows[ok], jj[ok], da, db)
        for i in range(b0, b1):
            a, b = int(off[i]) - c0, int(off[i + 1]) - c0
            w = b - a
            if len(steps):
                cand = best_all[prev[:, a:b]] + sc[:, a:b]
                k = cand.argmax(axis=0)
                best = cand[k, np.arange(w)]
                back = np.where(best > -np.inf, codes[k], -1).astype(np.int16)
            else:
                best, back = np.full(w, -np.inf), np.full(w, -1, dtype=np.int16)
            if i == 0:
                best[js[a:b] == 0] = 0.0
            if has_ins and w > 1:
                # best[j] = max(best[j], best[j-1] + skip), solved for the whole row at once
                kk = np.arange(w)
                shifted = best - kk * skip
                run = np.maximum.accumulate(shifted)
                src = np.where(shifted >= run, kk, 0)
                src = np.maximum.accumulate(src)
                via = run + kk * skip
                take = (src < kk) & (via > best)
                best = np.where(take, via, best)
                back = np.where(take, ins_code, back)
            best_all[c0 + a : c0 + b] = best
            back_all[c0 + a : c0 + b] = back
    # backtrack
    path = []
    i, j = n, m
    while i > 0 or j > 0:
        code = int(back_all[off[i] + j - lo[i]])
        if code == ins_code:
            da, db = 0, 1
        elif code < 0:
            raise RuntimeError("alignment band lost the path")  # cannot happen: bands contain a path
        else:
            da, db = moves[code]
        path.append((i - da, i, j - db, j))
        i, j = i - da, j - db
    path.reverse()
    return path


def _band_from_cells(cells_i: np.ndarray, cells_j: np.ndarray, n: int, m: int, width: int):
    lo = np.full(n + 1, m, dtype=np.int64)
    hi = np.zeros(n + 1, dtype=np.int64)
    np.minimum.at(lo, cells_i, cells_j)
    np.maximum.at(hi, cells_i, cells_j)
    lo = np.maximum(lo - width, 0)
    hi = np.minimum(hi + width, m)
    # rows the path did not touch inherit from neighbours; then make the band monotone
    lo = np.minimum.accumulate(lo[::-1])[::-1]
    hi = np.maximum.accumulate(hi)
    lo[0] = 0
    hi[n] = m
    return lo, hi


def _path_cells(path) -> tuple[np.ndarray, np.ndarray]:
    ci, cj = [0], [0]
    for i0, i1, j0, j1 in path:
        ci.append(i1)
        cj.append(j1)
        if i1 - i0 > 1 or j1 - j0 > 1:
            ci.append(i0 + (i1 - i0) // 2)
            cj.append(j0 + (j1 - j0) // 2)
    return np.asarray(ci), np.asarray(cj)


def _coarsen(x: np.ndarray) -> np.ndarray:
    if len(x) % 2:
        x = np.vstack([x, x[-1:]])
    y = x[0::2] + x[1::2]
    return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-9)


def first_pass(a: np.ndarray, b: np.ndarray, a_len: np.ndarray, b_len: np.ndarray, skip: float, progress=None,
               ratio: float = 1.0):
    """A 1-1/skip path over sentence embeddings; coarse-to-fine when the grid is large. `ratio`: see
    length_ratio."""
    n, m = len(a), len(b)

    def score(i, sb, da, db):  # arrays of cells: the row (A sentence i - 1) and the B sentence
        sim = _cell_dots(a.__getitem__, i - 1, b.__getitem__, sb)
        return sim * _length_prior(a_len[i - 1], b_len[sb], ratio)

    if n * m <= FULL_CELLS or n < 4 or m < 4:
        lo = np.zeros(n + 1, dtype=np.int64)
        hi = np.full(n + 1, m, dtype=np.int64)
        # the whole grid is searched: one matrix product instead of a product per row
        full = (a @ b.T) * _length_prior(a_len[:, None], b_len[None, :], ratio)

        def score(i, sb, da, db):  # noqa: F811
            return full[i - 1, sb]
    else:
        ca, cb = _coarsen(a), _coarsen(b)
        la = np.add.reduceat(a_len, np.arange(0, n, 2)) if n else a_len
        lb = np.add.reduceat(b_len, np.arange(0, m, 2)) if m else b_len
        coarse = first_pass(ca, cb, la, lb, skip, ratio=ratio)
        ci, cj = _path_cells(coarse)
        ci = np.minimum(np.concatenate([ci * 2, ci * 2 + 1]), n)
        cj = np.minimum(np.concatenate([cj * 2, cj * 2 + 1]), m)
        lo, hi = _band_from_cells(ci, cj, n, m, BAND_PASS1)
    return _dp(n, m, lo, hi, MOVES_1TO1, score, skip, progress)


def align(a_win: Windows, b_win: Windows, params: AlignParams = AlignParams(), progress=None) -> list[Bead]:
    """Align two sides given their window embeddings. Every sentence of both sides is in exactly one
    bead, in order; beads with one side empty are sentences found in only one rendering.
    `progress(done, total)` is called as rows of both passes are done (total = 2 * len(A))."""
    n, m = a_win.n, b_win.n
    if n == 0 or m == 0:
        return [Bead((i,), (), None) for i in range(n)] + [Bead((), (j,), None) for j in range(m)]
    a1, b1 = a_win.vecs[1], b_win.vecs[1]
    a_len = np.diff(a_win.cum)
    b_len = np.diff(b_win.cum)
    report1 = report2 = None
    if progress is not None:
        report1 = lambda i, total: progress(i, 2 * total)  # noqa: E731
        report2 = lambda i, total: progress(total + i, 2 * total)  # noqa: E731
    ratio = length_ratio(a_len, b_len, params.length_norm)
    path1 = first_pass(a1, b1, a_len, b_len, params.skip, report1, ratio=ratio)
    ratio = paired_length_ratio(path1, a_len, b_len, params.length_norm, ratio)
    ci, cj = _path_cells(path1)
    lo, hi = _band_from_cells(ci, cj, n, m, BAND_PASS2)

    mean = None
    if params.center:
        # cosine of (x - mean, y - mean) for unit x, y from x.y, x.mean, y.mean: the projections of the
        # embedded windows are computed once, longer windows' on the fly
        total = a_len.sum() + b_len.sum()
        mean = params.center * (a_len.astype(np.float32) @ a1 + b_len.astype(np.float32) @ b1) / max(total, 1e-9)
        mean = mean.astype(np.float32)  # float32 products: no float64 copy of the vectors
        mm = float(mean @ mean)
        a_proj = {k: v @ mean for k, v in a_win.vecs.items()}
        b_proj = {k: v @ mean for k, v in b_win.vecs.items()}
    samples = _pass_one_samples(a_win, b_win, path1, mean)  # what both kinds of evidence are weighed by
    lex, lex_w, lex_base, lex_norm = _lexical_evidence(a_win, b_win, path1, params, mean, samples)
    cut = _boundary_evidence(a_win, b_win, path1, params, mean, samples)
    if cut is not None:
        cut_a, cut_b, cut_value = cut

    edge: list = []  # the edge evidence, once the first path of pass two says where it is needed
    band_off = np.concatenate([[0], np.cumsum(hi - lo + 1)])  # where each row's cells start in the band

    def score(i, sb, da, db):
        # arrays of cells: i, the row where the move ends; sb, the first B sentence of its window
        sa = i - da
        out = np.full(len(sb), -np.inf)
        ok = (sb <= b_win.count(db) - 1) & (sa <= a_win.count(da) - 1)
        if not ok.any():
            return out
        sao, sbo = sa[ok], sb[ok]
        sim = _cell_dots(lambda s: a_win.window(da, s), sao, lambda s: b_win.window(db, s), sbo)
        if mean is not None:
            pa = a_proj[da][sao] if da in a_proj else _window_proj(a_win, da, sao, mean)
            pb = b_proj[db][sbo] if db in b_proj else _window_proj(b_win, db, sbo, mean)
            sim = _centred_cosine(sim, pa, pb, mm)
        if lex_w:
            sim = (sim + lex_w * (lex.cosines(sao, da, sbo, db) - lex_base)) * lex_norm
        val = sim * _length_prior(a_win.length(sao, da), b_win.length(sbo, db), ratio)
        if cut is not None:  # the cut this bead ends at
            val = val + cut_value[cut_a[sao + da], cut_b[sbo + db]]
        if edge:  # the cut this bead ends at: its cell's place in the band
            val = val + edge[0][band_off[sao + da] + sbo + db - lo[sao + da]]
        merged = da + db - 2
        if merged:
            val = val - params.merge_penalty * merged
            cross = a_win.crosses(sao, da) + b_win.crosses(sbo, db)
            val = val - params.paragraph_penalty * cross
        out[ok] = val
        return out

    path = _dp(n, m, lo, hi, MOVES, score, params.skip, report2)
    # the ratio re-read off pass two's pairs (merges included: a free rendering's longer sentences count)
    # until it settles: a fixed point, not the first guess, decides what a long window is
    for _ in range(RATIO_ROUNDS):
        new = paired_length_ratio(path, a_len, b_len, params.length_norm, ratio)
        if abs(np.log(new / ratio)) < RATIO_TOLERANCE:
            break
        ratio = new
        path = _dp(n, m, lo, hi, MOVES, score, params.skip, None)
    found = _edge_evidence(a_win, b_win, path, params, samples, lo, band_off)
    if found is not None:
        edge.append(found)
        path = _dp(n, m, lo, hi, MOVES, score, params.skip, None)
    sims = [float(b_win.window(j1 - j0, j0) @ a_win.window(i1 - i0, i0)) if i1 > i0 and j1 > j0 else None
            for i0, i1, j0, j1 in path]
    # the bound is needed only when a pair falls below the floor
    low = any(sim is not None and sim < params.min_similarity for sim in sims)
    loose = _loosest_pair(a_win, b_win, samples) if low else float("inf")
    beads: list[Bead] = []
    for k, (i0, i1, j0, j1) in enumerate(path):
        a_idx, b_idx = tuple(range(i0, i1)), tuple(range(j0, j1))
        if a_idx and b_idx:
            sim = sims[k]
            if sim < params.min_similarity and not (sim >= loose and _enclosed(sims, k, params.min_similarity)):
                beads.extend(Bead((i,), (), None) for i in a_idx)
                beads.extend(Bead((), (j,), None) for j in b_idx)
                continue
            beads.append(Bead(a_idx, b_idx, sim, _confidence(a_win, b_win, i0, len(a_idx), j0, len(b_idx), sim)))
        else:
            beads.append(Bead(a_idx, b_idx, None))
    return _absorb(beads, a_win, b_win, params, (lex, lex_w, lex_base, lex_norm) if lex_w else None)


LOOSE_SD = 3.0  # how many (robust) standard deviations below the texts' median pair cosine a pair may still be one


def _loosest_pair(a_win: Windows, b_win: Windows, samples: PassOneSamples) -> float:
    """The lowest cosine the texts' own pairs plausibly reach: the median less LOOSE_SD robust standard
    deviations (1.4826 x the median absolute deviation, so a wrong pair pass one kept does not widen it)
    of the plain cosines of pass one's 1-1 pairs (inf with fewer than 8). Close renderings (every pair
    near 1) put it high, and a low pair between two anchors there is a sentence replaced; in a free
    translation it lies near 0, where a loose line is still its counterpart's rendering."""
    if len(samples.pi) < 8:
        return float("inf")
    c = _pair_cosines(a_win, b_win, samples.pi, samples.pj, None)
    med = float(np.median(c))
    return med - LOOSE_SD * 1.4826 * float(np.median(np.abs(c - med)))


def _enclosed(sims: list, k: int, floor: float) -> bool:
    """Whether the k-th move of the path lies between two pairs whose cosine is at least `floor`: then its
    sentences are what each rendering has between the same two anchors, and when the renderings are free
    enough for their pairs to be this loose (`_loosest_pair`) the pair stands (a free translation's line
    can share almost no words or sense with its counterpart and still be it; shown as a pair, its flag
    says how far apart they read). The path starts and ends where both texts do, so the texts' two ends
    count as such anchors: a freely rendered first or last line (a chapter's closing formula) stays a
    pair. A low pair beside one-sided sentences is split into omissions and additions."""
    before = sims[k - 1] if k > 0 else floor
    after = sims[k + 1] if k + 1 < len(sims) else floor
    return before is not None and after is not None and before >= floor and after >= floor


DECOY_SHIFTS = (-3, -2, 2, 3)  # B sentences this far from a pass-one pair stand for the wrong candidates


def _path_pairs(path1, limit: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """A and B sentence indices of pass one's 1-1 pairs, an even sample of at most `limit`."""
    pi = np.array([i0 for i0, i1, j0, j1 in path1 if i1 - i0 == 1 and j1 - j0 == 1], dtype=np.int64)
    pj = np.array([j0 for i0, i1, j0, j1 in path1 if i1 - i0 == 1 and j1 - j0 == 1], dtype=np.int64)
    if len(pi) > limit:  # an even sample is as good as all of them
        keep = np.linspace(0, len(pi) - 1, limit).astype(np.int64)
        pi, pj = pi[keep], pj[keep]
    return pi, pj


def _decoys(pi: np.ndarray, pj: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The same A sentences against B sentences DECOY_SHIFTS away from their pairs (inside B's m)."""
    fi = np.concatenate([pi for _ in DECOY_SHIFTS])
    fj = np.concatenate([pj + s for s in DECOY_SHIFTS])
    ok = (fj >= 0) & (fj < m)
    return fi[ok], fj[ok]


def _pair_cosines(a_win: Windows, b_win: Windows, i: np.ndarray, j: np.ndarray, mean) -> np.ndarray:
    """The (centred, as pass two compares them) cosine of single sentences a[i[k]], b[j[k]]."""
    a1, b1 = a_win.vecs[1], b_win.vecs[1]
    sim = np.einsum("ij,ij->i", a1[i], b1[j])
    if mean is None:
        return sim
    return _centred_cosine(sim, a1[i] @ mean, b1[j] @ mean, float(mean @ mean))


class PassOneSamples(NamedTuple):
    """Pass one's 1-1 pairs (a sample), their decoys, and the centred embedding cosine of each."""
    pi: np.ndarray
    pj: np.ndarray
    fi: np.ndarray
    fj: np.ndarray
    et: np.ndarray
    ef: np.ndarray


def _pass_one_samples(a_win: Windows, b_win: Windows, path1, mean) -> PassOneSamples:
    pi, pj = _path_pairs(path1)
    fi, fj = _decoys(pi, pj, b_win.n)
    return PassOneSamples(pi, pj, fi, fj, _pair_cosines(a_win, b_win, pi, pj, mean),
                          _pair_cosines(a_win, b_win, fi, fj, mean))


QUOTE_OPEN = frozenset("\"'\u201c\u2018\u201e\u00ab\u2039\u300c\u300e")  # " ' “ ‘ „ « ‹ 「 『
QUOTE_CLOSE = frozenset("\"'\u201d\u2019\u00bb\u203a\u300d\u300f")  # " ' ” ’ » › 」 』
SPEECH_INTRO = frozenset(":\uff1a")  # : ：


def speech_cuts(texts: list[str]) -> np.ndarray:
    """(n + 1,) int8: 1 where the cut after k sentences is a turn of dialogue (the sentence before ends
    with a closing quote or introduces speech with a colon, or the sentence after opens a quote), else
    0; the two ends of the text count as turns. Marks, not words: the same in every language."""
    n = len(texts)
    out = np.ones(n + 1, dtype=np.int8)
    for k in range(1, n):
        last, first = texts[k - 1].rstrip()[-1:], texts[k].lstrip()[:1]
        out[k] = last in QUOTE_CLOSE or last in SPEECH_INTRO or first in QUOTE_OPEN
    return out


CUT_KINDS = 2  # the kinds speech_cuts gives


def _boundary_evidence(a_win: Windows, b_win: Windows, path1, params: AlignParams, mean, samples=None):
    """(cuts of A, cuts of B, value) for pass two, or None without texts or with params.speech 0.
    A bead ending at cell (i, j) adds value[cuts_a[i], cuts_b[j]]: how much likelier pass one's 1-1
    pairs end where the two sides' cuts are of these kinds (turn of dialogue or not) than near decoys
    do (the same A cut against B cuts one sentence away, where a misplaced boundary puts it), as a log
    likelihood ratio (counts plus one half each) put in cosine units by the embeddings' own log
    likelihood ratio per unit of cosine between the same pairs and decoys (a Gaussian of shared
    variance: difference of the means over the variance). Texts without dialogue give every cell
    nearly the same value, which changes nothing. `samples`: `_pass_one_samples` of the same path, if
    the caller has them."""
    if not params.speech or a_win.texts is None or b_win.texts is None:
        return None
    n, m = a_win.n, b_win.n
    samples = samples if samples is not None else _pass_one_samples(a_win, b_win, path1, mean)
    pi, pj, et, ef = samples.pi, samples.pj, samples.et, samples.ef
    if len(pi) < 8:
        return None
    cuts_a, cuts_b = speech_cuts(a_win.texts), speech_cuts(b_win.texts)
    ti, tj = pi + 1, pj + 1  # the cut after the pair
    inner = (ti < n) & (tj < m)
    ti, tj = ti[inner], tj[inner]
    fi = np.concatenate([ti, ti])
    fj = np.concatenate([tj - 1, tj + 1])
    ok = (fj > 0) & (fj < m)
    fi, fj = fi[ok], fj[ok]
    if len(ti) < 8 or len(fi) < 8:
        return None
    k = CUT_KINDS
    true = np.bincount(cuts_a[ti] * k + cuts_b[tj], minlength=k * k) + 0.5
    false = np.bincount(cuts_a[fi] * k + cuts_b[fj], minlength=k * k) + 0.5
    llr = np.log((true / true.sum()) / (false / false.sum()))
    # the embeddings' log likelihood ratio per unit of cosine, from the same pairs and decoys
    per_unit = _gaussian_slope(et, ef)
    if per_unit <= 0:
        return None
    value = (params.speech * llr / per_unit).reshape(k, k)
    return cuts_a, cuts_b, value


def _gaussian_slope(true: np.ndarray, false: np.ndarray) -> float:
    """The log likelihood ratio per unit of a feature between two samples, as Gaussians of shared variance:
    the difference of the means over the pooled variance."""
    var = (true.var() * len(true) + false.var() * len(false)) / (len(true) + len(false))
    return float((true.mean() - false.mean()) / max(var, 1e-9))


def continues(texts: list[str]) -> np.ndarray:
    """(n,) bool: the sentence's first letter (past quotes, brackets and dashes) is lower case."""
    out = np.zeros(len(texts), dtype=bool)
    for k, t in enumerate(texts):
        for ch in t:
            if ch.isalpha():
                out[k] = ch.islower()
                break
            if ch.isdigit():
                break
    return out


EDGE_SAMPLE = 300  # pass-one pairs (and their decoys) the edge evidence's weight is read from
EDGE_REACH = 1  # sentences either side of a bead that is not 1-1 whose edges are embedded


def _edge_evidence(a_win: Windows, b_win: Windows, path, params: AlignParams, samples: PassOneSamples,
                   lo: np.ndarray, band_off: np.ndarray):
    """The value pass two adds to a bead ending at each cell of the band (row i's cells start at
    band_off[i], at B sentence lo[i]: `_dp`'s cell order, flat), or None (no edges from the caller, params.edge 0, too few pairs, or evidence that does not
    tell pairs from decoys).

    At a cut between two beads the sentences either side should agree at their edges. Take the side with
    fewer sentences (the coarser: the one whose sentences the other splits), h and t the vectors of the
    first and last words of a sentence of it (`Windows.edges`, `split_edges`), and the other side's
    sentence vectors. Then, at the cut after i sentences of the coarser side and j of the other,
    E = t[i-1].o[j-1] + h[i].o[j] - t[i-1].o[j] - h[i].o[j-1]: positive when the sentences next to the cut
    belong where it puts them, negative when one of them belongs across it. A window's vector weighs a
    short sentence at a boundary as a small part of a long window, and so often cannot tell which
    neighbour it belongs to; the edge of its neighbour can.

    Edges are embedded only around beads of pass two's first path that are not 1-1 (EDGE_REACH sentences
    around them) and for a sample of pass one's pairs; E is 0 at other cuts, so a close rendering costs few
    model calls. The weight is read off the texts as `_boundary_evidence` reads its own: the log likelihood
    ratio of E between pass one's 1-1 pairs and decoys one sentence away on the other side (Gaussians of
    shared variance), in cosine units by the embeddings' own ratio per unit of cosine, times params.edge."""
    if not params.edge or len(samples.pi) < 8:
        return None
    flip = b_win.n < a_win.n  # the coarser side is B: the same evidence with the sides swapped
    c_win, o_win = (b_win, a_win) if flip else (a_win, b_win)
    if c_win.edges is None:
        return None
    n, m = c_win.n, o_win.n
    pc, po = (samples.pj, samples.pi) if flip else (samples.pi, samples.pj)
    if len(pc) > EDGE_SAMPLE:
        keep = np.linspace(0, len(pc) - 1, EDGE_SAMPLE).astype(np.int64)
        pc, po = pc[keep], po[keep]
    tc, to = pc + 1, po + 1  # the cut after each pair
    inner = (tc < n) & (to >= 2) & (to < m - 1)
    tc, to = tc[inner], to[inner]
    if len(tc) < 8:
        return None
    need = np.zeros(n, dtype=bool)
    for i0, i1, j0, j1 in path:
        if i1 - i0 != 1 or j1 - j0 != 1:
            c0, c1 = (j0, j1) if flip else (i0, i1)
            need[max(0, c0 - EDGE_REACH):min(n, c1 + EDGE_REACH)] = True
    need[tc - 1] = need[tc] = True
    idx = np.flatnonzero(need)
    dim = c_win.vecs[1].shape[1]
    head, tail = np.zeros((n, dim), dtype=np.float32), np.zeros((n, dim), dtype=np.float32)
    head[idx], tail[idx] = c_win.edges(idx)
    need &= np.einsum("ij,ij->i", head, head) > 0  # a sentence too short to have edges gets none
    other = o_win.vecs[1]
    # a sentence that starts in lower case continues the one before it (a quotation's "he said.", a
    # segmenter's cut inside a sentence): it has no beginning to compare, and a cut before it is no
    # sentence boundary, so the evidence says nothing at such a cut
    go_c, go_o = ~continues(c_win.texts), ~continues(o_win.texts)

    def dot(x, y):
        return np.einsum("ij,ij->i", x, y, dtype=np.float64)

    def raw(ci, cj):  # E at cuts after ci coarser-side and cj other-side sentences, and where it is known
        out = np.zeros(len(ci), dtype=np.float64)
        ok = (ci >= 1) & (ci <= n - 1) & (cj >= 1) & (cj <= m - 1)
        ok[ok] = need[ci[ok] - 1] & need[ci[ok]] & go_c[ci[ok]] & go_o[cj[ok]]
        i, j = ci[ok], cj[ok]
        if len(i):
            out[ok] = (dot(tail[i - 1], other[j - 1]) + dot(head[i], other[j])
                       - dot(tail[i - 1], other[j]) - dot(head[i], other[j - 1]))
        return out, ok

    et, _ = raw(tc, to)
    ef = np.concatenate([raw(tc, to - 1)[0], raw(tc, to + 1)[0]])
    slope, per_unit = _gaussian_slope(et, ef), _gaussian_slope(samples.et, samples.ef)
    if slope <= 0 or per_unit <= 0:
        return None
    weight, mid = params.edge * slope / per_unit, (et.mean() + ef.mean()) / 2
    # the value of every cell of the band, once (pass two asks for each cell once per move)
    width = np.diff(band_off)
    rows = np.repeat(np.arange(len(lo)), width)
    cols = np.arange(int(band_off[-1])) - np.repeat(band_off[:-1] - lo, width)
    out = np.zeros(len(rows), dtype=np.float64)
    for s0 in range(0, len(rows), 1 << 16):
        r, c = rows[s0:s0 + (1 << 16)], cols[s0:s0 + (1 << 16)]
        e, ok = raw(c, r) if flip else raw(r, c)
        out[s0:s0 + (1 << 16)] = weight * (e - mid) * ok
    return out


def _lexical_evidence(a_win: Windows, b_win: Windows, path1, params: AlignParams, mean, samples=None):
    """(Lexical, weight, base, norm) for pass two, or (None, 0, 0, 1) without texts, with params.lexical
    0, or when the texts give the evidence no weight. A window pair's similarity becomes
    (centred cosine + weight * (lexical cosine - base)) * norm.
    The weight comes from the texts (`lexical_weight`): pass one's 1-1 pairs against the same A
    sentences with B sentences DECOY_SHIFTS away, by the centred embedding cosine pass two uses and by
    the lexical cosine. Linear: a few thousand sampled pairs at most. `samples`: as in
    `_boundary_evidence`."""
    if not params.lexical or a_win.texts is None or b_win.texts is None:
        return None, 0.0, 0.0, 1.0
    lex = Lexical(a_win.texts, b_win.texts)
    pi, pj, fi, fj, et, ef = samples if samples is not None else _pass_one_samples(a_win, b_win, path1, mean)
    lt, lf = lex.pairs(pi, pj), lex.pairs(fi, fj)
    w, base = lexical_weight(et, ef, lt, lf)
    w *= params.lexical
    if not w:
        return None, 0.0, 0.0, 1.0
    # the sum is brought back to the embeddings' scale: the lexical term counts as w * (its separation
    # over the embeddings') cosines' worth, so a pair scores about what its cosine alone would, and the
    # trade-off with skips and with the number of beads a stretch is cut into stays the embeddings'
    ratio = float((lt.mean() - lf.mean()) / (et.mean() - ef.mean()))
    return lex, w, base, 1.0 / (1.0 + w * ratio)


def _absorb(beads: list[Bead], a_win: Windows, b_win: Windows, params: AlignParams, lexical=None) -> list[Bead]:
    """Give sentences left unaligned to the pair beside them when they belong to it.

    The DP scores a merge by cosine times a length prior and caps merges at MOVES, so a sentence that
    only completes its neighbour's content (a clause the other rendering folds into one sentence, a
    rendering wordier there than on average, a unit longer than the largest move) can come out
    one-sided. Each run of one-sided beads between two pairs is offered to those pairs, one edge
    sentence at a time (the run's first sentence of a side to the pair before, its last to the pair
    after), best gain first: a sentence joins when the pair's cosine rises by more than
    `params.absorb` (less any paragraph boundary it brings inside, at `paragraph_penalty`). An
    unrelated sentence dilutes the merged vector and lowers the cosine, so real omissions and
    additions stay one-sided. Linear: a run of r sentences costs r + 1 rounds of at most four cosines."""
    out: list[Bead] = []
    k = 0
    n = len(beads)
    while k < n:
        if beads[k].a and beads[k].b:
            out.append(beads[k])
            k += 1
            continue
        run_end = k
        while run_end < n and not (beads[run_end].a and beads[run_end].b):
            run_end += 1
        run = beads[k:run_end]
        left = out.pop() if out and out[-1].a and out[-1].b else None
        right = beads[run_end] if run_end < n else None
        new_left, rest, new_right = _absorb_run(left, run, right, a_win, b_win, params, lexical)
        if new_left is not None:
            out.append(new_left)
        out.extend(rest)
        if right is not None:
            out.append(new_right)
        k = run_end + 1 if right is not None else run_end
    return out


def _bead_value(a_win: Windows, b_win: Windows, a0: int, da: int, b0: int, db: int, params: AlignParams,
                lexical=None) -> float:
    sim = float(b_win.window(db, b0) @ a_win.window(da, a0))
    if lexical is not None:  # (Lexical, weight, base), as in pass two
        lex, w, base, norm = lexical
        sim = (sim + w * (float(lex.cosine(a0, da, np.array([b0]), db)[0]) - base)) * norm
    return sim - params.paragraph_penalty * float(a_win.crosses(a0, da) + b_win.crosses(b0, db))


def _absorb_run(left, run, right, a_win, b_win, params, lexical=None):
    """One run of one-sided beads between pairs `left` and `right` (either may be None): returns the
    two pairs, grown, and the beads of the run that stay one-sided."""
    # the run's sentences of each side are contiguous; [lo, hi) is what is still unaligned
    a_ids = [i for bd in run for i in bd.a]
    b_ids = [j for bd in run for j in bd.b]
    rng = {"a": [a_ids[0], a_ids[-1] + 1] if a_ids else [0, 0], "b": [b_ids[0], b_ids[-1] + 1] if b_ids else [0, 0]}
    ends = {}  # "L"/"R" -> [a0, da, b0, db] of that pair
    if left is not None:
        ends["L"] = [left.a[0], len(left.a), left.b[0], len(left.b)]
    if right is not None:
        ends["R"] = [right.a[0], len(right.a), right.b[0], len(right.b)]
    value = {e: _bead_value(a_win, b_win, *g, params, lexical) for e, g in ends.items()}
    changed = set()
    while True:
        best = None
        for e, (a0, da, b0, db) in ends.items():
            for side in ("a", "b"):
                if rng[side][0] >= rng[side][1]:
                    continue
                if e == "L":
                    g = [a0, da + 1, b0, db] if side == "a" else [a0, da, b0, db + 1]
                else:
                    g = [a0 - 1, da + 1, b0, db] if side == "a" else [a0, da, b0 - 1, db + 1]
                v = _bead_value(a_win, b_win, *g, params, lexical)
                if v - value[e] > params.absorb and (best is None or v - value[e] > best[0]):
                    best = (v - value[e], e, side, g, v)
        if best is None:
            break
        _, e, side, g, v = best
        ends[e], value[e] = g, v
        changed.add(e)
        rng[side][0 if e == "L" else 1] += 1 if e == "L" else -1

    def rebuilt(e, bead):
        if e not in changed:
            return bead
        a0, da, b0, db = ends[e]
        sim = float(b_win.window(db, b0) @ a_win.window(da, a0))
        return Bead(tuple(range(a0, a0 + da)), tuple(range(b0, b0 + db)), sim,
                    _confidence(a_win, b_win, a0, da, b0, db, sim))

    rest = [bd for bd in run if any(rng["a"][0] <= i < rng["a"][1] for i in bd.a)
            or any(rng["b"][0] <= j < rng["b"][1] for j in bd.b)]
    return (rebuilt("L", left) if left is not None else None, rest,
            rebuilt("R", right) if right is not None else None)


def _confidence(a_win: Windows, b_win: Windows, i0: int, da: int, j0: int, db: int, sim: float) -> float:
    """How clearly this pairing beats its neighbours: 0.5 plus the margin of its cosine over the best
    pairing shifted by one sentence on either side (same window sizes), clipped to [0, 1]. A pair in a
    run of near-identical sentences scores about 0.5; an unmistakable pair near 1."""
    alts = []
    va, vb = a_win.window(da, i0), b_win.window(db, j0)
    for j in (j0 - 1, j0 + 1):
        if 0 <= j < b_win.count(db):
            alts.append(float(b_win.window(db, j) @ va))
    for i in (i0 - 1, i0 + 1):
        if 0 <= i < a_win.count(da):
            alts.append(float(a_win.window(da, i) @ vb))
    margin = sim - max(alts) if alts else sim
    return round(float(np.clip(0.5 + margin, 0.0, 1.0)), 4)
