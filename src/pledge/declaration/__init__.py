"""The declaration: ``privacy.yaml`` loaded, shaped and cross-checked, with source positions."""

from pledge.declaration.durations import IsoDuration, parse_duration
from pledge.declaration.load import LoadedDeclaration, load_declaration, parse_declaration
from pledge.declaration.model import Declaration
from pledge.declaration.taxonomy import Taxonomy, builtin_taxonomy, is_within

__all__ = [
    "Declaration",
    "IsoDuration",
    "LoadedDeclaration",
    "Taxonomy",
    "builtin_taxonomy",
    "is_within",
    "load_declaration",
    "parse_declaration",
    "parse_duration",
]
