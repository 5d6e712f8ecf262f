"""Safe YAML loading that remembers the line of every node, so problems can name the line.

Only ``yaml.SafeLoader`` is used: a layout can never construct Python objects.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from twin.errors import LayoutError, Problem, format_loc


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records a {path tuple: line} map and rejects duplicate mapping keys."""


# Limits that keep a hostile or broken file from exhausting memory or time (the 1 GW campus layout is ~5 kB,
# ~3,000 nodes, 8 levels deep).
MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000  # after expanding aliases: a "billion laughs" document is refused, not expanded
MAX_DEPTH = 64


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Number of nodes the document has once every alias is expanded (aliases share node objects, so this is
    a memoised walk over the distinct nodes); stops counting past ``limit``."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        kids = _children(node)
        if done:
            size[id(node)] = min(limit + 1, 1 + sum(size[id(k)] for k in kids))
            continue
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)
    return size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _depth(root: yaml.Node, limit: int) -> int:
    """Deepest nesting (iterative, stops past ``limit``)."""
    deepest = 0
    stack = [(root, 1)]
    seen: set[int] = set()
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend((k, d + 1) for k in _children(node))
    return deepest


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
        n_bytes = p.stat().st_size
        if n_bytes > MAX_BYTES:
            raise LayoutError(
                [
                    Problem(
                        "",
                        f"file is {n_bytes / 2**20:.1f} MB; layouts are limited to {MAX_BYTES / 2**20:.0f} MB",
                        file,
                    )
                ]
            )
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LayoutError([Problem("", "file not found", file)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LayoutError([Problem("", f"cannot read file: {exc}", file)]) from None
    return load_yaml_text(text, file)


def load_yaml_text(text: str, file: str = "<string>") -> tuple[object, dict[tuple, int]]:
    """Parse YAML text safely; return (data, {path tuple: 1-based line}). Raises LayoutError, one line each."""
    if len(text) > MAX_BYTES:
        raise LayoutError(
            [Problem("", f"document is over the {MAX_BYTES / 2**20:.0f} MB limit of a layout", file)]
        )
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except RecursionError:
        raise LayoutError(
            [Problem("", f"nesting too deep (a layout nests at most {MAX_DEPTH} levels)", file)]
        ) from None
    except yaml.YAMLError as exc:
        raise LayoutError([_yaml_problem(exc, text, file, "YAML syntax error")]) from None
    if node is None:
        raise LayoutError([Problem("", "file is empty", file)])
    if _depth(node, MAX_DEPTH) > MAX_DEPTH:
        raise LayoutError(
            [Problem("", f"nesting too deep (a layout nests at most {MAX_DEPTH} levels)", file)]
        )
    if _expanded_size(node, MAX_NODES) > MAX_NODES:
        raise LayoutError(
            [
                Problem(
                    "",
                    f"document expands to more than {MAX_NODES:,} values (YAML aliases / anchors); refused",
                    file,
                )
            ]
        )
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    _walk(node, (), lines, problems, file)
    if problems:
        raise LayoutError(problems)
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.constructor.ConstructorError as exc:
        tag = getattr(exc.problem_mark, "line", None)
        msg = "unsupported YAML tag (a layout is plain data: mappings, lists, numbers, strings)"
        raise LayoutError([Problem("", msg, file, None if tag is None else tag + 1)]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - compose already parsed it
        raise LayoutError([_yaml_problem(exc, text, file, "YAML error")]) from None
    return data, lines


def _yaml_problem(exc: yaml.YAMLError, text: str, file: str, what: str) -> Problem:
    """One line, with the line number: PyYAML's messages span several lines and a reader error has only a
    character position."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        ch = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return Problem(
            "", f"{what}: character #x{ch:04x} is not allowed in YAML (control character)", file, line
        )
    msg = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    ctx = getattr(exc, "context", None)
    return Problem("", f"{what}: {msg}" + (f" ({ctx})" if ctx else ""), file, line)


def line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    """Line of the deepest existing prefix of loc (a missing key points at its parent mapping)."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())
