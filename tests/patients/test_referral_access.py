"""docs/access.md's referral table is `REFERRAL_POLICY`, cell for cell; and the gate's answers."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from patients.access import REFERRAL_POLICY, referral_capabilities_of, referrals_visible_to
from tests.patients.referral_fixtures import make_referral, rnet

__all__ = ["rnet"]

_DOC = Path(settings.BASE_DIR) / "docs" / "access.md"


def _doc_table() -> dict[str, set[str]]:
    lines = _DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(next(line for line in lines if line.startswith("| referral standing |")))
    columns = [c.strip() for c in lines[start].strip("|").split("|")]
    rows: dict[str, set[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == len(columns), line
        rows[cells[0].split()[0]] = {
            c for c, cell in zip(columns, cells, strict=True) if cell == "✓"
        }
    return rows


def test_the_referral_table_in_docs_is_the_policy_cell_by_cell():
    table = _doc_table()
    assert set(table) == set(REFERRAL_POLICY)
    for standing, capabilities in REFERRAL_POLICY.items():
        assert table[standing] == {c.value for c in capabilities}, standing


def test_each_standing_has_its_row_and_outsiders_none(rnet):
    referral = make_referral(rnet)
    net = rnet.net
    assert referral_capabilities_of(rnet.discharge_nurse, referral) == REFERRAL_POLICY["referrer"]
    assert referral_capabilities_of(net.coordinator, referral) == REFERRAL_POLICY["coordinator"]
    assert referral_capabilities_of(rnet.third, referral) == REFERRAL_POLICY["invited"]
    for outsider in (rnet.far, net.stranger, net.nurse):
        assert referral_capabilities_of(outsider, referral) == frozenset()
        assert not referrals_visible_to(outsider).exists()


def test_a_deciding_referrer_holds_both_referrer_rows_in_a_network_that_lets_it(rnet):
    referral = make_referral(rnet)
    rnet.net.lead_clinic.networks.update(referrer_decides=True)
    assert referral_capabilities_of(rnet.discharge_nurse, referral) == (
        REFERRAL_POLICY["referrer"] | REFERRAL_POLICY["deciding_referrer"]
    )
