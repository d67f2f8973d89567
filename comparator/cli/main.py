"""Scripted runs: `python -m comparator score A B [--mode ...] [--format ...] [-o FILE] [--model ...]`,
`compare REF SYS1 SYS2 ...` (several systems ranked with significance), `batch MANIFEST` (many pairs) and
`history [list|show ID|diff ID1 ID2]` (saved runs).

Exit 0 on success; 2 for bad input or usage, with one line on stderr and no traceback; 1 for an
unexpected failure (one line; `--debug` shows the traceback); `batch` exits 3 when it finished but some
pairs failed (each named on stderr and in its summary).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from comparator.core.errors import InputError, first_line
from comparator.core.marks import FLAG_THRESHOLD


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, instead of usage + message
        raise InputError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    from comparator.render import report

    p = _Parser(prog="python -m comparator", description="Compare two renderings of the same text.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    s = sub.add_parser("score", help="align and score rendering B against reference A")
    s.add_argument("a", help="reference rendering (the original or a human translation); - for stdin")
    s.add_argument("b", help="rendering under review")
    _engine_options(s)
    s.add_argument("--format", choices=list(report.FORMATS), default="json")
    s.add_argument("-o", "--output", help="write here instead of stdout")
    # token vectors are the default since 0.2; the old switch is still accepted
    s.add_argument("--token-flag", dest="token_flag", action="store_const", const=True, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)
    s.add_argument("--no-cache", action="store_true",
                   help="do not keep sentence vectors on disk (default: kept in the cache folder, so re-runs are fast)")
    _history_options(s)
    _add_compare(sub)
    _add_batch(sub)
    _add_history(sub)
    return p


def _engine_options(s) -> None:
    """The scoring options of `score`, shared by `compare` and `batch`."""
    from dataclasses import MISSING

    from comparator.core.settings import OPTIONS

    for f in OPTIONS:
        meta, default = f.metadata, f.default if f.default is not MISSING else None
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            s.add_argument(flag, dest=f.name, action="store_false" if default else "store_true",
                           help=meta["help"].replace("%", "%%"))
        else:
            s.add_argument(flag, dest=f.name, choices=meta["choices"], default=default,
                           help=meta["help"].replace("%", "%%"))
    s.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show a progress bar on stderr")
    s.add_argument("--no-progress", dest="progress", action="store_false", help="never show one")
    s.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")


def _history_options(s) -> None:
    s.add_argument("--save", action="store_true", help="store this run in the run history")
    s.add_argument("--history", metavar="PATH", default=None,
                   help="the history database (default: $MT_COMPARATOR_HISTORY, else "
                        "~/.local/share/mt-comparator/history.sqlite)")


def _add_compare(sub) -> None:
    from comparator.render import systems as system_formats
    c = sub.add_parser("compare", help="score several renderings (systems) against one reference and rank them")
    c.add_argument("reference", help="the reference rendering")
    c.add_argument("systems", nargs="+", metavar="SYSTEM",
                   help="two or more renderings under review; the first is the baseline of the significance tests")
    c.add_argument("--names", nargs="+", metavar="NAME", help="one name per system (default: the file names)")
    c.add_argument("--format", choices=list(system_formats.FORMATS), default="json",
                   help="json: everything; csv/tsv: the system table; html: table and disputed sentences; "
                        "text: the table for a terminal")
    c.add_argument("-o", "--output", help="write here instead of stdout")
    c.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="paired bootstrap resamples (default 1000; seed from SACREBLEU_SEED, default 12345)")
    c.add_argument("--flag-threshold", type=float, default=FLAG_THRESHOLD, metavar="F",
                   help=f"a pair counts as flagged when its flag is at least this (default {FLAG_THRESHOLD})")
    _engine_options(c)
    _history_options(c)


def _add_batch(sub) -> None:
    from comparator.analysis.batch import ENGINES
    b = sub.add_parser("batch", help="score many pairs from a manifest; one result per pair and a summary")
    b.add_argument("manifest", help="TSV (name, a, b), JSONL ({name, a, b}) or a folder of NAME.a.txt/NAME.b.txt")
    b.add_argument("-o", "--output-dir", dest="outdir", default=None,
                   help="where results go (default: MANIFEST-results next to the manifest)")
    b.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: one process (default); ray: Ray actors, one model per worker")
    b.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="an existing Ray cluster (HOST:PORT or ray://HOST:PORT); default: a local Ray for this run")
    b.add_argument("--workers", type=int, default=None, metavar="N",
                   help="Ray workers (default: the CPUs of this machine, or of the cluster)")
    b.add_argument("--force", action="store_true", help="score every pair again, even those already done")
    _engine_options(b)
    _history_options(b)


def _add_history(sub) -> None:
    from comparator.analysis.history import KINDS
    h = sub.add_parser("history", help="saved runs: list, show one, compare two runs of the same texts")
    hs = h.add_subparsers(dest="action", parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument("--history", metavar="PATH", default=None,
                        help="the history database (default: $MT_COMPARATOR_HISTORY, else "
                             "~/.local/share/mt-comparator/history.sqlite)")
    common.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    common.add_argument("-o", "--output", help="write here instead of stdout")
    ls = hs.add_parser("list", parents=[common], help="saved runs, newest first")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50; 0 for all)")
    ls.add_argument("--kind", choices=KINDS, default=None)
    ls.add_argument("--format", choices=["text", "json", "tsv"], default="text")
    sh = hs.add_parser("show", parents=[common], help="one run: its summary, or its whole JSON")
    sh.add_argument("id", help="run id")
    sh.add_argument("--format", choices=["text", "json"], default="text",
                    help="json: the result exactly as the command wrote it")
    df = hs.add_parser("diff", parents=[common], help="compare two runs of the same reference text")
    df.add_argument("old", help="run id (ID:SYSTEM picks a system of a compare run; default its baseline)")
    df.add_argument("new", help="run id, or ID:SYSTEM")
    df.add_argument("--format", choices=["text", "json"], default="text")
    df.add_argument("--all", action="store_true", help="also list the reference sentences that stayed the same")
    # `history --history PATH list` as well as `history list --history PATH` (own dest: a subcommand's
    # defaults would overwrite the same name)
    h.add_argument("--history", dest="history_top", metavar="PATH", default=None, help="the history database")


def _settings(args):
    """The Settings of the engine options given on the command line."""
    from comparator.core.settings import OPTIONS, Settings

    return Settings(**{f.name: getattr(args, f.name) for f in OPTIONS})


class _Bar:
    """A one-line progress bar on stderr, redrawn in place."""

    def __init__(self, stream):
        self.stream = stream
        self.last = 0.0
        self.stage = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == self.stage and done < total and now - self.last < 0.2:
            return
        self.last, self.stage = now, stage
        width = 30
        frac = done / total if total else 1.0
        bar = "#" * int(frac * width)
        self.stream.write(f"\r{stage:<10} [{bar:<{width}}] {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _run_score(args) -> int:
    from comparator.render import report
    from comparator.core.documents import read_path
    from comparator.core.pipeline import compare

    _check_io(args, [args.a, args.b], [args.output])
    doc_a, doc_b = read_path(args.a), read_path(args.b)
    show = args.progress
    if show is None:
        show = sys.stderr.isatty() and (len(doc_a.text) + len(doc_b.text)) > 20_000
    result = compare(doc_a, doc_b, _settings(args).replace(disk_cache=not args.no_cache),
                     progress=_Bar(sys.stderr) if show else None)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    _write(report.FORMATS[args.format](result), args.output)
    if args.save:
        from comparator.analysis.history import inputs_of

        _save(args, "score", result.to_dict(), inputs_of(("reference", doc_a), ("rendering", doc_b)))
    return 0


def _check_io(args, inputs: list[str], outputs: list[str | None]) -> None:
    """Before anything is read or written: one standard input at most, and no output (a file, standard
    output redirected to a file, the run history when saving) that is an input or the run history."""
    from comparator.analysis.history import resolve_path
    from comparator.core.paths import STDOUT, check_one_stdin, check_outputs

    check_one_stdin(inputs)
    outs = [o or STDOUT for o in outputs]
    history = resolve_path(getattr(args, "history", None) or getattr(args, "history_top", None))
    check_outputs(outs, inputs, protected=[history])
    if getattr(args, "save", False):  # the run history is written too: refused now rather than after the run
        from comparator.analysis.history import History

        check_outputs([history], inputs)
        History(history).close()


def _write(text: str, output: str | None) -> None:
    if output:
        try:
            with open(output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise InputError(f"{output}: cannot write ({exc.strerror or exc})") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _save(args, kind: str, result: dict, inputs: list, **kw) -> int:
    from comparator.analysis.history import History

    with History(args.history) as h:
        run_id, new = h.save(kind, result, inputs, **kw)
        where = h.path
    print(f"{'saved as' if new else 'already saved as'} run {run_id} in {where}", file=sys.stderr)
    return run_id


def _show_progress(args, size: int) -> bool:
    if args.progress is not None:
        return args.progress
    return sys.stderr.isatty() and size > 20_000


def _run_compare(args) -> int:
    from comparator.core.documents import read_path
    from comparator.analysis.history import inputs_of
    from comparator.analysis.systems import compare_systems, default_name
    from comparator.render.systems import FORMATS

    if len(args.systems) < 2:
        raise InputError("compare needs at least two systems (for one, use: score REFERENCE SYSTEM)")
    if args.names is not None and len(args.names) != len(args.systems):
        raise InputError(f"--names gives {len(args.names)} names for {len(args.systems)} systems")
    if args.bootstrap < 1:
        raise InputError("--bootstrap must be at least 1")
    _check_io(args, [args.reference, *args.systems], [args.output])
    ref = read_path(args.reference)
    docs = [read_path(p) for p in args.systems]
    names = args.names or [default_name(p) for p in args.systems]
    size = len(ref.text) * len(docs) + sum(len(d.text) for d in docs)
    result = compare_systems(ref, list(zip(names, docs)), _settings(args), n_samples=args.bootstrap,
                             flag_threshold=args.flag_threshold,
                             progress=_Bar(sys.stderr) if _show_progress(args, size) else None)
    for note in dict.fromkeys(n for r in result.systems for n in r.notes):
        print(f"note: {note}", file=sys.stderr)
    _write(FORMATS[args.format](result), args.output)
    if args.save:
        _save(args, "compare", result.to_dict(),
              inputs_of(("reference", ref), *((f"system {n}", d) for n, d in zip(result.names, docs))))
    return 0


def _run_batch(args) -> int:
    import json
    import uuid

    from comparator.analysis.batch import EXIT_SOME_FAILED, check_outputs, read_manifest, run_batch
    from comparator.core.documents import decode, read_bytes
    from comparator.analysis.history import resolve_path
    from comparator.core.paths import check_outputs as check_paths
    from comparator.core.result import Comparison

    if args.workers is not None and args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.engine != "ray" and (args.workers is not None or args.ray_address):
        raise InputError("--workers and --ray-address go with --engine ray")
    items = read_manifest(args.manifest)
    outdir = args.outdir or os.path.splitext(args.manifest.rstrip("/\\"))[0] + "-results"
    history_path = resolve_path(args.history)
    protected = [history_path]
    check_outputs(items, outdir, [args.manifest], protected)
    if args.save:  # the run history is written too
        check_paths([history_path], [args.manifest, *(p for it in items for p in (it.a_path, it.b_path))])
    settings = _settings(args)
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    history = None
    batch_id = uuid.uuid4().hex[:12]
    if args.save:
        from comparator.analysis.history import History

        history = History(args.history)
    saved = []

    def on_result(row, text):
        if row["status"] == "failed":
            if show:
                sys.stderr.write("\r\033[K")
            print(f"failed: {row['name']}: {row['error']}", file=sys.stderr)
        elif history is not None:
            if text is None:  # skipped: the result is the one on disk (checked by run_batch before skipping)
                path = os.path.join(outdir, row["result"])
                text = decode(read_bytes(path), path).text
            inputs = [{"role": "reference", "name": row["a"], "sha256": row.get("a_sha256")},
                      {"role": "rendering", "name": row["b"], "sha256": row.get("b_sha256")}]
            Comparison.from_json(text)  # one line, not a traceback, should the file have changed since
            saved.append(history.save("batch", json.loads(text), inputs, label=row["name"], batch=batch_id))

    try:
        report = run_batch(items, outdir, settings, engine=args.engine, ray_address=args.ray_address,
                           workers=args.workers, force=args.force, progress=_Bar(sys.stderr) if show else None,
                           on_result=on_result, inputs=[args.manifest], protected=protected)
    finally:
        if history is not None:
            history.close()
    c = report.counts
    print(f"batch: {c.get('done', 0)} done, {c.get('skipped', 0)} skipped (already done), {c.get('failed', 0)} "
          f"failed, in {report.seconds:.1f} s with the {report.engine} engine; summary in "
          f"{os.path.join(outdir, 'summary.tsv')}", file=sys.stderr)
    if saved:
        new = [i for i, fresh in saved if fresh]
        print(f"saved {len(new)} new runs" + (f" ({min(new)}..{max(new)}, batch {batch_id})" if new else "")
              + f", {len(saved) - len(new)} already saved, in {history.path}", file=sys.stderr)
    return EXIT_SOME_FAILED if report.failed else 0


def _run_history(args) -> int:
    import json

    from comparator.analysis import history as hist

    action = args.action or "list"
    output = getattr(args, "output", None)
    _check_io(args, [], [output])
    with hist.History(getattr(args, "history", None) or args.history_top, create=False) as h:
        if action == "list":
            runs = h.runs(limit=getattr(args, "limit", 50) or None, kind=getattr(args, "kind", None))
            rows = hist.list_rows(runs)
            fmt = getattr(args, "format", "text")
            if fmt == "json":
                text = json.dumps(runs, ensure_ascii=False, indent=1) + "\n"
            elif fmt == "tsv":
                text = "\t".join(hist.LIST_COLUMNS) + "\n" + "".join(
                    "\t".join("" if r[c] is None else " ".join(str(r[c]).split()) for c in hist.LIST_COLUMNS) + "\n"
                    for r in rows)
            else:
                text = hist.format_table(rows, hist.LIST_COLUMNS) if rows else f"no saved runs in {h.path}\n"
        elif action == "show":
            if not str(args.id).isdigit():
                raise InputError(f"{args.id!r} is not a run id")
            if args.format == "json":
                text = h.result_text(int(args.id))
            else:
                run = h.get(int(args.id))
                text = _show_text(run)
        else:
            old, old_label = h.comparison(args.old)
            new, new_label = h.comparison(args.new)
            d = hist.diff_results(old, new, old_label, new_label)
            text = json.dumps(d, ensure_ascii=False, indent=1) + "\n" if args.format == "json" else \
                hist.diff_text(d, show_all=args.all)
    _write(text, output)
    return 0


def _show_text(run: dict) -> str:
    from comparator.analysis import history as hist
    from comparator.core.result import Comparison

    lines = [f"run {run['id']}: {run['kind']} from {run['source']}, {run['created']}"
             + (f", label {run['label']}" if run.get("label") else "")
             + (f", batch {run['batch']}" if run.get("batch") else "")]
    s = run.get("settings") or {}
    lines.append(f"settings: mode {s.get('mode')}, model {s.get('model')}, backend {s.get('backend')}")
    for entry in run.get("inputs") or []:
        lines.append(f"{entry.get('role')}: {entry.get('name')}  sha256 {entry.get('sha256') or '–'}")
    if run["kind"] == "compare":
        from comparator.analysis.systems import SystemsComparison
        from comparator.render.systems import to_text

        lines.append("")
        lines.append(to_text(SystemsComparison.from_dict(run["result"])).rstrip())
    else:
        result = Comparison.from_dict(run["result"])
        rows = hist.list_rows([run])
        lines.append(hist.format_table(rows, ["bleu", "chrf", "mean_cosine", "flagged"]).rstrip())
        lines.append(f"{len(result.a_sentences)} reference sentences, {len(result.b_sentences)} rendering "
                     f"sentences, {len(result.pairs)} pairs; the whole result: history show {run['id']} --format json")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if args.version:
            from comparator import __version__

            print(__version__)
            return 0
        commands = {"score": _run_score, "compare": _run_compare, "batch": _run_batch, "history": _run_history}
        if args.command not in commands:
            raise InputError("python -m comparator: give a command: score A B, compare REF SYS1 SYS2, "
                             "batch MANIFEST or history (see --help)")
        return commands[args.command](args)
    except InputError as exc:
        print(f"error: {first_line(exc, 'bad input')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`); quiet, as other command-line tools are
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as exc:  # an unexpected failure: still one line unless asked for more
        if debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {first_line(exc)}",
              file=sys.stderr)
        return 1
