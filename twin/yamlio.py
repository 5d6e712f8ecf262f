"""Safe YAML loading that remembers the line of every node, so problems can name the line.

Only ``yaml.SafeLoader`` is used: a layout can never construct Python objects.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from twin.errors import LayoutError, Problem, format_loc


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records a {path tuple: line} map and rejects duplicate mapping keys."""


def _walk(node: yaml.Node, path: tuple, lines: dict, problems: list, file: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(
                    Problem(
                        format_loc(path + (key,)),
                        f"duplicate key '{key}' (first at line {seen[key]})",
                        file,
                        key_node.start_mark.line + 1,
                    )
                )
            seen[key] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines, problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines, problems, file)


def load_yaml(path: str | Path) -> tuple[object, dict[tuple, int]]:
    """Load a YAML file safely; return (data, {path tuple: 1-based line}).

    Raises LayoutError (never a yaml exception) on unreadable files, syntax errors and duplicate keys.
    """
    p = Path(path)
    file = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LayoutError([Problem("", "file not found", file)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LayoutError([Problem("", f"cannot read file: {exc}", file)]) from None
    return load_yaml_text(text, file)


def load_yaml_text(text: str, file: str = "<string>") -> tuple[object, dict[tuple, int]]:
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = getattr(exc, "problem", None) or str(exc)
        ctx = getattr(exc, "context", None)
        raise LayoutError(
            [Problem("", f"YAML syntax error: {msg}" + (f" ({ctx})" if ctx else ""), file, line)]
        ) from None
    if node is None:
        raise LayoutError([Problem("", "file is empty", file)])
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    _walk(node, (), lines, problems, file)
    if problems:
        raise LayoutError(problems)
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:  # pragma: no cover - compose already parsed it
        raise LayoutError([Problem("", f"YAML error: {exc}", file)]) from None
    return data, lines


def line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    """Line of the deepest existing prefix of loc (a missing key points at its parent mapping)."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())
