"""Scripted runs: `python -m comparator score A B [--mode ...] [--format ...] [-o FILE] [--model ...]`.

Exit 0 on success; 2 for bad input or usage, with one line on stderr and no traceback; 1 for an
unexpected failure (one line; `--debug` shows the traceback).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from .errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, instead of usage + message
        raise InputError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m comparator", description="Compare two renderings of the same text.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    s = sub.add_parser("score", help="align and score rendering B against reference A")
    s.add_argument("a", help="reference rendering (the original or a human translation); - for stdin")
    s.add_argument("b", help="rendering under review")
    s.add_argument("--mode", choices=["text", "lines", "aligned"], default="text",
                   help="text: find sentences (default); lines: one sentence a line, aligned; "
                        "aligned: line i of A with line i of B")
    s.add_argument("--format", choices=["json", "csv", "tsv", "html"], default="json")
    s.add_argument("-o", "--output", help="write here instead of stdout")
    s.add_argument("--model", default=None,
                   help="sentence-transformers model folder or name (default: the packaged all-MiniLM-L6-v2; "
                        "'hash' for a model-free encoder)")
    s.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto",
                   help="how the model runs: auto (ONNX Runtime where the model allows, else torch), onnx, torch")
    s.add_argument("--windows", choices=["embed", "mean"], default="embed",
                   help="merged-sentence vectors for alignment: embed the joined text (default) or average")
    s.add_argument("--no-cache", action="store_true",
                   help="do not keep sentence vectors on disk (default: kept in the cache folder, so re-runs are fast)")
    s.add_argument("--ter", action="store_true", help="also compute TER per pair and for the corpus")
    s.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show a progress bar on stderr")
    s.add_argument("--no-progress", dest="progress", action="store_false", help="never show one")
    s.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    return p


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
    from . import report
    from .documents import read_path
    from .engine import compare

    doc_a, doc_b = read_path(args.a), read_path(args.b)
    show = args.progress
    if show is None:
        show = sys.stderr.isatty() and (len(doc_a.text) + len(doc_b.text)) > 20_000
    result = compare(doc_a, doc_b, mode=args.mode, model=args.model, backend=args.backend, ter=args.ter,
                     windows=args.windows, disk_cache=not args.no_cache,
                     progress=_Bar(sys.stderr) if show else None)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    text = report.FORMATS[args.format](result)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise InputError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if args.version:
            from . import __version__

            print(__version__)
            return 0
        if args.command != "score":
            raise InputError("python -m comparator: give a command: score A B (see --help)")
        return _run_score(args)
    except InputError as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else 'bad input'}", file=sys.stderr)
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
        print(f"error: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1
