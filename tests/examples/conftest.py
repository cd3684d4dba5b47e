from __future__ import annotations

import functools
from pathlib import Path

from pledge.declaration import LoadedDeclaration, load_declaration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# Which seed policy each example declares (seeds live beside the repository, in ../shared/seeds).
SEEDS = {"pesi": "000", "24sessions": "001", "packtpub": "002", "pressera": "003", "software-vendor": "004"}
SEED_DIR = ROOT.parent / "shared" / "seeds"


@functools.cache
def load(name: str) -> LoadedDeclaration:
    """An example, loaded once per run; a DeclarationError fails the test that asked for it."""
    return load_declaration(EXAMPLES / name / "privacy.yaml")
