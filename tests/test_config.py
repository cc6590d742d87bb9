"""ScoreConfig: SCORING.md defaults, TOML loading, clear errors."""

from __future__ import annotations

import pytest

from engine.errors import UserError
from engine.scoring.config import ScoreConfig


def test_defaults_are_the_contract():
    """SCORING.md sections 5, 6 and 8, copied by hand (not read from the code they check)."""
    config = ScoreConfig()
    assert (config.flow_window, config.cluster_window, config.universe_lookback) == (90, 30, 364)
    assert dict(config.role_weights) == {
        "ceo": 1.0,
        "cfo": 1.0,
        "officer": 0.6,
        "director": 0.5,
        "ten_percent": 0.25,
        "other": 0.25,
    }
    assert config.ceo_pattern == r"\b(ceo|chief executive|principal executive)\b"
    assert config.cfo_pattern == r"\b(cfo|chief financial|principal financial)\b"
    assert config.plan_pattern == "10b-?5[-\u2010-\u2014 ]?1" and config.default_plan_pattern
    assert (config.buy_codes, config.sell_codes) == (("P",), ("S",))
    assert (config.plan_weight, config.ddof, config.forms) == (0.0, 0, ("4", "4/A"))
    assert (config.winsorize, config.score_method, config.exclude_routine, config.include_form5) == (
        None,
        "zscore",
        False,
        False,
    )
    assert config.dedupe_affiliated is False


def test_config_is_frozen_and_replace_validates():
    config = ScoreConfig()
    with pytest.raises(AttributeError):
        config.flow_window = 10
    assert config.replace(flow_window=60).flow_window == 60
    with pytest.raises(UserError, match="flow_window"):
        config.replace(flow_window=0)


def test_from_toml_reads_variants_and_partial_role_weights(tmp_path):
    path = tmp_path / "score.toml"
    path.write_text(
        'flow_window = 60\nwinsorize = 0.01\nscore_method = "rank"\ninclude_form5 = true\n'
        "exclude_routine = true\nplan_weight = 0.5\ndedupe_affiliated = true\n"
        "[role_weights]\ndirector = 0.7\n"
    )
    config = ScoreConfig.from_toml(path)
    assert config.flow_window == 60 and config.winsorize == 0.01 and config.score_method == "rank"
    assert config.forms == ("4", "4/A", "5", "5/A") and config.amendment_forms == ("4/A", "5/A")
    assert config.role_weights["director"] == 0.7 and config.role_weights["ceo"] == 1.0
    assert config.plan_weight == 0.5 and config.exclude_routine and config.dedupe_affiliated


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("flow_windw = 60\n", "unknown key.*flow_windw"),
        ("[role_weights]\nchairman = 1.0\n", "unknown role.*chairman"),
        ('score_method = "best"\n', "score_method"),
        ("winsorize = 0.7\n", "winsorize"),
        ('plan_pattern = "10b5(("\n', "plan_pattern"),
        ("flow_window = \n", "not valid TOML"),
        ("plan_weight = -1\n", "plan_weight"),
        ('dedupe_affiliated = "yes"\n', "dedupe_affiliated must be true or false"),
        ("include_form5 = 1\n", "include_form5 must be true or false"),
    ],
)
def test_bad_toml_is_a_user_error_naming_the_key(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=match):
        ScoreConfig.from_toml(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        ScoreConfig.from_toml(tmp_path / "nope.toml")
