"""No output may be an input: whether two paths (or a path and standard input/output) name one file.

Paths are compared resolved (symbolic links followed) and, when both exist, by device and inode, so a
hard link, a bind mount or a differently spelt path to the same file counts as the same file. "-" stands
for standard input among inputs; `STDOUT` for standard output among outputs.
"""
from __future__ import annotations

import os
import stat
import sys
from typing import Iterable

from comparator.core.errors import InputError

STDOUT = "<stdout>"


def _stat(path: str) -> os.stat_result | None:
    """The file behind a path, "-" (standard input) or STDOUT; None when there is none to compare."""
    try:
        if path == "-":
            return os.fstat(sys.stdin.fileno())
        if path == STDOUT:
            return os.fstat(sys.stdout.fileno())
        return os.stat(path)
    except (OSError, ValueError, AttributeError):  # missing, or a replaced stream without a descriptor
        return None


def _resolved(path: str) -> str | None:
    if path in ("-", STDOUT):
        return None
    try:
        return os.path.normcase(os.path.realpath(os.path.abspath(os.path.expanduser(path))))
    except (OSError, ValueError):
        return None


def _keys(path: str) -> set[tuple]:
    """What identifies the file a path names: its resolved path, and its device and inode when it exists
    and is a file or folder (two streams on one terminal or pipe cannot overwrite each other)."""
    keys: set[tuple] = set()
    resolved = _resolved(path)
    if resolved is not None:
        keys.add(("path", resolved))
    st = _stat(path)
    if st is not None and (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        keys.add(("inode", st.st_dev, st.st_ino))
    return keys


def same_file(a: str, b: str) -> bool:
    """True when `a` and `b` name the same file (or the same place, for a file not yet written)."""
    return bool(_keys(a) & _keys(b))


def _shown(path: str) -> str:
    return {"-": "standard input", STDOUT: "standard output"}.get(path, path)


def check_outputs(outputs: Iterable[str | None], inputs: Iterable[str | None], protected: Iterable[str | None] = ()
                  ) -> None:
    """Refuse (InputError, one line) when an output names an input, a protected file (the run history), or
    another output. None entries are skipped; "-" among inputs is standard input, STDOUT among outputs is
    standard output (only a regular file behind it can clash)."""
    seen: dict[tuple, tuple[str, str]] = {}
    for kind, paths in (("input", inputs), ("protected", protected)):
        for p in paths:
            if p:
                for k in _keys(p):
                    seen.setdefault(k, (kind, p))
    for out in outputs:
        if not out:
            continue
        keys = _keys(out)
        clash = next((seen[k] for k in keys if k in seen), None)
        if clash is not None:
            kind, other = clash
            if kind == "input":
                raise InputError(f"{_shown(out)} is also an input ({_shown(other)}): it would be overwritten; "
                                 "write the output somewhere else")
            if kind == "protected":
                raise InputError(f"{_shown(out)} is the run history ({other}): it would be overwritten; "
                                 "write the output somewhere else")
            raise InputError(f"{_shown(out)} and {_shown(other)} are the same file: give two different outputs")
        for k in keys:
            seen[k] = ("output", out)


def check_one_stdin(inputs: Iterable[str]) -> None:
    """Standard input can be read once: refuse two inputs that both read it ("-", or /dev/stdin and the
    like when it is a pipe or a terminal; a regular file behind it can be read twice)."""
    stdin = _stat("-")
    count = 0
    for p in inputs:
        if p == "-":
            count += 1
        elif stdin is not None and not stat.S_ISREG(stdin.st_mode):
            st = _stat(p)
            count += st is not None and os.path.samestat(st, stdin)
    if count > 1:
        raise InputError("only one input can be read from standard input")
