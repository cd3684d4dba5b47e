"""The commented starter ``privacy.yaml`` that ``pledge init`` writes (it validates as it is)."""

from __future__ import annotations

from importlib import resources

__all__ = ["starter_text"]


def starter_text() -> str:
    return resources.files("pledge.publish").joinpath("starter.yaml").read_text(encoding="utf-8")
