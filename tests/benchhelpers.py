"""What the tests of bench/ scripts share: loading a script as a module."""
from __future__ import annotations

import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


@contextmanager
def bench_module(name: str):
    """bench/NAME.py loaded as a module, with bench/ on sys.path meanwhile (the scripts import each other)
    and the module in sys.modules (dataclasses look their module up)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(name, None)
        sys.path.remove(str(BENCH))
