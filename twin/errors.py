"""Problems found in user input, reported with their place (``halls[0].rows[2].rack_type``) and YAML line."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One problem in a layout or catalog file.

    path: dotted place in the document, e.g. ``halls[0].pods[1].rows[2].rack_type``.
    severity: ``error`` (the file cannot be used) or ``warning`` (usable, but probably not what was meant).
    """

    path: str
    message: str
    file: str = ""
    line: int | None = None
    severity: str = "error"

    def format(self) -> str:
        where = self.file
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        prefix = f"{where}: " if where else ""
        place = f"{self.path}: " if self.path else ""
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{prefix}{tag}{place}{self.message}"

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
        }


@dataclass
class LayoutError(Exception):
    """Raised when a layout or catalog cannot be used; carries every problem found, not just the first."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)


class InputError(Exception):
    """A bad command-line argument or solver input (not a layout problem); the CLI exits with code 2."""


def format_loc(loc: tuple) -> str:
    """Turn a pydantic / walker location tuple ('halls', 0, 'rows', 2, 'rack_type') into 'halls[0].rows[2].rack_type'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
