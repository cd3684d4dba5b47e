"""Publishing the policy: compare declarations (material or not) and keep the published versions."""

from pledge.publish.diff import Change, diff_declarations, has_material

__all__ = ["Change", "diff_declarations", "has_material"]
