"""Staff-run requests (the CLI) for a right the policy does not list."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pledge.errors import InputError
from tests.requests.support import EMAIL, Env


def test_staff_may_run_a_right_the_policy_does_not_list_without_a_deadline(
    sqlite_url: str, make_env: Callable[..., Env]
) -> None:
    env = make_env(sqlite_url)
    with pytest.raises(InputError, match="offers no portability"):  # people may not ask for it
        env.workflow.create_request("portability", [EMAIL], jurisdiction="gdpr")
    assert env.workflow.right("erase").approval  # a declared right keeps its rules for staff too
    assert env.workflow.right("portability", operator=True).deadline is None
    record = env.workflow.create_request(
        "portability", [EMAIL], jurisdiction="gdpr", source="cli", operator="op"
    )
    assert record.state == "verified" and record.due_at is None and not record.requires_approval
    assert record.right == "portability"
    assert env.runner.run_until_done(record.id).state == "completed"
