"""What the checks notice, as data: a `Finding` per problem with a plain sentence, collected in a
`DataReport`, so a page can show every problem at once instead of the first exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "info"]


class DataError(ValueError):
    """Input that cannot become a data set; the message is a sentence a user can act on."""


@dataclass(frozen=True)
class Finding:
    """One thing the checks noticed. `error` blocks training; `warning` and `info` inform."""

    severity: Severity
    code: str
    message: str
    count: int | None = None


@dataclass
class DataReport:
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: Severity, code: str, message: str, count: int | None = None) -> None:
        self.findings.append(Finding(severity, code, message, count))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}
