"""The settings of a comparison: one frozen value, built by the CLI and the dashboard, stored by batch and
history, recorded in every result. Its defaults are the only ones; the CLI's options are made from its fields
(`cli.main` reads `OPTIONS`), as sacrebleu's CLI reads its metric classes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from comparator.core import languages as langs
from comparator.core.align import AlignParams
from comparator.core.embed.encoder import (
    BACKENDS,
    DEFAULT_MODEL,
    HASH_MODEL,
    MULTILINGUAL_MODEL,
)
from comparator.core.errors import InputError
from comparator.core.segment import MODES

WINDOW_MODES = ("embed", "mean")


def _option(help: str, flag: str | None = None, choices: tuple | None = None) -> dict[str, Any]:
    """Field metadata for the CLI: its help, its switch (default: --field-name), its choices."""
    return {"help": help, "flag": flag, "choices": choices}


@dataclass(frozen=True)
class Settings:
    mode: str = field(default="text", metadata=_option(
        "text: find sentences (default); lines: one sentence a line, aligned; aligned: line i of A with line i of B",
        choices=MODES))
    model: str = field(default=DEFAULT_MODEL, metadata=_option(
        f"the packaged {DEFAULT_MODEL} (default, English), '{MULTILINGUAL_MODEL}' (the packaged multilingual "
        f"encoder: A and B in different languages), '{HASH_MODEL}' (model-free), or a sentence-transformers "
        "model folder or name"))
    backend: str = field(default="auto", metadata=_option(
        "how the model runs: auto (ONNX Runtime where the model allows, else torch), onnx, torch; "
        "onnx-int8: weights quantised to 8 bits (faster; vectors about 0.99 of fp32's, stored apart), "
        "onnx-fused: ONNX Runtime's fused transformer graph, onnx-fp32: the plain export (the default)",
        choices=BACKENDS))
    windows: str = field(default="mean", metadata=_option(
        "vectors of merged sentences for alignment: the length-weighted mean of the sentence vectors (default; "
        "as accurate on the alignment benchmark) or the model run on the joined text (about 6x the model work)",
        choices=WINDOW_MODES))
    ter: bool = field(default=False, metadata=_option("also compute TER per pair and for the corpus"))
    languages: str = field(default="auto", metadata=_option(
        "the languages of A and B, e.g. zh,en, or auto (found from the text); when they differ, BLEU, chrF and "
        "TER are not computed (null, with the reason) and word-level marks are off"))
    # the pairs' contextual token vectors, which the flag uses to tell a rewording from a loss
    token_flag: bool = field(default=True, metadata=_option(
        "leave out the pairs' contextual token vectors, which the flag uses to tell a rewording from a loss; "
        "the flag then uses the sentence cosine", flag="--no-token-vectors"))
    align: AlignParams = AlignParams()
    # keep sentence vectors in the on-disk store for this run (the CLI's default; the dashboard never does)
    disk_cache: bool = False

    def __post_init__(self) -> None:
        if not self.model:  # "no model given" means the default, here and only here
            object.__setattr__(self, "model", DEFAULT_MODEL)
        for f in fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise InputError(f"unknown {f.name} {value!r}: use one of {', '.join(choices)}")
        try:
            langs.parse(self.languages)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if isinstance(self.align, dict):
            object.__setattr__(self, "align", AlignParams(**self.align))

    def replace(self, **changes) -> Settings:
        return replace(self, **changes)

    def engine_dict(self) -> dict[str, Any]:
        """What decides a result's numbers (batch keys its stored results by it; history shows it)."""
        out = {"mode": self.mode, "model": self.model, "backend": self.backend, "windows": self.windows,
               "ter": self.ter, "token_flag": self.token_flag}
        if self.languages != "auto":  # only when given, so that the keys of batches stored before it still match
            out["languages"] = self.languages
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Settings from a stored dict (a result's, a batch's); unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names and v is not None})
        except TypeError as exc:
            raise InputError(f"bad settings: {exc}") from None


# the fields the CLI offers, in this order, with their metadata
OPTIONS = tuple(f for f in fields(Settings) if "help" in f.metadata)
