"""The one place the CLI turns domain errors into text and exit codes.

Exit codes are part of the contract: 0 success, 1 a finding (material change, tampered chain,
failed run), 2 bad input or usage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape

from pledge.errors import Conflict, ConnectorError, PledgeError, Problem, StorageError

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FINDING",
    "EXIT_OK",
    "err",
    "exit_code_for",
    "out",
    "print_json",
    "print_problems",
]

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_BAD_INPUT = 2

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def exit_code_for(error: PledgeError) -> int:
    if isinstance(error, Conflict | ConnectorError | StorageError):
        return EXIT_FINDING
    return EXIT_BAD_INPUT


def print_problems(problems: Iterable[Problem], *, console: Console = err) -> None:
    """``file:line:column: severity: message`` then an indented hint, one problem per block."""
    for problem in problems:
        if problem.file is None:
            console.print(f"[red]{problem.severity}[/red]: {escape(problem.message)}")
            if problem.hint:
                console.print(f"  [dim]hint:[/dim] {escape(problem.hint)}")
            continue
        style = "red" if problem.severity == "error" else "yellow"
        console.print(
            f"{escape(problem.where())}: [{style}]{problem.severity}[/{style}]: {escape(problem.message)}"
        )
        if problem.hint:
            console.print(f"  [dim]hint:[/dim] {escape(problem.hint)}")


def report_error(error: PledgeError) -> int:
    problems = getattr(error, "problems", None)
    if problems:
        print_problems(problems)
    else:
        err.print(f"[red]error[/red]: {escape(error.message)}")
        if error.hint:
            err.print(f"  [dim]hint:[/dim] {escape(error.hint)}")
    return exit_code_for(error)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()
