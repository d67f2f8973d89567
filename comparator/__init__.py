"""Compare two renderings of the same text: align their sentences, score each pair, flag awkward phrasing.

    from comparator import compare
    result = compare(reference_text, rendering_text)      # -> Comparison
    result.pairs[0].cosine, result.corpus["chrf"]
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


__all__ = ["compare", "compare_files", "Comparison", "Pair", "InputError", "__version__"]
