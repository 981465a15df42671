"""What the image and the text run configurations share (training.config, text.config).

- `ConfigBase`: a dataclass mixin written to and read from a run's config.json. Reading refuses a
  key the configuration does not have and a value of the wrong type, naming both and the file;
  a key the file lacks takes the field's default (files written before the field existed).
- `Preset`: a named set of overrides of a configuration's defaults, nanoGPT style: `config` holds
  what differs in every mode, `modes` what differs in one mode only.
- `resolve_preset` and `fine_tune_values`: a preset's configuration for one mode, and a fine-tune's
  configuration as its baseline's with a named list of fields reset to the fine-tune recipe.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import numbers
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

from ..errors import UserInputError


class ConfigError(UserInputError, TypeError):
    """A configuration with a key it does not have or a value of the wrong type.

    Also a TypeError, as a bad keyword to the dataclass would be, so that callers wrapping a
    file's TypeError keep adding the file's name."""


class ConfigBase:
    """Mixin of the run configuration dataclasses: to/from dict and JSON, type validation."""

    KIND: ClassVar[str] = "run"  # for messages: "not a valid {KIND} configuration"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def refuse_unknown(cls, keys, where: str) -> None:
        unknown = [k for k in keys if k not in set(cls.field_names())]
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} ({cls.__name__} has no such "
                              "field: a typo, or a file from another version?)")

    @classmethod
    def coerced(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` with JSON's lists made tuples where the field is a tuple, and fresh copies of
        lists and dicts (so a config never shares a preset's mutable value)."""
        hints = _hints(cls)
        out = {}
        for name, value in values.items():
            container = _container_of(hints.get(name))
            # A list for a dict field (or the reverse) is left as it is: check_types names it.
            if container is not None and isinstance(value, (list, tuple, dict)) and \
                    (container is dict) == isinstance(value, dict):
                value = container(copy.deepcopy(value))
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "config"):
        """The configuration stored as `data`: unknown keys and mistyped values refused."""
        cls.refuse_unknown(data, where)
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in data
                   and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ConfigError(f"{where}: the required key {missing[0]!r} is missing")
        cfg = cls(**cls.coerced(data))
        cfg.check_types(where)
        return cfg

    @classmethod
    def from_file(cls, path: str | Path):
        """Read a config.json; every error names the file."""
        fix = "restore it from a copy, or start a new run with another --out"
        try:
            data = json.loads(Path(path).read_bytes().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # both ValueErrors
            raise UserInputError(f"{path} is not a valid {cls.KIND} configuration ({exc}); "
                                 f"{fix}") from None
        if not isinstance(data, dict):
            raise UserInputError(f"{path} is not a valid {cls.KIND} configuration (a JSON "
                                 f"{type(data).__name__}, not an object); {fix}")
        try:
            return cls.from_dict(data, where=str(path))
        except ConfigError as exc:
            raise ConfigError(f"{exc}; {fix}") from None

    def check_types(self, where: str = "config") -> None:
        """Every field's value has the field's annotated type (an int passes for a float)."""
        for name, hint in _hints(type(self)).items():
            value = getattr(self, name)
            if not _matches(value, hint):
                raise ConfigError(f"{where}: {name} = {value!r} is not of type {_describe(hint)}")


@dataclass(frozen=True)
class Preset:
    """Named overrides of a configuration's defaults: `config` in every mode, then `modes[mode]`."""

    name: str
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)
    modes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def overrides(self, mode: str) -> dict[str, Any]:
        return {**self.config, **self.modes.get(mode, {})}

    # The data a preset names (None: the user must name it), read by `oe reproduce`.
    @property
    def train(self) -> str | None:
        return self.config.get("train")

    @property
    def test(self) -> str | None:
        return self.config.get("test")

    @property
    def outliers(self) -> str | None:
        return self.config.get("outliers")

    @property
    def ood(self) -> tuple[str, ...]:
        return tuple(self.config.get("ood", ()))


def resolve_preset(config_cls: type[ConfigBase], preset: Preset, mode: str,
                   overrides: Mapping[str, Any],
                   mode_defaults: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The values of `preset` for `mode`, lowest first: the dataclass defaults (left to the
    constructor), `mode_defaults[mode]`, the preset's `config`, its `modes[mode]`, then every
    non-None override. A baseline trains without outliers whatever the preset names."""
    for where, values in [("config", preset.config)] + [
            (f"modes[{m!r}]", v) for m, v in preset.modes.items()]:
        config_cls.refuse_unknown(values, f"preset {preset.name!r} {where}")
    values = {**(mode_defaults or {}).get(mode, {}), **preset.overrides(mode),
              "mode": mode, "preset": preset.name}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if mode == "baseline":
        values["outliers"] = None
    return config_cls.coerced(values)


def fine_tune_values(base: ConfigBase, resets: tuple[str, ...]) -> dict[str, Any]:
    """The baseline's values that a fine-tune keeps: all but `resets` (which the fine-tune recipe
    sets) and the mode and preset (set when the fine-tune is resolved)."""
    dropped = set(resets) | {"mode", "preset"}
    return {k: v for k, v in base.to_dict().items() if k not in dropped}


def _hints(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {name: hints[name] for name in cls.field_names()}


def _container_of(hint):
    """tuple, list or dict when the annotation (or its non-None branch) is one, else None."""
    for option in _options(hint):
        origin = typing.get_origin(option) or option
        if origin in (tuple, list, dict):
            return origin
    return None


def _options(hint) -> tuple:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _matches(value, hint) -> bool:
    if hint is Any:
        return True
    if len(_options(hint)) > 1:
        return any(_matches(value, option) for option in _options(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    origin, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    if origin is dict:
        return isinstance(value, dict)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_matches, value, args))
        return not args or all(_matches(v, args[0]) for v in value)
    return isinstance(value, origin)


def _describe(hint) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)
