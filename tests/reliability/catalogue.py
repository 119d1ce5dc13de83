"""The bad-input catalogue (issue 13): each `Case` is one thing a user may get wrong, what
qgraph must say or do, and the action that reproduces it. Every `tests/reliability/test_*.py`
module lists its cases in a module-level `CASES` and runs them through `check`;
`docs/errors.md` is rendered from all of them (`python -m tests.reliability.catalogue`), and
`test_errors_doc.py` keeps that page in step with the tests.

A case either expects an error (`error` class, `match` a regex the message must contain) or
success (`error=None`) with `check` asserting what the user gets (a file's mode, a warning).
CLI cases run `cli(...)`: exit code 2 and one `qgraph: error: ...` line, never a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the items of issue 13, by number, as the page's section headings.
ITEMS = {
    1: "Inputs LiteRT would refuse (uint8, int32)",
    2: "A QAT model exported for another target",
    3: "Output file modes",
    4: "Destructive writes",
    5: "tf-keras files",
    6: "Damaged files and raw tracebacks",
    7: "Calibration data mistakes",
    8: "Streaming calibration data",
    9: "float16 overflow",
    10: "Options that were silently ignored",
    11: "Debugging tools: inspect, verify, view, keep_float (issue 14)",
    0: "Other",
}


@dataclass(frozen=True)
class Case:
    id: str  # short slug: the pytest id
    item: int  # the ITEMS key
    given: str  # the input, as a user would describe it
    run: Callable[[Path], Any]  # does the user's action in a fresh temp folder
    error: type[BaseException] | None = None  # expected exception class (None: must succeed)
    match: str = ""  # regex the error message (or, for CLI cases, stderr) must contain
    says: str = ""  # what qgraph says or does, for the docs (default: error class + match)
    check: Callable[[Any, Path], None] | None = None  # success: assertions on run's result

    @property
    def outcome(self) -> str:
        if self.says:
            return self.says
        name = self.error.__name__ if self.error is not None else "works"
        return f"{name}: {self.match}" if self.match else name


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def cli(*args: str) -> CliResult:
    """`qgraph ARGS` in this process: exit code, stdout, stderr."""
    from qgraph.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse usage errors
            code = int(e.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


def check(case: Case, tmp_path: Path) -> None:
    """Run `case` and assert it does what the catalogue says."""
    if case.error is None:
        result = case.run(tmp_path)
        if isinstance(result, CliResult):
            assert result.code == 0, f"{case.id}: exit {result.code}: {result.err}"
            assert re.search(case.match, result.out + result.err), (case.id, result.out, result.err)
        if case.check is not None:
            case.check(result, tmp_path)
        return
    if case.error is SystemExit:  # a CLI user mistake: exit 2, one line, no traceback
        result = case.run(tmp_path)
        assert isinstance(result, CliResult), f"{case.id}: a CLI case must return cli(...)"
        assert result.code == 2, f"{case.id}: exit {result.code}, stderr: {result.err}"
        assert "Traceback" not in result.err, f"{case.id}: traceback on stderr:\n{result.err}"
        lines = [ln for ln in result.err.splitlines() if ln.startswith("qgraph: error:")]
        assert len(lines) == 1, f"{case.id}: want one 'qgraph: error:' line, got:\n{result.err}"
        assert re.search(case.match, lines[0]), f"{case.id}: {lines[0]!r} lacks {case.match!r}"
        return
    import pytest

    with pytest.raises(case.error, match=case.match):
        case.run(tmp_path)


def all_cases() -> list[Case]:
    """Every CASES list of the tests/reliability modules, in module order."""
    import tests.reliability as package

    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("test_"):
            cases += getattr(importlib.import_module(f"tests.reliability.{info.name}"), "CASES", [])
    return cases


def render(cases: list[Case]) -> str:
    lines = [
        "# What qgraph says when the input is wrong",
        "",
        "Generated from the bad-input catalogue in `tests/reliability/` (every row is a test):",
        "`python -m tests.reliability.catalogue > docs/errors.md`. Errors from the API are the",
        "classes in `qgraph.errors`, all subclasses of `qgraph.QGraphError`; on the command line",
        "the same message comes as one `qgraph: error: ...` line with exit code 2. Warnings are",
        "`qgraph.notices.CompileWarning` (also in `result.report.warnings`) or, from calibration",
        "outside `compile`, `CalibrationWarning`.",
    ]
    for item, title in ITEMS.items():
        rows = [c for c in cases if c.item == item]
        if not rows:
            continue
        lines += ["", f"## {title}", "", "| case | input | qgraph says or does |", "|---|---|---|"]
        lines += [f"| `{c.id}` | {_cell(c.given)} | {_cell(c.outcome)} |" for c in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    print(render(all_cases()), end="")
