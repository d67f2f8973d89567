"""How usual a pair of neighbouring English words is: evidence of awkward wording in one rendering alone.

A reference-based score cannot see every error of a rendering: when a machine translation drops a word
that its reference does not have ("A comparison ... revealed that" -> "A comparison ... that"), the
rendering even moves closer to the reference. What shows is that the words left side by side are not
English ("the are", "and than"). This module gives that evidence from word counts:

    pmi(x, y) = log( P(x y) / (P(x) P(y)) )

the pointwise mutual information of two neighbouring words, from the unigram and bigram tables of Peter
Norvig's excerpt of the Google Web Trillion Word Corpus, as shipped in the `wordsegment` package (Apache
2.0; 333,213 words, 258,437 distinct lower-cased word pairs each seen at least 100,000 times). A pair
absent from the table was seen fewer than 100,000 times, so its PMI is at most that of a pair seen
100,000 times: for two common words that bound is itself low, which is evidence; for rare words
("closely shooters") the bound is high and says nothing. Negative PMI means the pair occurs less
often than chance would put it there.

Only words written in lower case are looked at (the tables fold case, and capitalised words are mostly
names, whose counts there are unreliable), and only when the reference reads as English: at least
`MIN_ENGLISH` of its words are among `ENGLISH_MARKERS`, common English words that are not also common
words of other languages written in Latin script ("of", "in", "is", "was", "a" are left out: Dutch,
German or the Romance languages use them too). Text in another language thus gets no evidence at all,
rather than false evidence: the web's vocabulary knows most common French or German words, so "is the
word known" cannot tell. Reading the tables takes about half a second the first time; the indexed arrays are then kept in the
cache folder and load in milliseconds. They keep 10 MB.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
from functools import lru_cache
from importlib import resources

import numpy as np

from comparator.core.errors import first_line

log = logging.getLogger("comparator.core.marks.fluency")

ENGLISH_MARKERS = frozenset(
    "the and to that with for it be by this are from at have has not or but which were been their its they "
    "she his her will would there who we you than also into after said".split())
MIN_ENGLISH = 0.05  # share of the reference's words among ENGLISH_MARKERS (English prose: 0.27 median, 0.05 at 0.1%)
_WORD = re.compile(r"[a-z]+")


def _key_hash(key: str) -> int:
    """A 64-bit hash of a table key that is the same in every process (Python's hash() of a str is not),
    so the indexed tables can be kept on disk."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


class _Tables:
    """Counts as sorted hash arrays (a few MB instead of ~100 MB of Python dicts).

    Reading the two text files takes about 0.6 s of CPU; the indexed arrays are kept in the cache folder
    (`wordtables/`, keyed by the files' size and time), so later runs load them in a few milliseconds.
    A cached file that cannot be read or does not fit is rebuilt, never trusted."""

    _ARRAYS = ("uni_h", "uni_logp", "bi_h", "bi_logp", "scalars")

    def __init__(self) -> None:
        if not self._load():
            self._build()
            self._save()
        # a run looks the same words up again and again: the answers are kept (bounded)
        self.logp = lru_cache(maxsize=1 << 17)(self._logp)
        self.bigram_logp = lru_cache(maxsize=1 << 17)(self._bigram_logp)

    def _build(self) -> None:
        uni_keys, uni_counts = self._read("unigrams.txt")
        bi_keys, bi_counts = self._read("bigrams.txt")
        self.n_uni = float(uni_counts.sum())
        self.n_bi = float(bi_counts.sum())
        self.floor = float(bi_counts.min())  # the table's cut-off: absent pairs were seen less often
        self.uni_h, self.uni_logp = self._index(uni_keys, np.log(uni_counts / self.n_uni))
        self.bi_h, self.bi_logp = self._index(bi_keys, np.log(bi_counts / self.n_bi))
        self.floor_logp = math.log(self.floor / self.n_bi)

    @staticmethod
    def _cache_path() -> str | None:
        try:
            from comparator.core.embed.encoder import cache_dir

            stamp = []
            for name in ("unigrams.txt", "bigrams.txt"):
                st = os.stat(str(resources.files("wordsegment").joinpath(name)))
                stamp.append(f"{st.st_size}-{st.st_mtime_ns}")
            return os.path.join(cache_dir(), "wordtables", f"v1-{'-'.join(stamp)}.npz")
        except (OSError, TypeError, ImportError):  # no package, or its data is not plain files: build each time
            return None

    def _load(self) -> bool:
        path = self._cache_path()
        if path is None or not os.path.isfile(path):
            return False
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in self._ARRAYS}
        except Exception as exc:  # damaged, truncated, not an npz: rebuild it
            log.warning("word tables cache %s unreadable (%s); rebuilding it", path, first_line(exc, limit=80))
            return False
        uni_h, uni_logp, bi_h, bi_logp, scalars = (arrays[k] for k in self._ARRAYS)
        ok = (uni_h.dtype == np.int64 and bi_h.dtype == np.int64 and uni_h.shape == uni_logp.shape
              and bi_h.shape == bi_logp.shape and uni_h.ndim == 1 and bi_h.ndim == 1 and len(uni_h) > 0
              and len(bi_h) > 0 and scalars.shape == (4,) and bool(np.all(uni_h[1:] >= uni_h[:-1]))
              and bool(np.all(bi_h[1:] >= bi_h[:-1])) and bool(np.isfinite(scalars).all()))
        if not ok:
            log.warning("word tables cache %s does not fit; rebuilding it", path)
            return False
        self.uni_h, self.uni_logp, self.bi_h, self.bi_logp = uni_h, uni_logp.astype(np.float64), bi_h, \
            bi_logp.astype(np.float64)
        self.n_uni, self.n_bi, self.floor, self.floor_logp = (float(x) for x in scalars)
        return True

    def _save(self) -> None:
        path = self._cache_path()
        if path is None:
            return
        tmp = f"{path}.tmp{os.getpid()}-{threading.get_ident()}.npz"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            np.savez(tmp, uni_h=self.uni_h, uni_logp=self.uni_logp, bi_h=self.bi_h, bi_logp=self.bi_logp,
                     scalars=np.array([self.n_uni, self.n_bi, self.floor, self.floor_logp]))
            os.replace(tmp, path)
        except OSError as exc:  # a read-only or full cache folder: the tables are read again next time
            log.info("word tables not cached: %s", exc)
            try:
                os.unlink(tmp)
            except OSError:
                pass

    @staticmethod
    def _read(name: str) -> tuple[list[str], np.ndarray]:
        counts: dict[str, int] = {}
        text = resources.files("wordsegment").joinpath(name).read_text(encoding="utf-8")
        for line in text.splitlines():
            key, _, n = line.rpartition("\t")
            if key and n.isdigit():
                # the file lists some pairs twice (case variants folded together): add them up
                counts[key] = counts.get(key, 0) + int(n)
        return list(counts), np.array(list(counts.values()), dtype=np.float64)

    @staticmethod
    def _index(keys: list[str], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.fromiter((_key_hash(k) for k in keys), dtype=np.int64, count=len(keys))
        order = np.argsort(h, kind="stable")
        return h[order], values[order]

    @staticmethod
    def _find(table: np.ndarray, values: np.ndarray, key: str) -> float | None:
        h = _key_hash(key)
        i = int(table.searchsorted(h))
        return float(values[i]) if i < len(table) and table[i] == h else None

    def _logp(self, word: str) -> float | None:
        return self._find(self.uni_h, self.uni_logp, word)

    def _bigram_logp(self, x: str, y: str) -> float | None:
        return self._find(self.bi_h, self.bi_logp, f"{x} {y}")

    def known(self, word: str) -> bool:
        return self.logp(word) is not None

    def pmi(self, x: str, y: str) -> float | None:
        px = self.logp(x)
        py = self.logp(y)
        if px is None or py is None:
            return None
        return self.pmi_of(x, y, px, py)

    def pmi_of(self, x: str, y: str, px: float, py: float) -> float | None:
        """`pmi(x, y)` given the two words' log probabilities (`logp`)."""
        pxy = self.bigram_logp(x, y)
        return (self.floor_logp if pxy is None else pxy) - px - py


_tables: _Tables | None = None
_failed = False
_lock = threading.Lock()


def tables() -> _Tables | None:
    """The word tables, loaded once; None (and one warning) when the `wordsegment` package is missing."""
    global _tables, _failed
    if _tables is None and not _failed:
        with _lock:
            if _tables is None and not _failed:
                try:
                    _tables = _Tables()
                except Exception as exc:  # no package, unreadable data: no fluency evidence, never a crash
                    log.warning("word tables unavailable, no fluency evidence: %s", exc)
                    _failed = True
    return _tables


@lru_cache(maxsize=1 << 16)
def is_word(key: str) -> bool:
    """A lower-case ASCII word the tables could know."""
    return bool(_WORD.fullmatch(key))


def applies(a_words: list[str]) -> bool:
    """True when the reference reads as English (see the module docstring) and the tables are there.
    `a_words`: the reference's words, lower-cased."""
    words = [w for w in a_words if w[:1].isalpha()]
    if not words or sum(w in ENGLISH_MARKERS for w in words) < MIN_ENGLISH * len(words):
        return False
    return tables() is not None


def pmi(x: str, y: str) -> float | None:
    """PMI of the neighbours x y (lower-case words), an upper bound when the pair is not in the table;
    None when either word is unknown or the tables are missing."""
    t = tables()
    return t.pmi(x, y) if t is not None else None


def known(word: str) -> bool:
    t = tables()
    return t is not None and t.known(word)
