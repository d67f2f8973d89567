"""The pairs' pure-Python scoring on every core: `map_chunks` splits a list of items into contiguous chunks,
computes the first in this process and each other one in a forked child, and returns the results in order.

Why fork: after the model pass, the per-pair work (spans, the span model's features, token matching,
sacrebleu's statistics) is Python on one core while the other cores idle. A forked child sees the parent's
memory as it is (the token vectors, the loaded word tables and span model) without copying or pickling
any of it; only its results (spans, floats) come back, pickled through a pipe.

What a child may do: compute from its items and from what is already loaded, nothing else. It never runs
the model (ONNX Runtime's threads do not survive a fork), never touches the vector store (an SQLite
connection must not cross a fork) and never reports progress (the callback may belong to a dashboard
session); `fn` must be such a function. A child that fails, dies or takes far longer than the parent's
own chunk is ended and its chunk computed here, so the results are the same whatever happens to it.

Used only where forking is sound and worth it: on Linux, with at least MIN_ITEMS items, and with more than
one core available to this process. COMPARATOR_WORKERS=1 (or `workers(1)`) keeps everything in this process
(the batch engine's Ray workers do, as each already has its core).
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import sys
import time
from typing import Callable, Sequence, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

ENV_VAR = "COMPARATOR_WORKERS"
MIN_ITEMS = 400  # below this a fork costs more than it saves (a few ms against ~1 ms of work per pair)
MAX_WORKERS = 8
# a child gets this many times the parent's own time for its chunk (and at least MIN_WAIT seconds) before
# its chunk is computed here instead
SLACK = 4.0
MIN_WAIT = 30.0

_override: int | None = None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count() -> int:
    """How many processes share a scoring stage: `workers()`'s setting, else COMPARATOR_WORKERS, else the
    cores this process may use (at most MAX_WORKERS); 1 where fork is not available or not sound."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return 1
    n = _override
    if n is None:
        raw = os.environ.get(ENV_VAR, "").strip()
        if raw:
            try:
                n = int(raw)
            except ValueError:
                log.warning("%s=%r is not a whole number: using the available cores", ENV_VAR, raw)
    if n is None:
        n = available_cores()
    return max(1, min(int(n), MAX_WORKERS))


@contextlib.contextmanager
def workers(n: int | None):
    """Within this block, scoring stages use `n` processes (None: the default)."""
    global _override
    old, _override = _override, n
    try:
        yield
    finally:
        _override = old


def _chunks(items: Sequence[T], k: int) -> list[Sequence[T]]:
    size, extra = divmod(len(items), k)
    out, start = [], 0
    for i in range(k):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def _child(fn, chunk, w: int) -> None:  # fn(chunk, None): a child reports no progress
    """In the forked child: compute, write the pickled result to the pipe, leave without running any of the
    parent's exit handlers or flushing its buffers."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        data = pickle.dumps(("ok", fn(chunk, None)), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
        code = 0
    except BaseException:  # noqa: BLE001 - the parent computes the chunk itself
        pass
    finally:
        os._exit(code)


def _read(r: int, deadline: float) -> bytes | None:
    """All of the child's output, or None when it is not complete by the deadline."""
    parts = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([r], [], [], left)
        if not ready:
            return None
        block = os.read(r, 1 << 20)
        if not block:
            return b"".join(parts)
        parts.append(block)


def _end(pid: int, kill: bool) -> None:
    if kill:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)


def map_chunks(fn: Callable[[Sequence[T], Callable[[int], None] | None], list[R]], items: Sequence[T],
               progress: Callable[[int, int], None] | None = None, min_items: int = MIN_ITEMS) -> list[R]:
    """fn(items, report) computed in contiguous chunks on up to `worker_count()` processes: the same list as
    `fn(items, report)` when fn maps each item on its own (len(fn(chunk, report)) == len(chunk)).
    `report(done)`, which fn may call as it goes through its chunk (it is None in a child), reaches
    `progress(done, len(items))` scaled to the whole list (every chunk moves at about the same pace)."""
    total = len(items)
    k = min(worker_count(), total // max(1, min_items // 2)) if total >= min_items else 1

    def report_for(size: int):
        if progress is None:
            return None
        return lambda done: progress(min(total, round(done * total / max(1, size))), total)

    if k <= 1:
        out = list(fn(items, report_for(total)))
        if progress is not None:
            progress(total, total)
        return out
    chunks = _chunks(items, k)
    children = []  # (pid, read end, chunk index)
    for idx in range(1, k):
        try:
            r, w = os.pipe()
        except OSError as exc:
            log.debug("no pipe for a scoring worker: %s", exc)
            break
        try:
            pid = os.fork()
        except OSError as exc:
            log.debug("no fork for a scoring worker: %s", exc)
            os.close(r)
            os.close(w)
            break
        if pid == 0:  # the child
            os.close(r)
            _child(fn, chunks[idx], w)
        os.close(w)
        children.append((pid, r, idx))
    results: list[list | None] = [None] * k
    reaped: set[int] = set()
    t0 = time.monotonic()
    try:
        results[0] = list(fn(chunks[0], report_for(len(chunks[0]))))
        own = time.monotonic() - t0
        for pid, r, idx in children:
            share = len(chunks[idx]) / max(1, len(chunks[0]))
            deadline = t0 + max(MIN_WAIT, SLACK * own * share)
            data = _read(r, deadline)
            ok = False
            if data:
                try:
                    status, value = pickle.loads(data)
                    ok = status == "ok" and len(value) == len(chunks[idx])
                except Exception as exc:  # noqa: BLE001 - computed here instead
                    log.debug("scoring worker's result unreadable: %s", exc)
            _end(pid, kill=not ok)
            reaped.add(pid)
            if ok:
                results[idx] = value
            else:
                log.debug("scoring worker %d gave no result: its chunk is computed here", idx)
    finally:
        for _, r, _ in children:
            with contextlib.suppress(OSError):
                os.close(r)
        for pid, _, _ in children:  # the parent's own chunk failed: the children's work is not wanted
            if pid not in reaped:
                _end(pid, kill=True)
    for idx in range(k):  # chunks of children that could not be started, or that failed
        if results[idx] is None:
            results[idx] = list(fn(chunks[idx], None))
    if progress is not None:
        progress(total, total)
    return [x for part in results for x in part]
