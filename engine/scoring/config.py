"""Every constant of the insider factor (SCORING.md) as a default of one frozen, TOML-loadable object."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.errors import UserError
from parsers.plan import PLAN_PATTERN
from parsers.roles import CEO_PATTERN, CFO_PATTERN, ROLE_WEIGHTS

ROLES: tuple[str, ...] = ("ceo", "cfo", "officer", "director", "ten_percent", "other")
"""The owner roles of SCORING.md section 6, highest weight first under the defaults."""

SCORE_METHODS: tuple[str, ...] = ("zscore", "rank")


def _frozen_weights(weights: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType({role: float(weights[role]) for role in ROLES})


@dataclass(frozen=True)
class ScoreConfig:
    """The score's definition: SCORING.md constants as defaults, the optional variants off by default."""

    flow_window: int = 90
    """Calendar days of the buys/sells window, inclusive: ``t - 89 <= available_date <= t``."""
    cluster_window: int = 30
    """Calendar days of the distinct-insider window, inclusive: ``t - 29 <= available_date <= t``."""
    universe_lookback: int = 364
    """An issuer is in the universe on t with an ownership filing available in ``[t - 364, t]``."""
    role_weights: Mapping[str, float] = field(default_factory=lambda: _frozen_weights(ROLE_WEIGHTS))
    ceo_pattern: str = CEO_PATTERN.pattern
    cfo_pattern: str = CFO_PATTERN.pattern
    plan_pattern: str = PLAN_PATTERN.pattern
    """Rule 10b5-1 text pattern, matched case-insensitively against remarks and referenced footnotes."""
    plan_weight: float = 0.0
    """Weight of a plan trade in the sums and the cluster; 0 drops plan trades (the default)."""
    buy_codes: tuple[str, ...] = ("P",)
    sell_codes: tuple[str, ...] = ("S",)
    include_form5: bool = False
    """Count Form 5 / 5/A transactions too (a 5/A then supersedes like a 4/A)."""
    ddof: int = 0
    """Delta degrees of freedom of the cross-sectional std (0 = population std)."""
    winsorize: float | None = None
    """Clip ``raw`` to its ``[q, 1 - q]`` cross-sectional quantiles before scoring; None = off."""
    score_method: str = "zscore"
    """``zscore`` (default) or ``rank``: the z-score of the cross-sectional average ranks of ``raw``."""
    exclude_routine: bool = False
    """Drop routine traders (Cohen-Malloy-Pomorski): an insider who traded the issuer in the same calendar
    month in each of the three preceding calendar years is routine for the whole year."""
    dedupe_affiliated: bool = False
    """Count one block once when affiliated filers report it in several accessions available the same day:
    a trade with the issuer, trade date, code, shares and price of a trade in an earlier accession of the
    same available date that shares a reporting-owner CIK with its own is left out."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "role_weights", _frozen_weights(self._checked_weights()))
        object.__setattr__(self, "buy_codes", tuple(self.buy_codes))
        object.__setattr__(self, "sell_codes", tuple(self.sell_codes))
        self._validate()

    def _checked_weights(self) -> Mapping[str, float]:
        unknown = sorted(set(self.role_weights) - set(ROLES))
        if unknown:
            raise UserError(f"unknown role(s) in role_weights: {', '.join(unknown)}", fix=f"use {ROLES}")
        merged = {**ROLE_WEIGHTS, **self.role_weights}
        for role, weight in merged.items():
            if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
                raise UserError(f"role_weights.{role} must be a finite number >= 0, got {weight!r}")
        return merged

    def _validate(self) -> None:
        for name in ("flow_window", "cluster_window", "universe_lookback"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{name} must be a whole number of days >= 1, got {value!r}")
        if not isinstance(self.plan_weight, int | float) or not 0 <= self.plan_weight <= 1:
            raise UserError(f"plan_weight must be between 0 and 1, got {self.plan_weight!r}")
        for name in ("include_form5", "exclude_routine", "dedupe_affiliated"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.ddof not in (0, 1):
            raise UserError(f"ddof must be 0 or 1, got {self.ddof!r}")
        if self.winsorize is not None and not (
            isinstance(self.winsorize, int | float) and 0 <= self.winsorize < 0.5
        ):
            raise UserError(f"winsorize must be a quantile in [0, 0.5) or absent, got {self.winsorize!r}")
        if self.score_method not in SCORE_METHODS:
            raise UserError(f"score_method must be one of {SCORE_METHODS}, got {self.score_method!r}")
        if set(self.buy_codes) & set(self.sell_codes) or not self.buy_codes or not self.sell_codes:
            raise UserError("buy_codes and sell_codes must be non-empty and disjoint")
        for name in ("ceo_pattern", "cfo_pattern", "plan_pattern"):
            try:
                re.compile(getattr(self, name))
            except re.error as exc:
                raise UserError(f"{name} is not a valid regular expression: {exc}") from exc

    @property
    def forms(self) -> tuple[str, ...]:
        """Document types whose non-derivative rows are eligible (SCORING.md section 2)."""
        return ("4", "4/A", "5", "5/A") if self.include_form5 else ("4", "4/A")

    @property
    def amendment_forms(self) -> tuple[str, ...]:
        """Document types that supersede earlier filings (SCORING.md section 4)."""
        return ("4/A", "5/A") if self.include_form5 else ("4/A",)

    @property
    def default_plan_pattern(self) -> bool:
        """True when the plan regex is the one the store's ``plan`` column was computed with."""
        return self.plan_pattern == PLAN_PATTERN.pattern

    def replace(self, **changes: Any) -> ScoreConfig:
        """A copy with some values changed (validated like the original)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_toml(cls, path: str | Path) -> ScoreConfig:
        """Load a config from a TOML file of top-level keys (``[role_weights]`` as a table)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise UserError(f"config file not found: {path}", fix="pass an existing .toml file") from exc
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path} is not valid TOML: {exc}") from exc
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "config") -> ScoreConfig:
        """Build a config from plain values, rejecting unknown keys by name."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(
                f"{source}: unknown key(s) {', '.join(unknown)}",
                fix=f"valid keys are: {', '.join(sorted(known))}",
            )
        values = dict(data)
        for name in ("buy_codes", "sell_codes"):
            if name in values:
                values[name] = tuple(values[name])
        try:
            return cls(**values)
        except UserError as exc:
            raise UserError(f"{source}: {exc}", fix=exc.fix) from exc
