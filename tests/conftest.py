import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def sample_texts() -> tuple[str, str]:
    return (EXAMPLES / "reference.txt").read_text(encoding="utf-8"), (EXAMPLES / "machine.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def hash_encoder():
    from comparator.core.embed.encoder import HashEncoder

    return HashEncoder()


@pytest.fixture(scope="session")
def model_encoder():
    """The packaged all-MiniLM-L6-v2, loaded once for the whole test session."""
    from comparator.core.embed.encoder import get_encoder

    return get_encoder()


@pytest.fixture(scope="session")
def sample_result(sample_texts, model_encoder):
    from comparator import compare

    return compare(*sample_texts, encoder=model_encoder)


def run_cli(*args, stdin=None, cwd=ROOT, env=None):
    import subprocess

    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "comparator", *map(str, args)], capture_output=True, text=True,
                          input=stdin, cwd=cwd, env=e, timeout=600)
