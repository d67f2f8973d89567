"""Compare two renderings of the same text: align their sentences, score each pair, mark where the
rendering reads wrong.

    from comparator import Settings, compare
    result = compare(reference_text, rendering_text)                # -> Comparison
    result = compare(reference_text, rendering_text, Settings(mode="lines"))
    result.pairs[0].cosine, result.corpus["chrf"]

The package: `core/` is the pipeline (read -> segment -> embed -> align -> score -> mark), `analysis/`
what is built on comparisons (several systems, run history, batch), `render/` the exports, `cli/` the
command line and `dashboard/` everything that imports streamlit.
"""
__version__ = "0.2.0"

from comparator.core.errors import InputError  # noqa: E402
from comparator.core.result import Comparison, Pair  # noqa: E402


def compare(*args, **kwargs):
    """See comparator.core.pipeline.compare (imported lazily so that `import comparator` stays light)."""
    from comparator.core.pipeline import compare as _compare

    return _compare(*args, **kwargs)


def compare_files(*args, **kwargs):
    from comparator.core.pipeline import compare_files as _compare_files

    return _compare_files(*args, **kwargs)


def __getattr__(name: str):
    if name == "Settings":  # lazily too: it names the encoders' defaults
        from comparator.core.settings import Settings

        return Settings
    raise AttributeError(f"module 'comparator' has no attribute {name!r}")


__all__ = ["compare", "compare_files", "Settings", "Comparison", "Pair", "InputError", "__version__"]
