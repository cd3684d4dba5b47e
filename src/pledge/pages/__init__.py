"""Adapters that turn the declaration into pages people read: the published privacy policy."""

from pledge.pages.policy import FORMATS, Format, render_policy, template_names

__all__ = ["FORMATS", "Format", "render_policy", "template_names"]
