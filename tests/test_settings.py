"""One Settings: its defaults are the only ones, the CLI's options come from it, results record it."""
import pytest

from comparator import compare
from comparator.cli.main import build_parser
from comparator.core.embed.encoder import DEFAULT_MODEL
from comparator.core.errors import InputError
from comparator.core.settings import OPTIONS, Settings


def _score_action(dest):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["score"]
    return next(a for a in sub._actions if a.dest == dest)


def test_cli_choices_and_defaults_come_from_settings():
    for f in OPTIONS:
        action = _score_action(f.name)
        if isinstance(f.default, bool):
            assert action.default is f.default
        else:
            assert action.default == f.default
            assert tuple(action.choices or ()) == tuple(f.metadata["choices"] or ())


def test_empty_model_means_the_default_and_bad_choices_are_input_errors():
    assert Settings(model=None).model == DEFAULT_MODEL
    assert Settings(model="").model == DEFAULT_MODEL
    with pytest.raises(InputError, match="unknown mode"):
        Settings(mode="words")
    with pytest.raises(InputError, match="unknown windows"):
        Settings(windows="sum")


def test_settings_round_trip_through_a_dict():
    s = Settings(mode="lines", ter=True, token_flag=False)
    assert Settings.from_dict({**s.engine_dict(), "version": "x"}) == s


def test_keywords_override_settings_and_are_recorded(hash_encoder):
    r = compare("One cat. Two dogs.", "One cat. Two dogs.", Settings(mode="text"), encoder=hash_encoder,
                mode="lines")
    assert r.settings["mode"] == "lines"
    assert r.settings["model"] == hash_encoder.name


def test_disk_cache_serves_one_run_only(tmp_path, monkeypatch, model_encoder):
    monkeypatch.setenv("MT_COMPARATOR_CACHE", str(tmp_path))
    assert model_encoder.store is None
    compare("The cat sat.", "A cat sat.", encoder=model_encoder, disk_cache=True)
    assert model_encoder.store is None  # the shared encoder is left as it was
    assert (tmp_path / "embeddings.sqlite").exists()
