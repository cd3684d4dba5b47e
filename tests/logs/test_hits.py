from __future__ import annotations

import json
from pathlib import Path

import pytest

from pledge.errors import InputError
from pledge.logs import ingest
from pledge.logs.hits import ReadCounts, iter_hits
from pledge.logs.rules import StatsRules
from pledge.logs.stats import compute_statistics
from tests.logs.conftest import COMBINED


def test_log_and_json_lines_give_the_same_statistics(tmp_path: Path) -> None:
    as_log, as_json = tmp_path / "a.log", tmp_path / "a.jsonl"
    ingest([COMBINED], out=as_log)
    ingest([COMBINED], out=as_json, output_format="jsonl")
    rules = StatsRules(min_group_size=2)
    one = compute_statistics([str(as_log)], stats_rules=rules).as_dict()
    two = compute_statistics([str(as_json)], stats_rules=rules).as_dict()
    assert one["tables"] == two["tables"]
    assert one["tables"]["daily"]["rows"][0][0] == "2024-11-04"  # 08:00+01:00 is still the 4th in UTC


def test_hits_carry_country_and_agent_from_the_attribute_field(tmp_path: Path) -> None:
    anonymised = tmp_path / "a.log"
    ingest([COMBINED], out=anonymised)
    counts: list[ReadCounts] = []
    hits = list(iter_hits([str(anonymised)], counts=counts))
    assert counts[0].hits == len(hits) == 519 and counts[0].malformed == 0
    assert {h.device for h in hits} >= {"desktop", "mobile", "bot"}
    assert sum(1 for h in hits if h.bot) > 0
    assert all(h.country == "unknown" or (len(h.country) == 2 and h.country.isupper()) for h in hits)


def test_forged_attribute_fields_are_not_trusted(tmp_path: Path) -> None:
    forged = tmp_path / "forged.log"
    forged.write_bytes(
        b'81.2.69.160 - - [04/Nov/2024:09:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "-" '
        b'"pledge;cc=jane@example.org;br=<script>alert(1)</script> 203.0.113.9;os=x@y.z;dev=phone;bot=1"\n'
    )
    hit = next(iter_hits([str(forged)]))
    assert hit.country == "unknown"
    assert "<" not in hit.browser and "203.0.113.9" not in hit.browser and "@" not in hit.os
    assert hit.device == "other" and hit.bot is True


def test_raw_logs_are_anonymised_on_the_way_in() -> None:
    hits = list(iter_hits([str(COMBINED)]))
    assert hits and all(h.path.count("@") == 0 for h in hits)
    paths = {h.path for h in hits}
    assert "/account/orders/[id]" in paths and "/u/[email]/settings" in paths


def test_unreadable_json_lines_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {
        "time": "2024-11-04T09:00:00+01:00",
        "host": "81.2.69.0",
        "method": "GET",
        "target": "/",
        "status": 200,
    }
    path.write_text(
        json.dumps(good)
        + "\n{not json\n"
        + json.dumps({"time": "yesterday"})
        + "\n"
        + json.dumps(good)
        + "\n",
        encoding="utf-8",
    )
    counts: list[ReadCounts] = []
    assert len(list(iter_hits([str(path)], counts=counts))) == 2
    assert counts[0].malformed_at == [2, 3]
    path.write_text("{broken\n", encoding="utf-8")
    with pytest.raises(InputError, match="no line could be read"):
        list(iter_hits([str(path)]))


def test_public_api_is_explicit_and_light() -> None:
    import subprocess
    import sys
    import types

    import pledge.logs

    public = {
        n
        for n, v in vars(pledge.logs).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public == set(pledge.logs.__all__)
    # Importing the package (and the CLI) must not pull in OpenDP or matplotlib: they are heavy.
    probe = (
        "import sys, pledge.logs, pledge.cli.main\n"
        "print(any(m.startswith(('opendp', 'matplotlib')) for m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"
