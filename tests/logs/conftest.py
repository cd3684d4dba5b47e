from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
COMBINED = DATA / "access_combined.log"
COMMON = DATA / "access_common.log"
VHOST = DATA / "access_vhost.log"

# A small declaration that keeps server logs and shares statistics; tests patch the last lines.
DECLARATION = textwrap.dedent(
    """\
    policy_version: "1.0"
    effective: 2024-01-01
    organisation:
      name: Acme Books Ltd
      country: GB
      contacts:
        - kind: privacy
          email: privacy@acme.test
    jurisdictions:
      - id: gdpr
        name: European Union and United Kingdom
    storage_regions:
      - id: uk
        name: United Kingdom
        countries: [GB]
    purposes:
      - id: site_operations
        name: Keep the site running and secure
        lawful_basis: legitimate_interest
        legitimate_interest: Knowing what breaks and what is attacked.
        categories: [user.device.ip_address, user.device.telemetry, user.behavior.browsing_history]
        aggregate_only: true
    rights:
      - right: access
        deadline: P1M
    server_logs:
      categories: [user.device.ip_address, user.device.telemetry, user.behavior.browsing_history]
      purposes: [site_operations]
      ip: {ip}
      ipv4_prefix: {ipv4_prefix}
      raw_retention: P30D
    statistics:
      mode: {mode}
      min_group_size: {k}
      mechanism: laplace
      privacy_budget: {{epsilon: {epsilon}, delta: {delta}, period: P1M, per_release: {per_release}}}
    """
)


def declaration(
    *,
    ip: str = "truncate",
    ipv4_prefix: int = 24,
    mode: str = "suppress",
    k: int = 5,
    epsilon: float = 1.0,
    delta: float = 1e-6,
    per_release: float = 0.5,
) -> str:
    return DECLARATION.format(
        ip=ip, ipv4_prefix=ipv4_prefix, mode=mode, k=k, epsilon=epsilon, delta=delta, per_release=per_release
    )


@pytest.fixture
def privacy_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "privacy.yaml"
    path.write_text(declaration(), encoding="utf-8")
    return path
