"""Run-time decisions: compile a declaration once, then ask ``Enforcer.decide`` many times.

policy = compile_policy(load_declaration("privacy.yaml"))
enforcer = Enforcer(policy, ledger, audit)          # ledger: a StateSource
decision = enforcer.decide(subject_id, "newsletter", ("user.contact.email",), channel="email")
if decision:  # decision.reason says why, in a stable code (pledge.policy.reasons)
    ...
"""

from pledge.policy.compiled import CompiledPolicy, PurposeRule, RecipientRule, compile_policy
from pledge.policy.decision import Decision
from pledge.policy.enforcer import ChangeFeed, Enforcer, StateSource, StaticStates
from pledge.policy.evaluate import evaluate, normalise_categories
from pledge.policy.reasons import ALLOWED_REASONS, DENIED_REASONS, Reason, describe
from pledge.policy.state import ANY, EMPTY_STATE, Mark, SaleMark, SubjectState

__all__ = [
    "ALLOWED_REASONS",
    "ANY",
    "DENIED_REASONS",
    "EMPTY_STATE",
    "ChangeFeed",
    "CompiledPolicy",
    "Decision",
    "Enforcer",
    "Mark",
    "PurposeRule",
    "Reason",
    "RecipientRule",
    "SaleMark",
    "StateSource",
    "StaticStates",
    "SubjectState",
    "compile_policy",
    "describe",
    "evaluate",
    "normalise_categories",
]
