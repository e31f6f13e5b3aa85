"""CSV export and import of the directory: format, round trip, and every refusal writing nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from teams import csv_io
from teams.models import Network, Organization
from teams.selectors import organization_search
from teams.services import organizations_export_csv
from tests.teams.factories import org_with, staff_user

pytestmark = pytest.mark.django_db

EXPORT = reverse("api-organizations-export")
IMPORT = reverse("api-organizations-import")
HEADER = ",".join(csv_io.COLUMNS)


def parse(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


def upload(client, content: bytes | str, name: str = "directory.csv"):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post(
        IMPORT,
        {"file": SimpleUploadedFile(name, data, content_type="text/csv")},
        format="multipart",
    )


def snapshot() -> list[tuple[Any, ...]]:
    """Everything an import could touch, to prove that a refused import wrote nothing."""
    orgs = [
        (
            o.name,
            o.name_kana,
            o.kind,
            o.area,
            o.postal_code,
            o.address,
            o.phone,
            o.fax,
            o.notes,
            tuple(sorted(c.code for c in o.capabilities.all())),
            tuple(sorted(n.pk for n in o.networks.all())),
        )
        for o in Organization.objects.prefetch_related("capabilities", "networks").order_by("pk")
    ]
    return [*orgs, ("audit", AuditEvent.objects.count())]


def row_errors(response) -> dict[int, dict[str, list[str]]]:
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "import_rejected"
    return {r["row"]: r["errors"] for r in body["fields"]["rows"]}


# --- export ---------------------------------------------------------------------------------


def test_export_is_utf8_with_a_bom_and_the_agreed_columns(net, api_as):
    org_with("response_24h", "palliative_care", name="緩和ケア診療所", fax="03-1111-2222")
    response = api_as(net.nurse).get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8")
    assert text[1:].splitlines()[0] == HEADER
    rows = {r["name"]: r for r in parse(text)}
    assert rows["緩和ケア診療所"]["capabilities"] == "palliative_care|response_24h"
    assert rows["緩和ケア診療所"]["fax"] == "03-1111-2222"
    assert len(rows) == 6


def test_export_honours_the_search_filters(net, api_as):
    org_with("response_24h", name="24時間薬局", kind="pharmacy")
    response = api_as(net.nurse).get(EXPORT, {"kind": "pharmacy", "capability": "response_24h"})
    assert [r["name"] for r in parse(response.content.decode())] == ["24時間薬局"]


def test_export_with_a_bad_filter_is_a_json_400(net, api_as):
    response = api_as(net.nurse).get(EXPORT, {"kind": "spaceport"}, HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["kind"]


def test_export_guards_cells_that_a_spreadsheet_would_run_as_formulas(net):
    org_with(name='=HYPERLINK("http://evil")', phone="+81 3-1234-5678")
    text = organizations_export_csv(organization_search(q="HYPERLINK"))
    row = parse(text)[0]
    assert row["name"] == '\'=HYPERLINK("http://evil")'
    assert row["phone"] == "+81 3-1234-5678"


def test_export_costs_the_same_queries_for_any_length(net, django_assert_num_queries):
    for i in range(10):
        org_with("response_24h", "home_visits", name=f"出力診療所{i}")
    with django_assert_num_queries(2):
        organizations_export_csv(organization_search())


def test_export_then_import_round_trips_exactly(net, api_as):
    org_with(
        "response_24h",
        "end_of_life",
        name="=往復テスト",
        name_kana="おうふく",
        area="中央区",
        postal_code="104-0061",
        address="東京都中央区銀座1-2-3",
        phone="+81-3-0000-0000",
        fax="03-0000-0001",
        notes='複数行の\n備考, "引用" 付き',
    )
    client = api_as(net.coordinator)
    before = snapshot()
    exported = client.get(EXPORT).content
    response = upload(client, exported)
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 0, "updated": 0, "unchanged": 6}
    assert snapshot() == before


def test_exported_file_imported_by_staff_into_an_empty_directory_recreates_it(net, api_as):
    org_with("response_24h", name="再作成診療所", notes="メモ")
    exported = api_as(net.nurse).get(EXPORT, {"q": "再作成"}).content
    Organization.objects.filter(name="再作成診療所").delete()
    response = upload(api_as(staff_user()), exported)
    assert response.json()["created"] == 1
    org = Organization.objects.get(name="再作成診療所")
    assert (org.notes, [c.code for c in org.capabilities.all()]) == ("メモ", ["response_24h"])


# --- import: success ------------------------------------------------------------------------


def test_import_creates_new_and_updates_existing_by_name(net, api_as):
    content = (
        "name,kind,capabilities,area\n"
        "あおば薬局,pharmacy,aseptic_compounding|response_24h,中央区銀座\n"
        "新しい診療所,clinic,home_visits end_of_life,中央区\n"
    )
    response = upload(api_as(net.coordinator), content)
    assert response.status_code == 200
    assert response.json() == {"created": 1, "updated": 1, "unchanged": 0}
    net.pharmacy.refresh_from_db()
    assert net.pharmacy.area == "中央区銀座"
    assert [c.code for c in net.pharmacy.capabilities.order_by("code")] == [
        "aseptic_compounding",
        "response_24h",
    ]
    new = Organization.objects.get(name="新しい診療所")
    assert [c.code for c in new.capabilities.order_by("code")] == ["end_of_life", "home_visits"]
    # A coordinator's new organizations join the networks they coordinate.
    assert [n.name for n in new.networks.all()] == ["中央区在宅ネットワーク"]


def test_import_leaves_fields_of_missing_columns_as_they_are(net, api_as):
    org = org_with("response_24h", name="残す診療所", phone="03-1", notes="残すメモ")
    Network.objects.get(name="中央区在宅ネットワーク").organizations.add(org)
    response = upload(api_as(net.coordinator), "name,kind,area\n残す診療所,clinic,西区\n")
    assert response.json()["updated"] == 1
    org.refresh_from_db()
    assert (org.area, org.phone, org.notes) == ("西区", "03-1", "残すメモ")
    assert [c.code for c in org.capabilities.all()] == ["response_24h"]


def test_import_accepts_a_bom_crlf_blank_lines_and_padded_headers(net, api_as):
    content = "\ufeff Name , KIND ,,\r\n\r\nBOM診療所,clinic\r\n,,\r\n".encode()
    response = upload(api_as(net.coordinator), content)
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1
    assert Organization.objects.filter(name="BOM診療所", kind="clinic").exists()


def test_import_writes_one_audit_row(net, api_as):
    upload(api_as(net.coordinator), "name,kind\n監査診療所,clinic\n")
    event = AuditEvent.objects.get(object_type="teams.organization", actor_id=net.coordinator.pk)
    assert event.detail == "csv import: created=1 updated=0"


# --- import: refusals -----------------------------------------------------------------------

GOOD_ROW = "良い診療所,clinic,home_visits,中央区"


@pytest.mark.parametrize(
    ("bad_row", "field"),
    [
        ("悪い診療所,spaceport,,中央区", "kind"),
        ("悪い診療所,clinic,home_visits|teleport,中央区", "capabilities"),
        (f"悪い診療所,clinic,,{'区' * 101}", "area"),
        (f"{'長' * 201},clinic,,中央区", "name"),
        (",clinic,,中央区", "name"),
        ("悪い診療所,,,中央区", "kind"),
        ("悪い診療所,clinic,,中央区,余分な値", "non_field_errors"),
    ],
    ids=[
        "unknown-kind",
        "unknown-capability",
        "too-long-area",
        "too-long-name",
        "empty-name",
        "empty-kind",
        "extra-cell",
    ],
)
def test_a_bad_row_writes_nothing_and_is_reported_with_its_row_number(net, api_as, bad_row, field):
    before = snapshot()
    content = f"name,kind,capabilities,area\n{GOOD_ROW}\n{bad_row}\n"
    errors = row_errors(upload(api_as(net.coordinator), content))
    assert list(errors) == [3]
    assert list(errors[3]) == [field]
    assert snapshot() == before


def test_every_bad_row_is_reported_at_once(net, api_as):
    content = (
        "name,kind,capabilities\n"
        "一行目,spaceport,\n"
        f"{GOOD_ROW.split(',')[0]},clinic,\n"
        "三行目,clinic,teleport\n"
    )
    errors = row_errors(upload(api_as(net.coordinator), content))
    assert sorted(errors) == [2, 4]
    assert "spaceport" in errors[2]["kind"][0]
    assert "teleport" in errors[4]["capabilities"][0]


def test_the_same_name_twice_is_reported_on_the_second_row(net, api_as):
    before = snapshot()
    errors = row_errors(upload(api_as(net.coordinator), "name,kind\n重複,clinic\n重複,clinic\n"))
    assert list(errors) == [3]
    assert "2" in errors[3]["name"][0]
    assert snapshot() == before


def test_rows_are_numbered_as_a_spreadsheet_shows_them_even_with_multiline_cells(net, api_as):
    content = 'name,kind,notes\n複数行,clinic,"一行目\n二行目"\n悪い,spaceport,\n'
    assert list(row_errors(upload(api_as(net.coordinator), content))) == [3]


def test_coordinator_may_not_update_an_organization_of_another_network_by_import(net, api_as):
    before = snapshot()
    content = "name,kind\n新しい診療所,clinic\n遠方クリニック,hospital\n"
    errors = row_errors(upload(api_as(net.coordinator), content))
    assert list(errors) == [3]
    assert "name" in errors[3]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        (b"", "空"),
        (b"\xef\xbb\xbf", "空"),
        (b"\n\n  \n", "空"),
        (b"name,kind\n", "データの行がありません"),
        ("name,capabilities\n診療所,home_visits\n".encode(), "kind"),
        ("name,kind,colour\n診療所,clinic,red\n".encode(), "colour"),
        ("name,kind,kind\n診療所,clinic,clinic\n".encode(), "kind"),
        ("name,kind\nシフトJIS診療所,clinic\n".encode("cp932"), "UTF-8"),
        (b"name,kind\n\xff\xfe\x00bad,clinic\n", "UTF-8"),
        (b"name,kind\nNUL\x00,clinic\n", "NUL"),
        (b'name,kind\n"unterminated,clinic\n', "CSV"),
    ],
    ids=[
        "empty",
        "bom-only",
        "blank-lines",
        "header-only",
        "missing-column",
        "unknown-column",
        "repeated-column",
        "shift-jis",
        "binary",
        "nul",
        "broken-quote",
    ],
)
def test_a_bad_file_writes_nothing_and_says_why(net, api_as, content, message_part):
    before = snapshot()
    response = upload(api_as(net.coordinator), content)
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert list(fields) == ["file"]
    assert message_part in " ".join(fields["file"])
    assert snapshot() == before


def test_a_file_over_the_size_limit_is_refused(net, api_as, monkeypatch):
    monkeypatch.setattr(csv_io, "MAX_BYTES", 100)
    response = upload(api_as(net.coordinator), "name,kind\n" + "大きい診療所,clinic\n" * 20)
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]
    assert not Organization.objects.filter(name="大きい診療所").exists()


def test_import_without_a_file_is_a_400(net, api_as):
    response = api_as(net.coordinator).post(IMPORT, {}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]


@pytest.mark.parametrize("persona", ["primary", "nurse", "outsider", "stranger"])
def test_people_who_coordinate_nothing_may_not_import(net, api_as, persona):
    before = snapshot()
    response = upload(api_as(getattr(net, persona)), "name,kind\n勝手な診療所,clinic\n")
    assert response.status_code == 403
    assert snapshot() == before


def test_a_row_that_fails_only_when_written_rolls_back_the_whole_import(net, api_as, monkeypatch):
    """A database error after validation (a name taken meanwhile) leaves nothing behind."""
    from teams import services

    real = services._write_import

    def racing(actor, to_create, *args):
        Organization.objects.create(name="競合診療所", kind="clinic")
        real(actor, to_create, *args)

    monkeypatch.setattr(services, "_write_import", racing)
    content = "name,kind\n先の診療所,clinic\n競合診療所,clinic\n"
    response = upload(api_as(net.coordinator), content)
    assert response.status_code == 400
    assert not Organization.objects.filter(name__in=["先の診療所", "競合診療所"]).exists()
