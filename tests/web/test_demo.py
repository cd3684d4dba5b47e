"""``pledge demo``'s world, built without serving it: the shop's databases from the PESI datamap,
the policy history, consent, disclosures, a request queue in every state, complaints; and the
CLI's error paths (which exit before any server starts)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from pledge.cli.main import app
from pledge.demo.build import build_demo
from pledge.demo.fake import DEMO_PERSON, people

runner = CliRunner()


def test_the_demo_is_seeded_deterministically_and_runs_requests(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "demo", customers=40)
    try:
        system = demo.system
        assert demo.customers == 40 and demo.shop is not None
        assert demo.shop.rows["pesi_shop:customers"] == 40
        assert demo.shop.rows["pesi_shop:orders"] > 0 and demo.shop.rows["pesi_mailing:house_file"] > 0
        assert 0 in demo.shop.present["pesi_mailing:house_file"]  # the demo person is on the house file
        assert [v.version for v in system.versions()] == ["2026-11-01", "2018-05-24"]
        assert system.material_version() == "2026-11-01"
        assert (tmp_path / "demo" / "privacy.yaml").is_file()
        statuses = {
            s: len(system.workflow.list_requests(deadline=s)) for s in ("overdue", "due_this_week", "fine")
        }
        assert statuses["overdue"] >= 2 and statuses["due_this_week"] >= 3 and statuses["fine"] >= 3
        extended = [r for r in system.workflow.list_requests(limit=200) if r.request.extended_due_at]
        assert len(extended) == 1
        ran = system.run_pending()
        assert ran >= 10
        failed = [r.request.error for r in system.workflow.list_requests(state="failed")]
        assert failed == []
        robin = system.find_subject("email", DEMO_PERSON)
        assert robin is not None
        assert system.enforcer.decide(robin, "relevant_offers", ("user.contact.email",), channel="email")
        assert system.sharing.disclosures_for_subject(robin)
        assert system.audit.verify(workers=1).ok
        with sa.create_engine(f"sqlite:///{tmp_path / 'demo' / 'shop' / 'pesi_shop.db'}").connect() as conn:
            emails = conn.execute(sa.text("SELECT email FROM customers ORDER BY id")).scalars().all()
        assert emails[0] == DEMO_PERSON and all(e.rsplit("@", 1)[1].startswith("example.") for e in emails)
    finally:
        demo.system.close()
    assert [p.email for p in people(40)] == emails  # the same seed, the same people
    # Building again starts afresh but keeps the secrets: the printed admin key stays valid.
    again = build_demo(tmp_path / "demo", customers=5)
    try:
        assert again.admin_key == demo.admin_key and again.customers == 5
    finally:
        again.system.close()
    kept = build_demo(tmp_path / "demo", fresh=False)
    try:
        assert kept.customers == 0 and len(kept.system.versions()) == 2  # reused, nothing reseeded
    finally:
        kept.system.close()


def test_the_demo_can_run_a_declaration_of_your_own(tmp_path: Path) -> None:
    own = Path(__file__).resolve().parents[2] / "examples" / "packtpub" / "privacy.yaml"
    demo = build_demo(tmp_path / "demo", declaration=own)
    try:
        assert demo.shop is None and demo.notes
        assert [v.version for v in demo.system.versions()] == [demo.system.version]
    finally:
        demo.system.close()


def test_cli_errors_exit_2_before_serving(tmp_path: Path) -> None:
    broken = tmp_path / "privacy.yaml"
    broken.write_text("policy_version: [\n", encoding="utf-8")
    for command in (
        ["serve", "--config", str(broken)],
        ["demo", "--config", str(broken), "--folder", str(tmp_path / "d")],
        ["serve", "--config", str(tmp_path / "missing.yaml")],
        ["serve", "--db", "not a url", "--config", str(Path("examples/pesi"))],
        ["demo", "--folder", str(tmp_path / "e"), "--connect", "nonsense"],
        ["serve", "--port", "0"],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)


def test_render_only_keeps_the_old_demo(tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    result = runner.invoke(app, ["demo", "--render-only", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "pesi.html").is_file() and (out / "pesi.md").is_file()
