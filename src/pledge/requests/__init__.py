"""Data-subject requests: execution over the business's databases, and the durable workflow."""

from pledge.requests.steps import Identity, RequestKind, StepContext, StepPlanner, StepSpec

__all__ = ["Identity", "RequestKind", "StepContext", "StepPlanner", "StepSpec"]
