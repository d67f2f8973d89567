"""parallel.map_chunks: the same results as one process, whatever happens to a worker."""
import os

import pytest

from comparator.core import parallel


def _square(items, report=None):
    return [x * x for x in items]


def test_same_results_as_one_process():
    items = list(range(1000))
    with parallel.workers(2):
        assert parallel.map_chunks(_square, items, min_items=10) == _square(items)
    with parallel.workers(1):
        assert parallel.map_chunks(_square, items, min_items=10) == _square(items)


def test_failing_worker_chunk_is_computed_here():
    parent = os.getpid()

    def fn(items, report=None):
        if os.getpid() != parent:
            raise RuntimeError("worker fails")
        return [x + 1 for x in items]

    items = list(range(500))
    with parallel.workers(3):
        assert parallel.map_chunks(fn, items, min_items=10) == [x + 1 for x in items]


def test_dead_worker_chunk_is_computed_here():
    parent = os.getpid()

    def fn(items, report=None):
        if os.getpid() != parent:
            os._exit(3)
        return [-x for x in items]

    items = list(range(300))
    with parallel.workers(2):
        assert parallel.map_chunks(fn, items, min_items=10) == [-x for x in items]


def test_parent_error_propagates():
    def fn(items, report=None):
        raise ValueError("bad")

    with parallel.workers(2), pytest.raises(ValueError):
        parallel.map_chunks(fn, list(range(100)), min_items=10)


def test_progress_reaches_total_and_bad_env(monkeypatch):
    seen = []
    monkeypatch.setenv(parallel.ENV_VAR, "lots")
    out = parallel.map_chunks(lambda c, r: [r and r(len(c)) or 0 for _ in c], list(range(50)),
                              progress=lambda d, t: seen.append((d, t)), min_items=10)
    assert len(out) == 50 and seen[-1] == (50, 50)
    monkeypatch.setenv(parallel.ENV_VAR, "1")
    assert parallel.worker_count() == 1
