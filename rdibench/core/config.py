"""Declarative YAML configs validated up front, with errors that name the file, key path, line and allowed values."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rdibench.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


def parse_fraction(value: Any) -> Any:
    """Accept ``"8/255"`` (as papers write eps) or ``"0.3"`` wherever a float is expected; anything else is
    returned as is, for the schema to report."""
    if isinstance(value, str):
        num, slash, den = value.partition("/")
        try:
            return float(num) / float(den) if slash else float(num)
        except (ValueError, ZeroDivisionError):
            return value
    return value


def _lines(node: yaml.Node, loc: Loc, out: dict[Loc, int], source: str) -> None:
    """1-based line of every key path; a key given twice is an error (PyYAML would silently keep the last)."""
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            sub = (*loc, key.value)
            if key.value in seen and key.value != "<<":
                raise ConfigError(f"{source}:{key.start_mark.line + 1}: {'.'.join(map(str, sub))}: key given twice")
            seen.add(key.value)
            _lines(value, sub, out, source)
            out[sub] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*loc, i), out, source)


def load_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """``yaml.safe_load`` plus the line of every key, so validation errors can point into the file."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from e
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    lines: dict[Loc, int] = {}
    if node is not None:
        _lines(node, (), lines, str(path))
    return data, lines


def _schema_at(schema: dict[str, Any], loc: Loc) -> dict[str, Any] | None:
    """The JSON-schema node that describes ``loc`` (follows $ref, arrays, anyOf)."""
    defs = schema.get("$defs", {})

    def deref(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].split("/")[-1]]
        return node

    node = deref(schema)
    for part in loc:
        if "anyOf" in node:
            node = deref(next((n for n in node["anyOf"] if n.get("type") != "null"), node["anyOf"][0]))
        if isinstance(part, int):
            node = deref(node.get("items", {}))
        elif part in node.get("properties", {}):
            node = deref(node["properties"][part])
        else:
            return None
    if "anyOf" in node:
        node = deref(next((n for n in node["anyOf"] if n.get("type") != "null"), node["anyOf"][0]))
    return node


def describe_errors(e: ValidationError, model: type[BaseModel], source: str, lines: dict[Loc, int]) -> str:
    """One line per problem: ``file:line: key.path: message (allowed ...; did you mean ...)``."""
    schema = model.model_json_schema()
    out = []
    for err in e.errors():
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function"))))
        where = ".".join(str(p) for p in loc) or "(top level)"
        line = next((lines[loc[:i]] for i in range(len(loc), -1, -1) if loc[:i] in lines), None)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = _schema_at(schema, loc[:-1]) or {}
            allowed = sorted(parent.get("properties", {}))
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            msg = f"unknown key{f'; did you mean {close[0]!r}?' if close else '.'} Allowed keys: {', '.join(allowed)}"
        elif err["type"] == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
            close = difflib.get_close_matches(str(err.get("input")), options, n=1)
            msg = f"{msg}{f'; did you mean {close[0]!r}?' if close else ''}"
        elif err["type"] == "missing":
            node = _schema_at(schema, loc)
            if node and node.get("description"):
                msg = f"{msg} ({node['description']})"
        elif "input" in err and not isinstance(err["input"], (dict, list)):
            msg = f"{msg.removeprefix('Value error, ')} (got {err['input']!r})"
        out.append(f"{source}{f':{line}' if line else ''}: {where}: {msg}")
    return "\n".join(out)


def validate(model: type[M], data: Any, *, source: str, lines: dict[Loc, int] | None = None) -> M:
    """Validate ``data`` into ``model`` or raise one ConfigError listing every problem with its place."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe_errors(e, model, source, lines or {})) from None


def load_config(model: type[M], path: Path) -> M:
    data, lines = load_yaml(path)
    return validate(model, data, source=str(path), lines=lines)
