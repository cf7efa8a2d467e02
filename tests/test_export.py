"""The export: every table, CSV and JSON Lines, each row with its provenance."""

import csv
import json

import pytest
from conftest import make_user, sign_in

PROVENANCE = {"id", "device_id", "created_at"}
REVISED = {"revision_id", "revision", "replaces", "entered_by", "channel"}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_cli_export_writes_every_table_with_provenance(app, runner, sample, tmp_path, fmt):
    out = tmp_path / "export"
    result = runner.invoke(args=["export", "--format", fmt, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    files = json.loads(result.output)["files"]
    assert sorted(p.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] for p in files) == sorted(
        f"{t}.{fmt}" for t in ("contributions", "participants", "ideas", "workshops", "exposures"))
    rows = {}
    for table in ("contributions", "participants", "ideas", "workshops", "exposures"):
        path = out / f"{table}.{fmt}"
        text = path.read_text(encoding="utf-8")
        if fmt == "csv":
            rows[table] = list(csv.DictReader(text.splitlines()))
        else:
            rows[table] = [json.loads(line) for line in text.splitlines()]
        assert rows[table], table
        assert set(rows[table][0]) >= PROVENANCE, table
    for table in ("contributions", "participants"):
        assert set(rows[table][0]) >= REVISED
    assert len(rows["contributions"]) == 3 + 3 * 8  # three ideas and eight votes each
    polish = [r for r in rows["contributions"] if r["language"] == "pl"]
    assert polish[0]["text"].startswith("Chciałabym")
    assert polish[0]["translation_language"] == "en"
    if fmt == "jsonl":
        assert rows["ideas"][0]["text"]["en"]  # texts per language stay structured
        assert "pl" in rows["ideas"][0]["text"]


def test_all_revisions_includes_corrections(app, runner, sample, tmp_path):
    from engage.data import contributions

    with app.app_context():
        row = contributions.list_for_participant(
            contributions.get_db().execute("select participant_id from contributions").fetchone()[0]
        )[0]
        contributions.correct_contribution(
            sample["workshop"]["id"], row["id"], {"text": "Corrected words", "vote": "agree"},
            expected_revision_id=row["revision_id"], entered_by=None)
    latest = tmp_path / "latest"
    full = tmp_path / "full"
    runner.invoke(args=["export", "--out", str(latest)])
    runner.invoke(args=["export", "--out", str(full), "--all-revisions"])
    count = lambda p: len(list(csv.DictReader((p / "contributions.csv").open(encoding="utf-8"))))  # noqa: E731
    assert count(full) == count(latest) + 1


def test_download_page_is_for_coordinators(app, client, sample):
    make_user(app, "cora", "coordinator")
    cora = sign_in(client, "cora")
    assert "Download participants.csv" in cora.get("/coordinate/export").get_data(as_text=True)
    response = cora.get("/coordinate/export/participants.csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(response.get_data(as_text=True).splitlines()))
    assert len(rows) == 3 and "ethnic_group" in rows[0]
    assert cora.get("/coordinate/export/secrets.csv").status_code == 404


def test_empty_export_still_has_a_header(app, runner, tmp_path):
    runner.invoke(args=["export", "--out", str(tmp_path)])
    header = (tmp_path / "contributions.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("id,revision_id,revision,replaces")
