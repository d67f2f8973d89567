"""Batch runs: many (reference, rendering) pairs from a manifest, one result JSON per pair and a summary.

A manifest is a TSV file (columns name, a, b; an optional header line `name a b`; `#` starts a comment
line), a JSONL file (one {"name", "a", "b"} object a line), or a folder of NAME.a.txt / NAME.b.txt
files. Paths are relative to the manifest (to the folder itself for a folder).

Output folder:

    OUTDIR/pairs/NAME.json     each pair's result, exactly what `score --format json` writes
    OUTDIR/summary.tsv, .json  one row per pair, in manifest order: status done / skipped / failed
    OUTDIR/.batch-state.jsonl  what is done, keyed by a hash of both inputs' bytes and the settings

A pair whose key matches a finished one is skipped on a re-run, so changed inputs or settings are redone
and an interrupted batch picks up where it stopped. A bad pair (missing file, binary input, unequal
lines in aligned mode, ...) is reported in the summary and does not stop the others.

Engines: `local` scores the pairs one after another in this process with the model loaded once; `ray`
runs them on Ray actors (one model per actor, loaded once), on a local Ray started for the run (bound to
127.0.0.1, no dashboard) or on an existing cluster given by address. Ray is imported only for `ray`.
The driver reads the files and writes the results, so workers need no access to the inputs.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from comparator import __version__
from comparator.core import paths
from comparator.core.documents import read_bytes, read_path
from comparator.core.errors import InputError, first_line
from comparator.core.metrics import CORPUS
from comparator.core.settings import Settings
from comparator.render.cells import spreadsheet_safe

SUMMARY_FIELDS = ["name", "status", "a", "b", "a_sentences", "b_sentences", "pairs_scored", *CORPUS,
                  "mean_cosine", "flagged", "seconds", "result", "error"]
STATE_FILE = ".batch-state.jsonl"
PAIRS_DIR = "pairs"
ENGINES = ("local", "ray")
# Exit status of `batch` when it ran to the end but some pairs failed (0: all done; 2: bad manifest/usage).
EXIT_SOME_FAILED = 3

ProgressFn = Callable[[str, int, int], None]


@dataclass
class Item:
    """One pair of the manifest: paths as written (relative to the manifest) and resolved."""

    name: str
    a: str = ""
    b: str = ""
    a_path: str = ""
    b_path: str = ""
    where: str = ""  # "line 4", for messages
    error: str | None = None  # a problem found while reading the manifest
    file: str = ""  # the result's file name under pairs/


@dataclass
class BatchReport:
    rows: list[dict[str, Any]]
    outdir: str
    engine: str
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)


# ---- manifests ---------------------------------------------------------------------------------------

def read_manifest(path: str) -> list[Item]:
    """The pairs of a TSV/JSONL manifest or a folder of NAME.a.txt / NAME.b.txt files."""
    if os.path.isdir(path):
        items = _folder_items(path)
    else:
        doc = read_path(path)  # one-line InputError for a missing, binary or oversized manifest
        base = os.path.dirname(os.path.abspath(path))
        lines = doc.text.splitlines()
        first = next((ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
        jsonl = path.lower().endswith((".jsonl", ".ndjson")) or first.startswith("{")
        items = _jsonl_items(lines, base) if jsonl else _tsv_items(lines, base)
    if not items:
        raise InputError(f"{path}: no pairs in the manifest")
    _name_files(items)
    return items


def _resolve(base: str, p: str) -> str:
    p = os.path.expanduser(p)
    return p if os.path.isabs(p) else os.path.join(base, p)


def _tsv_items(lines: list[str], base: str) -> list[Item]:
    items = []
    seen_data = False
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.rstrip("\r\n").split("\t")]
        if not seen_data and [c.lower() for c in cells] == ["name", "a", "b"]:
            seen_data = True
            continue
        seen_data = True
        where = f"line {n}"
        if len(cells) != 3 or not all(cells):
            items.append(Item(name=cells[0] if cells and cells[0] else where, where=where,
                              error=f"{where}: expected 3 tab-separated columns (name, a, b), found {len(cells)}"
                              if len(cells) != 3 else f"{where}: empty name or path"))
            continue
        name, a, b = cells
        items.append(Item(name=name, a=a, b=b, a_path=_resolve(base, a), b_path=_resolve(base, b), where=where))
    return items


def _jsonl_items(lines: list[str], base: str) -> list[Item]:
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"line {n}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            items.append(Item(name=where, where=where, error=f"{where}: not valid JSON ({exc})"))
            continue
        if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) and obj.get(k) for k in ("name", "a", "b")):
            name = obj.get("name") if isinstance(obj, dict) and isinstance(obj.get("name"), str) else where
            items.append(Item(name=name or where, where=where,
                              error=f'{where}: needs string fields "name", "a" and "b"'))
            continue
        items.append(Item(name=obj["name"], a=obj["a"], b=obj["b"], a_path=_resolve(base, obj["a"]),
                          b_path=_resolve(base, obj["b"]), where=where))
    return items


def _folder_items(folder: str) -> list[Item]:
    names: dict[str, dict[str, str]] = {}
    for entry in sorted(os.listdir(folder)):
        m = re.fullmatch(r"(.+)\.([ab])\.txt", entry)
        if m and os.path.isfile(os.path.join(folder, entry)):
            names.setdefault(m.group(1), {})[m.group(2)] = entry
    items = []
    for name, sides in sorted(names.items()):
        a, b = sides.get("a", ""), sides.get("b", "")
        item = Item(name=name, a=a, b=b, a_path=os.path.join(folder, a) if a else "",
                    b_path=os.path.join(folder, b) if b else "", where=name)
        if not a or not b:
            item.error = f"{name}.{'a' if not a else 'b'}.txt is missing"
        items.append(item)
    if not items:
        raise InputError(f"{folder}: no NAME.a.txt / NAME.b.txt files in the folder")
    return items


def safe_name(name: str) -> str:
    """A file name for a pair's result: letters, digits, dot, dash and underscore only, no leading dot."""
    s = re.sub(r"[^\w.-]+", "_", name, flags=re.ASCII).strip("._")
    return s[:120] or "pair"


def _name_files(items: list[Item]) -> None:
    taken: dict[str, str] = {}
    for it in items:
        key = safe_name(it.name)
        if it.error:
            continue
        if key.lower() in taken:
            it.error = f"{it.where}: duplicate name {it.name!r} (also {taken[key.lower()]})"
            continue
        taken[key.lower()] = it.where or it.name
        it.file = key + ".json"


# ---- keys and scoring --------------------------------------------------------------------------------

def pair_key(a: bytes, b: bytes, settings: dict[str, Any]) -> str:
    """What makes a result reusable: both inputs' bytes, the settings and the tool's version."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(a).digest())
    h.update(hashlib.sha256(b).digest())
    h.update(json.dumps({"settings": settings, "version": __version__}, sort_keys=True).encode())
    return h.hexdigest()


def summary_fields(result) -> dict[str, Any]:
    from comparator.analysis.systems import flagged

    c = result.corpus
    return {"a_sentences": len(result.a_sentences), "b_sentences": len(result.b_sentences),
            "pairs_scored": c.get("pairs_scored"), **{m: c.get(m) for m in CORPUS},
            "mean_cosine": c.get("mean_cosine"), "flagged": flagged(result)}


def score_task(task: dict[str, Any], settings: Settings, encoder) -> dict[str, Any]:
    """Score one pair given as bytes: the same call for the local engine and a Ray worker.
    Never raises: a failure is returned as `error` (one line)."""
    from comparator.core.documents import decode
    from comparator.core.pipeline import compare

    start = time.perf_counter()
    out: dict[str, Any] = {"name": task["name"], "ok": False, "json": None, "summary": None, "error": None}
    try:
        doc_a, doc_b = decode(task["a_bytes"], task["a"]), decode(task["b_bytes"], task["b"])
        result = compare(doc_a, doc_b, settings, encoder=encoder)
        out.update(ok=True, json=result.to_json(), summary=summary_fields(result))
    except InputError as exc:
        out["error"] = first_line(exc) or "bad input"
    except Exception as exc:  # a bug or an unforeseen input: this pair fails, the batch goes on
        out["error"] = f"internal error: {type(exc).__name__}: {first_line(exc)}"
    out["seconds"] = round(time.perf_counter() - start, 3)
    out["worker"] = os.getpid()
    return out


# ---- the run -----------------------------------------------------------------------------------------

def output_paths(items: list[Item], outdir: str) -> list[str]:
    """Every path a batch writes: the folder, its summary and state, and each pair's result."""
    pairs_dir = os.path.join(outdir, PAIRS_DIR)
    return [outdir, pairs_dir, os.path.join(outdir, "summary.tsv"), os.path.join(outdir, "summary.json"),
            os.path.join(outdir, STATE_FILE), *(os.path.join(pairs_dir, it.file) for it in items if it.file)]


def check_outputs(items: list[Item], outdir: str, inputs: Iterable[str] = (), protected: Iterable[str] = ()) -> None:
    """Refuse, before anything is written, a batch that would write over one of its inputs (the pairs' files,
    `inputs` such as the manifest) or a `protected` file (the run history)."""
    ins = [p for it in items if not it.error for p in (it.a_path, it.b_path)]
    paths.check_outputs(output_paths(items, outdir), [*ins, *inputs], protected)


def _load_state(path: str) -> dict[str, dict]:
    state: dict[str, dict] = {}
    if not os.path.isfile(path):  # none yet; or something that is not our file (a pipe would block)
        return state
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interrupted run
                if (isinstance(entry, dict) and isinstance(entry.get("file"), str)
                        and isinstance(entry.get("summary", {}), dict)):
                    state[entry["file"]] = entry
    except OSError:
        pass
    return state


def _readable_result(path: str) -> bool:
    """A finished pair's result that still reads back as one (a damaged or hand-edited one is scored again)."""
    from comparator.core.documents import decode
    from comparator.core.result import Comparison

    if not os.path.isfile(path):
        return False
    try:
        Comparison.from_json(decode(read_bytes(path), path).text)
    except InputError:
        return False
    return True


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def run_batch(items: list[Item], outdir: str, settings: Settings, engine: str = "local",
              ray_address: str | None = None, workers: int | None = None, force: bool = False,
              progress: ProgressFn | None = None, on_result: Callable[[dict, str | None], None] | None = None,
              inputs: Iterable[str] = (), protected: Iterable[str] = ()) -> BatchReport:
    """Score every pair not already done; write results, state and summary; return the summary rows.

    `on_result(row, json_text)` is called for every pair as it finishes (json_text None when it failed,
    or when skipped: then the result is on disk). Nothing is written when an output would be one of the
    pairs' files, one of `inputs` (the manifest) or one of `protected` (an InputError says which)."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    check_outputs(items, outdir, inputs, protected)
    start = time.perf_counter()
    pairs_dir = os.path.join(outdir, PAIRS_DIR)
    try:
        os.makedirs(pairs_dir, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{outdir}: cannot create the output folder ({exc.strerror or exc})") from None
    state_path = os.path.join(outdir, STATE_FILE)
    state = _load_state(state_path)
    rows: dict[int, dict[str, Any]] = {}
    total = len(items)
    done = 0
    progress = progress or (lambda s, d, t: None)
    progress("batch", 0, total)

    hashes: dict[int, dict[str, str]] = {}

    def base_row(it: Item, pos: int) -> dict[str, Any]:
        # the inputs' hashes and the worker's process id go to summary.json (and the history), not to the TSV
        return {"name": it.name, "status": "", "a": it.a, "b": it.b, **dict.fromkeys(SUMMARY_FIELDS[4:], None),
                "result": f"{PAIRS_DIR}/{it.file}" if it.file else None,
                **hashes.get(pos, {"a_sha256": None, "b_sha256": None})}

    def finish(pos: int, row: dict[str, Any], text: str | None) -> None:
        nonlocal done
        rows[pos] = row
        done += 1
        if on_result:
            on_result(row, text)
        progress("batch", done, total)

    todo: list[tuple[int, Item, str]] = []
    for pos, it in enumerate(items):
        row = base_row(it, pos)
        if it.error:
            finish(pos, {**row, "status": "failed", "error": it.error, "result": None}, None)
            continue
        try:
            a, b = read_bytes(it.a_path, it.a), read_bytes(it.b_path, it.b)
        except InputError as exc:
            finish(pos, {**row, "status": "failed", "error": first_line(exc), "result": None}, None)
            continue
        key = pair_key(a, b, settings.engine_dict())
        hashes[pos] = {"a_sha256": hashlib.sha256(a).hexdigest(), "b_sha256": hashlib.sha256(b).hexdigest()}
        del a, b
        prev = state.get(it.file)
        if not force and prev and prev.get("key") == key and _readable_result(os.path.join(pairs_dir, it.file)):
            finish(pos, {**base_row(it, pos), **{k: prev.get("summary", {}).get(k) for k in SUMMARY_FIELDS[4:11]},
                         "status": "skipped", "seconds": 0.0}, None)
            continue
        todo.append((pos, it, key))

    def tasks() -> Iterator[tuple[int, Item, str, dict[str, Any]]]:
        # files are read again here, one pair at a time, so that a large batch never holds all its inputs
        for pos, it, key in todo:
            try:
                a, b = read_bytes(it.a_path, it.a), read_bytes(it.b_path, it.b)
            except InputError as exc:
                yield pos, it, key, {"error": first_line(exc)}
                continue
            yield pos, it, key, {"name": it.name, "a": it.a, "b": it.b, "a_bytes": a, "b_bytes": b}

    def collect(pos: int, it: Item, key: str, out: dict[str, Any]) -> None:
        row = base_row(it, pos)
        if not out.get("ok"):
            finish(pos, {**row, "status": "failed", "error": out.get("error") or "failed", "result": None,
                         "seconds": out.get("seconds")}, None)
            return
        _write_atomic(os.path.join(pairs_dir, it.file), out["json"])
        with open(state_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"file": it.file, "name": it.name, "key": key, "summary": out["summary"]},
                                ensure_ascii=False) + "\n")
        finish(pos, {**row, **out["summary"], "status": "done", "seconds": out.get("seconds"),
                     "worker": out.get("worker")}, out["json"])

    if todo:
        runner = _run_local if engine == "local" else _run_ray
        runner(tasks(), settings, collect, ray_address=ray_address, workers=workers, pending=len(todo))
    ordered = [rows[i] for i in range(total)]
    report = BatchReport(rows=ordered, outdir=outdir, engine=engine, seconds=round(time.perf_counter() - start, 3))
    for r in ordered:
        report.counts[r["status"]] = report.counts.get(r["status"], 0) + 1
    write_summary(report)
    return report


def _run_local(tasks: Iterable, settings: Settings, collect, **_) -> None:
    from comparator.core.embed.encoder import get_encoder

    encoder = get_encoder(settings.model, settings.backend)  # once; a bad model is a usage error
    for pos, it, key, task in tasks:
        out = task if "error" in task else score_task(task, settings, encoder)
        collect(pos, it, key, out)


# ---- Ray ---------------------------------------------------------------------------------------------

def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when a cluster address does not answer (Ray itself retries for minutes)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"cannot start Ray: bad address {address!r} (use HOST:PORT or ray://HOST:PORT)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise InputError(f"cannot start Ray: nothing answers at {hostport} ({exc.strerror or exc})") from None


def _is_loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rstrip("/").rpartition(":")[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_ray(address: str | None, workers: int | None):
    """Connect to a cluster, or start a local Ray for this run bound to 127.0.0.1 with no dashboard."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports sent anywhere
    if address is not None:
        _check_reachable(address)
    if address is None or _is_loopback(address):
        # Read by Ray at import: with it off, Ray takes 127.0.0.1 as the node address and binds its gRPC
        # servers there instead of on every interface. A cluster at a loopback address needs it too, or
        # Ray rewrites 127.0.0.1 to this machine's network address, where such a cluster does not listen.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install ray==2.60.0") from None
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                          "configure_logging": True}
    if address is None:
        path = os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH", "")) if p)
        cpus = os.cpu_count() or 1
        # each worker runs its model on its share of the cores, not on all of them
        share = str(max(1, cpus // (workers or cpus)))
        kw.update(address="local", num_cpus=workers or cpus, _node_ip_address="127.0.0.1",
                  runtime_env={"env_vars": {"PYTHONPATH": path, "MT_COMPARATOR_THREADS": share}})
    else:
        # the cluster's workers get this package's code; its dependencies must be installed there
        kw.update(address=address, runtime_env={"py_modules": [os.path.join(_package_root(), "comparator")]})
        kw.pop("include_dashboard")
    try:
        ray.init(**kw)
    except Exception as exc:
        hint = ""
        if address is not None and not os.environ.get("RAY_AUTH_MODE"):
            hint = " (a cluster with token authentication needs RAY_AUTH_MODE=token and its token)"
        raise InputError(f"cannot start Ray: {first_line(exc) or type(exc).__name__}{hint}") from None
    return ray


def _scorer_class(ray):
    @ray.remote(num_cpus=1)
    class PairScorer:
        """One per worker: the model is loaded once, in the constructor, and used for every pair."""

        def __init__(self, settings: Settings):
            from comparator.core.embed.encoder import get_encoder

            self.settings = settings
            self.error = None
            try:
                self.encoder = get_encoder(settings.model, settings.backend)
            except Exception as exc:  # reported by ready(), as the local engine would
                self.encoder, self.error = None, first_line(exc) or type(exc).__name__

        def ready(self):
            return {"pid": os.getpid(), "error": self.error}

        def score(self, task: dict[str, Any]) -> dict[str, Any]:
            from comparator.core import parallel

            with parallel.workers(1):  # one core a worker: Ray spreads the pairs, no forks inside a worker
                return score_task(task, self.settings, self.encoder)

    return PairScorer


def _run_ray(tasks: Iterable, settings: Settings, collect, ray_address: str | None = None,
             workers: int | None = None, pending: int | None = None) -> None:
    ray = start_ray(ray_address, workers)
    try:
        if ray_address is None:
            n = workers or os.cpu_count() or 1
        else:
            n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        n = max(1, min(n, pending or n))  # no actor (and no model load) without a pair for it
        scorer = _scorer_class(ray)
        actors = [scorer.remote(settings) for _ in range(n)]
        try:
            states = ray.get([a.ready.remote() for a in actors])
        except Exception as exc:
            raise InputError(f"cannot start Ray workers: {first_line(exc) or type(exc).__name__}") from None
        errors = [s["error"] for s in states if s["error"]]
        if errors:
            raise InputError(errors[0])
        idle = list(actors)
        running: dict[Any, tuple] = {}
        source = iter(tasks)
        exhausted = False
        while True:
            while idle and not exhausted:
                try:
                    pos, it, key, task = next(source)
                except StopIteration:
                    exhausted = True
                    break
                if "error" in task:
                    collect(pos, it, key, task)
                    continue
                actor = idle.pop()
                running[actor.score.remote(task)] = (actor, pos, it, key)
            if not running:
                break
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                actor, pos, it, key = running.pop(ref)
                try:
                    out = ray.get(ref)
                except Exception as exc:  # the worker died (e.g. out of memory): this pair fails, others go on
                    out = {"ok": False, "error": f"worker failed: {first_line(exc) or type(exc).__name__}"}
                    actor = scorer.remote(settings)
                idle.append(actor)
                collect(pos, it, key, out)
    finally:
        ray.shutdown()


# ---- summary -----------------------------------------------------------------------------------------

def _tsv_cell(v) -> str:
    if v is None:
        return ""
    return spreadsheet_safe(" ".join(str(v).split()))


def write_summary(report: BatchReport) -> None:
    tsv = "\t".join(SUMMARY_FIELDS) + "\n" + "".join(
        "\t".join(_tsv_cell(r.get(k)) for k in SUMMARY_FIELDS) + "\n" for r in report.rows)
    _write_atomic(os.path.join(report.outdir, "summary.tsv"), tsv)
    data = {"engine": report.engine, "seconds": report.seconds, "counts": report.counts, "pairs": report.rows}
    _write_atomic(os.path.join(report.outdir, "summary.json"), json.dumps(data, ensure_ascii=False, indent=1) + "\n")
