import numpy as np
import pytest

from comparator.core.embed.encoder import HashEncoder, get_encoder, onnx_compatible, default_model_path
from comparator.core.errors import InputError

TEXTS = ["The cat sat on the mat.", "A cat was sitting on the mat.", "Interest rates rose again in March.",
         "He told the reporters. that the wall was built to resist a flood."]


def test_hash_encoder_is_normalised_deterministic_and_meaningful():
    v = HashEncoder().encode(TEXTS)
    assert v.shape == (4, 512) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert np.array_equal(v, HashEncoder().encode(TEXTS))
    assert v[0] @ v[1] > v[0] @ v[2]


def test_each_distinct_text_is_embedded_once():
    enc = HashEncoder()
    calls = []
    orig = enc._embed
    enc._embed = lambda texts, progress: calls.append(list(texts)) or orig(texts, progress)
    enc.encode(["a b c", "a b c", "d e f"])
    enc.encode(["d e f", "g h i"])
    assert calls == [["a b c", "d e f"], ["g h i"]]  # distinct, in (length, text) order


def test_default_model_is_packaged_and_onnx_ready():
    assert onnx_compatible(default_model_path())


def test_onnx_backend_gives_the_torch_vectors(model_encoder):
    torch_enc = get_encoder(backend="torch")
    assert model_encoder.backend == "onnx" and torch_enc.backend == "torch"
    a, b = model_encoder.encode(TEXTS), torch_enc.encode(TEXTS)
    assert np.abs(a - b).max() < 1e-4
    sims = a @ a.T
    assert sims[0, 1] > 0.8 and sims[0, 2] < 0.3


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_token_embeddings_have_offsets(backend):
    (offsets, vecs), = get_encoder(backend=backend).token_embeddings(["He told the reporters."])
    assert len(offsets) == len(vecs) and vecs.shape[1] == 384
    assert "He told the reporters."[offsets[0][0]:offsets[0][1]] == "He"


def test_unknown_model_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot load model"):
        get_encoder(str(tmp_path / "nope"))
    with pytest.raises(InputError, match="backend"):
        get_encoder("all-MiniLM-L6-v2", backend="gpu")


def test_disk_cache_makes_a_rerun_embed_nothing(tmp_path):
    from comparator.core.embed.encoder import HashEncoder

    db = str(tmp_path / "emb.sqlite")
    first = HashEncoder()
    first.use_disk_cache(db)
    v1 = first.encode(TEXTS)
    second = HashEncoder()
    second.use_disk_cache(db)
    second._embed = lambda texts, progress: (_ for _ in ()).throw(AssertionError(f"embedded again: {texts}"))
    assert np.array_equal(second.encode(TEXTS), v1)


def test_memory_cache_is_bounded():
    from comparator.core.embed.encoder import HashEncoder

    enc = HashEncoder()
    enc.MEMORY_ITEMS = 10
    enc.encode([f"text {i}" for i in range(25)])
    assert len(enc._cache) == 10
    assert enc.encode(["text 3"]).shape == (1, 512)


def test_unwritable_cache_does_not_stop_a_run(tmp_path):
    from comparator.core.embed.encoder import HashEncoder

    blocker = tmp_path / "file"
    blocker.write_text("x")
    enc = HashEncoder()
    enc.use_disk_cache(str(blocker / "sub" / "emb.sqlite"))
    assert enc.store is None and enc.encode(TEXTS).shape == (4, 512)


def test_onnx_threads_follow_the_environment(monkeypatch):
    from comparator.core.embed.encoder import onnx_threads

    monkeypatch.delenv("MT_COMPARATOR_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert 1 <= onnx_threads() <= 8
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert onnx_threads() == 3
    monkeypatch.setenv("MT_COMPARATOR_THREADS", "1")
    assert onnx_threads() == 1
    monkeypatch.setenv("MT_COMPARATOR_THREADS", "lots")
    assert onnx_threads() == 3
