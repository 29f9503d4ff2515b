"""A config's validation errors as at most three lines: the file and the count, then the fields."""

from __future__ import annotations

import difflib
import re
from typing import Any

import yaml
from pydantic import BaseModel

# Two lines of problems after the heading line, each about a terminal wide.
LINE_WIDTH = 100
MAX_LINES = 2
# A union field (int | 'auto') reports one error per member, tagged with the member's type.
_UNION_MEMBER = re.compile(r"^(int|float|str|bool|none|literal\[.*\])$")


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The settings model a location points into, if it is one (for naming its known keys)."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        inner = getattr(field, "annotation", None) if field else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return None
        model = inner
    return model


def _unknown_key(model: type[BaseModel], loc: tuple) -> str:
    known = _model_at(model, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), list(known.model_fields) if known else [], 1)
    return f"unknown setting (did you mean {close[0]}?)" if close else "unknown setting"


def _wording(error: dict, model: type[BaseModel]) -> str:
    if error["type"] == "extra_forbidden":
        return _unknown_key(model, tuple(error["loc"]))
    if error["type"] == "missing":
        return "missing"
    message = error["msg"].removeprefix("Value error, ")
    message = re.sub(r"^Input should be", "should be", message)
    # "should be a valid integer, unable to parse string as an integer": the value says the rest
    message = re.sub(r"^(should be a valid \w+), .*", r"\1", message)
    given = error.get("input")
    if isinstance(given, (str, int, float)) and len(repr(given)) <= 30 and message[:6] == "should":
        message += f" (got {given!r})"
    return message


def _merge_union(what: list[str]) -> str:
    """'should be a valid integer' and "should be 'auto'" as one 'should be a or b'."""
    parts = [w.removeprefix("should be ").split(" (got ")[0].split(", ")[0] for w in what]
    got = next((w[w.index(" (got ") :] for w in what if " (got " in w), "")
    return "should be " + " or ".join(dict.fromkeys(parts)) + got


def problems(errors: list[dict], model: type[BaseModel]) -> list[tuple[str, str]]:
    """One (field, what is wrong) per setting, union members' errors merged into one."""
    grouped: dict[str, list[str]] = {}
    tags: dict[tuple, int] = {}
    for error in errors:
        loc = tuple(error["loc"])
        if loc and isinstance(loc[-1], str) and _UNION_MEMBER.match(loc[-1]):
            tags[loc[:-1]] = tags.get(loc[:-1], 0) + 1
    for error in errors:
        loc = tuple(error["loc"])
        if loc and tags.get(loc[:-1], 0) >= 2 and _UNION_MEMBER.match(str(loc[-1])):
            loc = loc[:-1]
        where = ".".join(str(p) for p in loc) or "(top level)"
        grouped.setdefault(where, []).append(_wording(error, model))
    return [(w, what[0] if len(what) == 1 else _merge_union(what)) for w, what in grouped.items()]


def _pack(items: list[str], width: int) -> list[list[str]]:
    """Items in lines that join with '; ' to at most width characters (a longer item alone)."""
    lines: list[list[str]] = []
    for item in items:
        if lines and len("; ".join([*lines[-1], item])) <= width:
            lines[-1].append(item)
        else:
            lines.append([item])
    return lines


def _names(names: list[str], width: int) -> str:
    """'also wrong: a, b, c' as far as width goes, then how many more."""
    shown: list[str] = []
    for name in names:
        left = len(names) - len(shown) - 1
        line = f"also wrong: {', '.join([*shown, name])}" + (f" and {left} more" if left else "")
        if len(line) > width:
            break
        shown.append(name)
    left = len(names) - len(shown)
    if not shown:
        return f"and {left} more settings"
    return f"also wrong: {', '.join(shown)}" + (f" and {left} more" if left else "")


def _last_line(items: list[str], names: list[str]) -> str:
    """As many items in full as leave room to name all the others; else as many names as fit."""
    for full in range(len(items) - 1, 0, -1):
        head = "; ".join(items[:full])
        tail = _names(names[full:], LINE_WIDTH - len(head) - 2)
        if tail.startswith("also") and " more" not in tail:
            return f"{head}; {tail}"
    return _names(names, LINE_WIDTH)


def summarise(source: str, found: list[tuple[str, str]]) -> str:
    """The heading line, then every problem in full if two lines hold them; else the first
    line's worth in full, then what fits in full and the other settings by name."""
    count = len(found)
    heading = f"{source}: invalid configuration ({count} setting{'s' if count > 1 else ''})"
    items = [f"{where}: {what}" for where, what in found]
    lines = ["; ".join(line) for line in _pack(items, LINE_WIDTH)]
    if len(lines) > MAX_LINES:
        shown = len(_pack(items, LINE_WIDTH)[0])
        lines = [lines[0], _last_line(items[shown:], [where for where, _ in found[shown:]])]
    return "\n".join([heading, *(f"  {line}" for line in lines)])


def yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """A YAML syntax error in two lines: where and what, then the line it is on."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None and start.line != mark.line:
        where += f" ({context} that starts on line {start.line + 1})"
    elif context:
        where += f" ({context})"
    lines = text.splitlines()
    shown = lines[mark.line].strip() if mark.line < len(lines) else ""
    return f"{where}\n  line {mark.line + 1}: {shown}" if shown else where


def describe(source: str, errors: list[dict[str, Any]], model: type[BaseModel]) -> str:
    """A pydantic validation error of a config as the short message `cjm` prints."""
    return summarise(source, problems(errors, model))
