"""Benchmark: bytes a visitor downloads for the cookie banner, gzipped, vs two open-source peers.

- **ours**: ``banner.js`` + ``banner.css`` built by ``pledge.web.banner.build_banner`` for every
  example declaration (``examples/*/privacy.yaml``); the figure is the *largest* of them, so the
  worst case is reported. Our JS already contains the site's configuration (categories, texts,
  cookie lists); the peers' figures exclude theirs, which a site must add.
- **peers**, fetched from the npm registry with ``npm pack`` (pinned versions) into a temporary
  directory, measured as their documentation tells a site to include them:
  - ``vanilla-cookieconsent`` 3.1.0: ``dist/cookieconsent.umd.js`` + ``dist/cookieconsent.css``;
  - ``klaro`` 0.7.22: ``dist/klaro.js`` (the default bundle; styles and translations inside).

Every file is gzipped separately at level 9 (as a server would serve it) and the sizes summed.
One JSON line per peer, headline (the smaller peer) last; ratio = peer / ours (> 1: we are smaller).
Usage: ``python benchmarks/banner.py``. Needs ``npm`` and the registry; exits 1 without them.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from pledge.declaration import load_declaration
from pledge.web.banner import build_banner

ROOT = Path(__file__).resolve().parent.parent
LEVEL = 9
PEERS = [
    # (package, version, files inside the package, as the peer's documentation includes them)
    ("klaro", "0.7.22", ["dist/klaro.js"]),
    ("vanilla-cookieconsent", "3.1.0", ["dist/cookieconsent.umd.js", "dist/cookieconsent.css"]),
]


def gzipped(data: bytes) -> int:
    return len(gzip.compress(data, LEVEL, mtime=0))


def ours() -> tuple[int, str]:
    """The largest banner over the example declarations, and which declaration it was."""
    sizes = []
    for path in sorted(ROOT.glob("examples/*/privacy.yaml")):
        assets = build_banner(load_declaration(path))
        sizes.append((gzipped(assets.js.encode()) + gzipped(assets.css.encode()), path.parent.name))
    if not sizes:
        sys.exit("no examples/*/privacy.yaml to build a banner from")
    return max(sizes)


def fetch(package: str, version: str, into: Path) -> Path:
    """``npm pack`` the exact version and unpack it; returns the package directory."""
    result = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--silent", "--pack-destination", str(into)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        sys.exit(f"npm pack {package}@{version} failed: {result.stderr.strip()[:500]}")
    tarball = into / result.stdout.strip().splitlines()[-1]
    target = into / package
    with tarfile.open(tarball) as archive:
        archive.extractall(target, filter="data")
    return target / "package"


def main() -> None:
    if shutil.which("npm") is None:
        sys.exit("npm is not installed: the peers come from the npm registry")
    our_bytes, declaration = ours()
    lines = []
    with tempfile.TemporaryDirectory(prefix="pledge-bench-banner-") as tmp:
        for package, version, files in PEERS:
            root = fetch(package, version, Path(tmp))
            peer_bytes = sum(gzipped((root / name).read_bytes()) for name in files)
            lines.append(
                {
                    "bench": f"banner gzipped bytes vs {package}",
                    "ours": our_bytes,
                    "peer": peer_bytes,
                    "unit": "bytes (gzip -9, JS+CSS)",
                    "ratio": round(peer_bytes / our_bytes, 2),
                    "peer_version": version,
                    "peer_files": files,
                    "ours_declaration": declaration,
                    "note": "ours includes the site's configuration; the peer's excludes it",
                }
            )
    lines.sort(key=lambda line: -line["peer"])  # the smaller (harder) peer last: the headline
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
