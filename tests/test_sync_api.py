"""The hub API and the sync pages: enrolment, push and pull, retries that keep the queue,
the OpenAPI document, the coordinators' pages, the online import and the exports."""

from __future__ import annotations

import csv
import io
import json
import socket
from pathlib import Path

import pytest
from conftest import make_user, sign_in
from receipt_support import as_sent, receipts
from sync_support import (
    PASSWORD,
    capture,
    context,
    copy_instance,
    enrol_laptop,
    make_app,
    make_hub,
    query,
    require_sqlite3_shell,
    restored_from_backup,
    scalar,
    transport,
)

from engage.sync import changelog, hub, laptop
from engage.sync.client import HubClient, HubError


@pytest.fixture
def pair(tmp_path):
    hub_app = make_hub(tmp_path / "hub")
    lap = enrol_laptop(tmp_path / "laptop", hub_app, "Leeds laptop 3")
    capture(lap, participants=2)
    return hub_app, lap


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the API ------------------------------------------------------------------------


def test_the_openapi_document_is_valid_and_names_every_endpoint(pair):
    from openapi_spec_validator import validate

    hub_app, lap = pair
    response = hub_app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    validate(document)
    routes = {rule.rule.removeprefix("/api/v1") for rule in hub_app.url_map.iter_rules()
              if rule.endpoint.startswith("sync_api.")}
    assert routes == set(document["paths"])
    assert lap.test_client().get("/api/v1/openapi.json").status_code == 404


def test_the_api_wants_a_known_token_and_answers_in_json(pair):
    hub_app, _ = pair
    client = hub_app.test_client()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = client.get("/api/v1/sync/status", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"] == "unauthorised"
        assert "Enrol the laptop again" in response.get_json()["message"]
    response = client.post("/api/v1/enrol", json={"code": "AAAA-BBBB-CCCC", "public_key": ""})
    assert response.status_code == 400 and response.get_json()["message"]


def test_a_code_enrols_one_laptop_once(pair, tmp_path):
    hub_app, _ = pair
    with hub_app.app_context():
        code = hub.create_code("Spare laptop", None)
    first = make_app(tmp_path / "first")
    second = make_app(tmp_path / "second")
    with context(first):
        laptop.enrol_network("http://hub.test", code, transport=transport(hub_app))
    with context(second), pytest.raises(Exception) as refused:
        laptop.enrol_network("http://hub.test", code, transport=transport(hub_app))
    assert "used already" in str(refused.value)
    devices = query(hub_app, "select * from devices order by enrolled_at")
    assert [d["name"] for d in devices] == ["Leeds laptop 3", "Spare laptop"]
    assert all(len(d["token_hash"]) == 64 for d in devices)  # tokens kept only as hashes


def test_push_sends_everything_once_and_a_second_push_sends_nothing(pair):
    hub_app, lap = pair
    with context(lap):
        sent = laptop.push(transport=transport(hub_app), max_changes=10)
        again = laptop.push(transport=transport(hub_app))
        status = laptop.status()
    assert sent["batches"] > 2 and again["batches"] == 0
    assert status["waiting_total"] == 0 and status["acked_seq"] == status["last_seq"]
    batches = query(hub_app, "select * from batches")
    for table in ("participants", "contributions", "exposures", "workshops"):
        mine = query(lap, f"select * from {table} order by 1")
        theirs = query(hub_app, f"select * from {table} order by 1")
        assert mine == [as_sent(r) for r in theirs], table
        if table in ("participants", "contributions"):  # the hub's receipt on each row
            by_id = {b["batch_id"]: b for b in batches}
            assert receipts(theirs, by_id, "Leeds laptop 3") == {"network"}, table
    assert {b["via"] for b in batches} == {"network"} and len(batches) == sent["batches"]
    device = query(hub_app, "select * from devices")[0]
    assert device["held_seq"] == status["acked_seq"] and device["last_heard_at"]


def test_an_error_answer_keeps_everything_queued_after_bounded_retries(pair):
    hub_app, lap = pair
    calls = []

    def failing(method, url, body, headers):
        calls.append(url)
        if url.endswith("/sync/batches"):
            return 503, b'{"error": "busy", "message": "try later"}'
        return transport(hub_app)(method, url, body, headers)

    waits = []
    with context(lap):
        before = laptop.status()
        with pytest.raises(HubError):
            laptop.push(transport=failing, attempts=4, sleep=waits.append)
        after = laptop.status()
    assert len([c for c in calls if c.endswith("/sync/batches")]) == 4
    assert len(waits) == 3 and waits[0] < waits[2]  # growing pauses, bounded in number
    assert after["waiting"] == before["waiting"] and after["acked_seq"] == 0
    assert after["last_error"] and after["failures"] == 1 and after["next_attempt_at"]
    assert scalar(hub_app, "select count(*) from contributions") == 0


def test_a_hub_that_cannot_be_reached_keeps_everything_queued(pair):
    _, lap = pair
    with context(lap) as db:
        db.execute("update sync_state set hub_url = ?", [f"http://127.0.0.1:{closed_port()}"])
        db.conn.commit()
        waits = []
        with pytest.raises(HubError) as error:
            laptop.push(attempts=3, sleep=waits.append, timeout=5)
        assert error.value.retryable and len(waits) == 2
        assert laptop.status()["waiting_total"] == changelog.last_seq(db)


def test_back_off_grows_and_is_capped():
    client = HubClient("http://127.0.0.1:1", backoff=0.5, max_backoff=8)
    for attempt in range(12):
        pause = client.pause(attempt)
        assert min(8, 0.5 * 2**attempt) / 2 <= pause <= min(8, 0.5 * 2**attempt)


def test_a_batch_for_the_wrong_laptop_or_unsigned_is_refused(pair):
    hub_app, lap = pair
    with context(lap) as db:
        state = changelog.state(db)
        record_device = db.execute("select id from device").fetchone()[0]
        key, hub_keys = laptop._sealing(state)
        frames = [changelog.seal(changelog.build(db, lap.instance_path, 0, record_device_id=r,
                                                 max_changes=5),
                                 device_id=state["device_id"], hub=hub_keys, key=key)
                  for r in ("another laptop's", record_device)]
        posing, frame = frames
    client = hub_app.test_client()
    headers = {"Authorization": f"Bearer {state['token']}"}
    bad = bytearray(frame)
    bad[-1] ^= 1
    response = client.post("/api/v1/sync/batches", data=bytes(bad), headers=headers,
                           content_type="application/octet-stream")
    assert response.status_code == 403 and response.get_json()["error"] == "bad-signature"
    response = client.post("/api/v1/sync/batches", data=frame[:100], headers=headers,
                           content_type="application/octet-stream")
    assert response.status_code == 400 and response.get_json()["error"] == "truncated"
    response = client.post("/api/v1/sync/batches", data=frame, headers=headers,
                           content_type="application/json")
    assert response.status_code == 415
    # An enrolment used by another laptop (another record device id) is refused.
    response = client.post("/api/v1/sync/batches", data=posing, headers=headers,
                           content_type="application/octet-stream")
    assert response.status_code == 403 and response.get_json()["error"] == "other-laptop"
    assert scalar(hub_app, "select count(*) from batches") == 0
    response = client.post("/api/v1/sync/batches", data=frame, headers=headers,
                           content_type="application/octet-stream")
    assert response.status_code == 200 and response.get_json()["status"] == "applied"
    response = client.post("/api/v1/sync/batches", data=frame, headers=headers,
                           content_type="application/octet-stream")
    assert response.get_json()["status"] == "duplicate"



def test_pull_brings_translations_and_keeps_what_only_the_laptop_has(pair):
    hub_app, lap = pair
    idea_id = query(hub_app, "select id from ideas order by position")[0]["id"]
    with context(lap) as db:
        db.execute("update ideas set text = json_set(text, '$.so', 'Ballan fiidkii.')"
                   " where id = ?", [idea_id])
        db.conn.commit()
    with context(hub_app):
        from engage.data import conversations

        conversations.update_item_texts("ideas", idea_id, {"en": "Evening appointments.",
                                                           "pl": "Wizyty wieczorem."}, {})
    with context(lap):
        counts = laptop.pull(transport=transport(hub_app))
    assert counts["ideas"] == 1
    texts = json.loads(query(lap, "select text from ideas where id = ?", [idea_id])[0]["text"])
    assert texts == {"en": "Evening appointments.", "pl": "Wizyty wieczorem.",
                     "so": "Ballan fiidkii."}
    # Pulled rows are not the laptop's to send back.
    assert scalar(lap, "select count(*) from changes where key = ?", [idea_id]) == 0


def test_laptop_accounts_reach_the_hub_as_names_that_cannot_sign_in(pair):
    hub_app, lap = pair
    with context(lap):
        laptop.push(transport=transport(hub_app))
    fay = query(hub_app, "select * from users where username like 'fay%'")[0]
    assert fay["active"] == 0 and fay["password_hash"] == "!synced"
    client = hub_app.test_client()
    session = sign_in.__globals__["Session"](client)
    session.get("/login")
    response = session.post("/login", {"username": fay["username"], "password": PASSWORD})
    assert response.status_code == 401


def test_an_ended_kiosk_reaches_the_hub(pair):
    hub_app, lap = pair
    from engage.data import kiosks

    with context(lap) as db:
        workshop_id = db.execute("select id from workshops").fetchone()[0]
        user_id = db.execute("select id from users").fetchone()[0]
        kiosk = kiosks.start_kiosk(workshop_id, user_id)
        laptop.push(transport=transport(hub_app))
        kiosks.end_kiosk(kiosk["id"])
        laptop.push(transport=transport(hub_app))
    assert query(hub_app, "select ended_at from kiosks")[0]["ended_at"]


def test_existing_records_are_queued_when_the_migration_runs(tmp_path):
    from engage.db import connect
    from engage.migrations import migrations

    db = connect(tmp_path / "old.db")
    migrations.apply(db, stop_before="0005_sync")
    device = db.execute("select id from device").fetchone()[0]
    db.execute("insert into users values ('u1', 'fay', 'x', 'admin', null, 1, ?, '1', null)",
               [device])
    db.execute("insert into conversations values ('c1', 's', '{}', '{}', 'open', ?, '2', null)",
               [device])
    db.execute("insert into workshops values ('w1', 'c1', 't', '2026-01-01', 'LS6', '[]',"
               " '[\"en\"]', 0, ?, '3', 'u1')", [device])
    db.execute("insert into workshop_facilitators values ('w1', 'u1')")
    db.execute("insert into conversations values ('c2', 's2', '{}', '{}', 'open', 'hub', '0',"
               " null)")
    db.conn.commit()
    migrations.apply(db)
    logged = [tuple(r) for r in db.execute("select tbl, key from changes order by seq")]
    assert logged == [("users", "u1"), ("conversations", "c1"), ("workshops", "w1"),
                      ("workshop_facilitators", '["w1","u1"]')]


# --- pages --------------------------------------------------------------------------


def test_laptop_and_hub_pages_each_exist_only_where_they_belong(pair):
    hub_app, lap = pair
    fay = sign_in(lap.test_client(), "fay")
    assert fay.get("/sync/").status_code == 200
    assert fay.get("/hub/batches").status_code == 404
    cora = sign_in(hub_app.test_client(), "cora")
    assert cora.get("/sync/").status_code == 404
    for url in ("/hub/batches", "/hub/devices", "/hub/enrol", "/hub/conflicts", "/hub/import",
                "/hub/export"):
        response = cora.get(url)
        assert response.status_code == 200, url
        assert 'aria-current="page"' in response.get_data(as_text=True)
    make_user(hub_app, "fred", "facilitator")
    fred = sign_in(hub_app.test_client(), "fred")
    assert fred.get("/hub/batches").status_code == 403


def test_the_sync_page_shows_what_waits_and_a_failed_push_keeps_it(pair):
    _, lap = pair
    with context(lap) as db:
        db.execute("update sync_state set hub_url = ?", [f"http://127.0.0.1:{closed_port()}"])
        db.conn.commit()
        waiting = laptop.status()["waiting_total"]
    fay = sign_in(lap.test_client(), "fay")
    page = fay.get("/sync/").get_data(as_text=True)
    assert f"{waiting} changes" in page
    response = fay.post("/sync/push")
    assert response.status_code == 303
    assert "could not be reached" in fay.followed
    assert "Nothing was lost" in fay.followed
    with context(lap):
        assert laptop.status()["waiting_total"] == waiting
    response = fay.post("/sync/bundle")
    assert response.status_code == 200
    assert response.data.startswith(b"ENGSYNC\x01")


def test_enrolling_by_file_on_the_pages(pair, tmp_path):
    hub_app, _ = pair
    cora = sign_in(hub_app.test_client(), "cora")
    cora.post("/hub/enrol", {"name": "Bradford laptop 2", "with_file": "1"})
    page = cora.followed or cora.get("/hub/enrol").get_data(as_text=True)
    response = cora.client.post("/hub/enrol", data={"csrf_token": cora._token,
                                                    "name": "Bradford laptop 2",
                                                    "with_file": "1"})
    html = response.get_data(as_text=True)
    import re

    code = re.search(r"<strong>([A-Z0-9-]{14})</strong>", html).group(1)
    link = re.search(r'href="(/hub/enrol/files/[^"]+)"', html).group(1)
    data = cora.get(link).data
    assert page is not None and data.startswith(b"ENGENRL1")
    offline = make_app(tmp_path / "offline")
    make_user(offline, "ola", "admin")
    ola = sign_in(offline.test_client(), "ola")
    ola.get("/sync/")
    response = ola.post("/sync/enrol", {"how": "file", "file_code": "WRONG-CODE-0000",
                                        "file": (io.BytesIO(data), "f.engage-enrol")},
                        content_type="multipart/form-data")
    assert response.status_code == 400
    assert "does not open this enrolment file" in response.get_data(as_text=True)
    response = ola.post("/sync/enrol", {"how": "file", "file_code": code.lower(),
                                        "file": (io.BytesIO(data), "f.engage-enrol")},
                        content_type="multipart/form-data")
    assert response.status_code == 303
    assert "enrolled as Bradford laptop 2" in ola.followed
    with context(offline):
        from engage.data import demo

        demo.load_sample(None)
        made = laptop.write_bundle(tmp_path / "offline.engage-sync")
    with context(hub_app):
        assert hub.receive_file(tmp_path / "offline.engage-sync")["status"] == "applied"
    assert made["written"]


def test_online_import_maps_previews_and_adds_the_best_ideas(pair):
    hub_app, lap = pair
    conversation = query(hub_app, "select id from conversations")[0]["id"]
    rows = [["comment-id", "comment-body", "agrees", "disagrees", "passes"],
            ["1", "Open the clinic on Saturdays.", "80", "5", "5"],
            ["2", "Text message reminders.", "3", "0", "0"],
            ["3", "Free parking at the hospital.", "40", "40", "10"]]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    cora = sign_in(hub_app.test_client(), "cora")
    cora.get("/hub/import")
    response = cora.post("/hub/import", {"conversation_id": conversation,
                                         "file": (io.BytesIO(buffer.getvalue().encode()),
                                                  "polis.csv")},
                         content_type="multipart/form-data")
    assert response.status_code == 303
    page = cora.followed
    assert "Open the clinic on Saturdays." in page and "polis.csv" in page  # the preview
    token = response.location.split("/hub/import/")[1].split("?")[0]
    response = cora.post(f"/hub/import/{token}", {
        "kind": "ideas", "map_external_id": "comment-id", "map_text": "comment-body",
        "map_agree": "agrees", "map_disagree": "disagrees", "map_unsure": "passes",
        "language": "en", "conversation_id": conversation, "top": "1"})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert "Imported 3 rows" in cora.followed
    online = query(hub_app, "select * from online_ideas order by external_id")
    assert [o["agree"] for o in online] == [80, 3, 40]
    added = query(hub_app, "select * from ideas where source = 'online'")
    assert [json.loads(i["text"])["en"] for i in added] == ["Open the clinic on Saturdays."]
    with context(lap):
        laptop.pull(transport=transport(hub_app))
    assert scalar(lap, "select count(*) from ideas where source = 'online'") == 1
    # A votes file, one row a vote, is counted per idea.
    votes = "voter,comment-id,vote\n" + "".join(f"v{n},2,{-1 if n % 2 else 1}\n"
                                                 for n in range(6))
    token = _upload(cora, conversation, votes)
    response = cora.post(f"/hub/import/{token}", {
        "kind": "votes", "map_external_id": "comment-id", "map_vote": "vote",
        "language": "en", "conversation_id": conversation, "top": "0"})
    assert response.status_code == 303
    assert query(hub_app, "select agree, disagree from online_ideas where external_id = '2'"
                 )[0] == {"agree": 3, "disagree": 3}


def _upload(session, conversation, text):
    response = session.post("/hub/import", {"conversation_id": conversation,
                                            "file": (io.BytesIO(text.encode()), "votes.csv")},
                            content_type="multipart/form-data")
    return response.location.split("/hub/import/")[1].split("?")[0]


def test_a_bad_value_in_the_file_is_shown_before_anything_is_saved(pair):
    hub_app, _ = pair
    conversation = query(hub_app, "select id from conversations")[0]["id"]
    cora = sign_in(hub_app.test_client(), "cora")
    cora.get("/hub/import")
    token = _upload(cora, conversation, "id,text,agrees\n1,Good idea,many\n")
    response = cora.post(f"/hub/import/{token}", {
        "kind": "ideas", "map_external_id": "id", "map_text": "text", "map_agree": "agrees",
        "language": "en", "conversation_id": conversation, "top": "5"})
    assert response.status_code == 400
    assert "should be a number" in response.get_data(as_text=True)
    assert scalar(hub_app, "select count(*) from online_ideas") == 0


# --- exports ------------------------------------------------------------------------


def test_merged_exports_carry_provenance_in_every_format(pair):
    hub_app, lap = pair
    with context(lap):
        laptop.push(transport=transport(hub_app))
    cora = sign_in(hub_app.test_client(), "cora")
    response = cora.get("/hub/export/contributions.csv")
    assert response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == scalar(lap, "select count(*) from contributions c where not exists"
                                    " (select 1 from contributions r where r.replaces ="
                                    " c.revision_id)")
    assert all(r["sync_batch_id"] and r["sync_via"] == "network" and r["device_id"]
               and r["sync_laptop"] == "Leeds laptop 3" for r in rows)
    lines = cora.get("/hub/export/batches.jsonl").get_data(as_text=True).splitlines()
    assert json.loads(lines[0])["counts"]["contributions"] > 0
    from openpyxl import load_workbook

    data = cora.get("/hub/export/participants.xlsx").data
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    header, *body = list(sheet.iter_rows(values_only=True))
    assert "age_band" in header and "sync_batch_id" in header and len(body) == 2


def test_demographic_counts_are_suppressed_under_the_threshold(pair):
    hub_app, lap = pair
    from engage.data import participants

    with context(lap) as db:
        workshop = db.execute("select id from workshops").fetchone()[0]
        people = [r[0] for r in db.execute("select distinct id from participants")]
        for person in people:
            participants.record_demographics(workshop, person, {"age_band": "25_34"},
                                             entered_by=None)
        laptop.push(transport=transport(hub_app))
    cora = sign_in(hub_app.test_client(), "cora")

    def counts(threshold):
        text = cora.get(f"/hub/export/demographics.csv?threshold={threshold}").get_data(
            as_text=True)
        return {(r["question"], r["answer"]): r for r in csv.DictReader(io.StringIO(text))}

    suppressed = counts(5)[("age_band", "25_34")]
    assert suppressed["count"] == "" and suppressed["suppressed"] == "1"
    shown = counts(2)[("age_band", "25_34")]
    assert shown["count"] == "2" and shown["suppressed"] == "0"


def test_csv_from_the_sqlite3_shell_and_from_python_hold_the_same_rows(pair, monkeypatch):

    from engage.sync import exports

    hub_app, lap = pair
    with context(lap):
        laptop.push(transport=transport(hub_app))
    database = hub_app.config["DATABASE"]

    def rows(shell: str):
        monkeypatch.setenv("ENGAGE_EXPORT_SHELL", shell)
        text = b"".join(c if isinstance(c, bytes) else c.encode() for c in
                        exports.stream(database, "contributions", "csv")).decode()
        assert "\r\n" in text
        return list(csv.reader(io.StringIO(text, newline="")))

    python_rows = rows("0")
    assert len(python_rows) > 10
    require_sqlite3_shell()
    assert rows("1") == python_rows


def test_media_travel_by_content_hash_in_their_own_batches(pair, tmp_path):
    import hashlib

    from engage.sync import media

    hub_app, lap = pair
    scans = [bytes([n]) * (300_000 + n) for n in range(3)]
    with context(lap):
        hashes = [media.store(scan, "image/png") for scan in scans]
        assert media.store(scans[0], "image/png") == hashes[0]  # stored once
        from engage.sync import changelog as log

        log_max = log.MAX_MEDIA_BYTES
        log.MAX_MEDIA_BYTES = 500_000  # one scan a batch
        try:
            sent = laptop.push(transport=transport(hub_app))
        finally:
            log.MAX_MEDIA_BYTES = log_max
    assert sent["rows"]["media"] == 3 and sent["batches"] >= 3
    with hub_app.app_context():
        for sha256, scan in zip(hashes, scans, strict=True):
            stored = media.path(sha256).read_bytes()
            assert stored == scan and hashlib.sha256(stored).hexdigest() == sha256
    assert scalar(hub_app, "select count(*) from media") == 3


def test_a_row_referring_to_something_the_hub_lacks_is_set_aside_not_lost(pair):
    from engage.data import contributions

    hub_app, lap = pair
    with context(lap) as db:
        workshop, conversation = db.execute("select id, conversation_id from workshops"
                                            ).fetchone()
        person = db.execute("select id from participants where consent = 1").fetchone()[0]
        with db.atomic():  # an idea this laptop has from elsewhere, never sent to the hub
            db.execute("insert into ideas (id, conversation_id, position, text, easy_read,"
                       " device_id, created_at) values ('stray', ?, 99, '{\"en\": \"x\"}',"
                       " '{}', 'elsewhere', '2026-01-01')", [conversation])
        vote = contributions.record_vote(workshop, person, "stray", "agree",
                                         channel="facilitator", entered_by=None)
        sent = laptop.push(transport=transport(hub_app))
    assert sent["conflicts"] == 2  # the vote and the exposure that came with it
    kinds = {(c["tbl"], c["kind"]) for c in query(hub_app, "select * from conflicts")}
    assert kinds == {("contributions", "missing-reference"), ("exposures", "missing-reference")}
    assert scalar(hub_app, "select count(*) from contributions where revision_id = ?",
                  [vote["revision_id"]]) == 0
    assert query(hub_app, "pragma foreign_key_check") == []  # nothing dangling
    mine = scalar(lap, "select count(*) from contributions")
    assert scalar(hub_app, "select count(*) from contributions") == mine - 1


def test_hub_upload_pages_take_files_bigger_than_a_page_form(tmp_path):
    """The 1 MB limit of ordinary forms must not apply to a USB file or a CSV upload."""
    from engage import create_app

    hub = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "hub"),
                      "SECRET_KEY": "k", "HUB": True, "WTF_CSRF_ENABLED": False})
    from conftest import make_user, sign_in

    make_user(hub, "cora", "coordinator")
    cora = sign_in(hub.test_client(), "cora")
    big = b"x" * (2 * 1024 * 1024)
    import io

    response = cora.client.post("/hub/receive", data={"file": (io.BytesIO(big), "big.engage")},
                                content_type="multipart/form-data")
    assert response.status_code != 413


def test_a_laptop_restored_from_a_backup_numbers_on_from_the_hub_and_loses_nothing(pair):
    """The hub holds changes this laptop's restored log never sent, and what the laptop
    records after the restore is numbered as those: the hub takes only changes after
    what it holds, so they must be numbered again, after it, or they never reach it."""
    hub_app, lap = pair
    restored, held = restored_from_backup(hub_app, lap)  # a copy taken before any sync
    assert scalar(restored, "select max(seq) from changes") < held
    made = capture(restored, participants=1, seed=2)  # recorded after the restore
    assert scalar(restored, "select max(seq) from changes") <= held  # numbers the hub holds
    with context(restored):
        laptop.push(transport=transport(hub_app))
        status = laptop.status()
    assert status["waiting_total"] == 0
    assert scalar(hub_app, "select held_seq from devices") == status["acked_seq"] > held
    for table, key in (("participants", "revision_id"), ("contributions", "revision_id"),
                       ("exposures", "id")):
        on_hub = {r[key] for r in query(hub_app, f"select {key} from {table}")}
        assert {r[key] for r in query(restored, f"select {key} from {table}")} <= on_hub, table
    on_hub = {r["id"] for r in query(hub_app, "select id from participants")}
    assert set(made["participants"]) <= on_hub


def test_a_restored_laptop_does_not_put_back_an_older_copy_of_a_row_it_changed(pair):
    """A kiosk ended and a laptop's own idea reworded after the backup reached the hub;
    the laptop restored from that backup sends its older copies, still waiting there. The hub keeps
    the newer ones and the older copies wait as conflicts: nothing goes back in time,
    and nothing is lost. The laptop's next pull brings its newer copies back to it."""
    from engage.data import conversations, kiosks

    hub_app, lap = pair
    with context(lap) as db:
        user_id = db.execute("select id from users order by created_at").fetchone()[0]
        workshop_id = db.execute("select id from workshops").fetchone()[0]
        kiosk = kiosks.start_kiosk(workshop_id, user_id)
        made = conversations.create_conversation({"en": "Our own questions"}, {"en": "Made here"},
                                                 user_id)
        idea = conversations.add_idea(made["id"], {"en": "A bench by the bus stop"})
    # The backup is taken before they were sent: the restored laptop still has them to send.
    backup = copy_instance(Path(lap.instance_path), Path(lap.instance_path + "-backup"))
    with context(lap):
        kiosks.end_kiosk(kiosk["id"])
        conversations.update_item_texts("ideas", idea["id"], {"en": "Two benches by the stop"},
                                        {})
        laptop.push(transport=transport(hub_app))
    ended = scalar(hub_app, "select ended_at from kiosks where id = ?", [kiosk["id"]])
    assert ended is not None

    restored = make_app(backup)
    with context(restored):
        laptop.push(transport=transport(hub_app))
    assert scalar(hub_app, "select ended_at from kiosks where id = ?", [kiosk["id"]]) == ended
    texts = json.loads(scalar(hub_app, "select text from ideas where id = ?", [idea["id"]]))
    assert texts == {"en": "Two benches by the stop"}
    older = query(hub_app, "select tbl, key, kind, incoming from conflicts order by tbl")
    assert [(c["tbl"], c["key"], c["kind"]) for c in older] == [
        ("ideas", idea["id"], "older"), ("kiosks", kiosk["id"], "older")]
    assert json.loads(json.loads(older[0]["incoming"])["text"]) == {"en": "A bench by the bus stop"}
    assert json.loads(older[1]["incoming"])["ended_at"] is None

    page = sign_in(hub_app.test_client(), "cora").get("/hub/conflicts").get_data(as_text=True)
    assert "This is an older copy of a row the hub holds a newer copy of" in page

    with context(restored):
        laptop.pull(transport=transport(hub_app))  # and the laptop gets its rewording back
    texts = json.loads(scalar(restored, "select text from ideas where id = ?", [idea["id"]]))
    assert texts == {"en": "Two benches by the stop"}


def test_every_kind_of_conflict_is_explained_to_the_coordinator():
    """The conflicts page says what each kind means; a kind raised without an
    explanation would show only its code."""
    import re

    from engage.sync import apply
    from engage.sync.messages import CONFLICTS

    source = Path(apply.__file__).read_text(encoding="utf-8")
    raised = set(re.findall(r'self\.conflict\([^"]*"([a-z-]+)"', source))
    assert {"changed", "older", "other-owner", "fork"} <= raised
    assert raised == set(CONFLICTS)


def test_a_lost_answer_is_not_taken_for_a_restore_and_sends_nothing_twice(pair):
    """The hub applied a batch but its answer never came: it then holds more than the
    laptop was told, yet no more than the laptop sent, so nothing is numbered again."""
    hub_app, lap = pair

    def answer_lost(method, url, body, headers):
        status, answer = transport(hub_app)(method, url, body, headers)
        if url.endswith("/sync/batches"):
            return 503, b'{"error": "busy", "message": "the answer was lost"}'
        return status, answer

    with context(lap) as db:
        with pytest.raises(HubError):
            laptop.push(transport=answer_lost, attempts=2, sleep=lambda _: None)
        assert laptop.status()["acked_seq"] == 0
        logged = changelog.last_seq(db)
        sent = laptop.push(transport=transport(hub_app))
        assert changelog.last_seq(db) == logged  # nothing queued again
        status = laptop.status()
    assert sent["batches"] == 0 and status["waiting_total"] == 0
    assert scalar(hub_app, "select held_seq from devices") == status["acked_seq"] == logged


def test_a_receipt_from_a_hub_that_holds_more_than_the_laptop_sent_numbers_on_from_it(pair):
    """The same by USB stick: the restored laptop learns from a receipt that the hub holds
    more than it ever sent, and what it records after is numbered after that."""
    hub_app, lap = pair
    restored, held = restored_from_backup(hub_app, lap)
    with hub_app.app_context():
        receipt = hub.receipt(scalar(hub_app, "select id from devices"))
    with context(restored):
        laptop.take_receipt(receipt)
    made = capture(restored, participants=1, seed=2)
    with context(restored):
        laptop.push(transport=transport(hub_app))
    on_hub = {r["id"] for r in query(hub_app, "select id from participants")}
    assert set(made["participants"]) <= on_hub
    assert scalar(hub_app, "select held_seq from devices") > held


LOST = {"workshops": "id", "participants": "revision_id", "contributions": "revision_id",
        "exposures": "id", "workshop_facilitators": "workshop_id || user_id"}


def _keys(app, table):
    return {r["k"] for r in query(app, f"select {LOST[table]} as k from {table}")}


def test_a_restored_laptop_gets_back_from_the_hub_the_records_it_had_sent(pair):
    """What the laptop recorded and sent after its backup was taken comes back at its
    first push after the restore, just as the hub holds it, once; none of it is queued
    to be sent again, and the facilitator sees it where it was."""
    hub_app, lap = pair
    restored, _ = restored_from_backup(hub_app, lap)
    lost = {table: _keys(lap, table) - _keys(restored, table) for table in LOST}
    assert all(lost.values())
    with context(restored):
        sent = laptop.push(transport=transport(hub_app))
        assert laptop.status()["waiting_total"] == 0
    assert sum(sent["recovered"].values()) == sum(len(k) for k in lost.values())
    for table in LOST:
        assert _keys(restored, table) == _keys(lap, table), table
    columns = "revision_id, id, revision, replaces, kind, text, vote, device_id, created_at"
    assert query(restored, f"select {columns} from contributions order by revision_id") == (
        query(lap, f"select {columns} from contributions order by revision_id"))
    with context(restored):
        again = laptop.push(transport=transport(hub_app))
        assert again["recovered"] == {} and again["batches"] == 0
    workshop = scalar(lap, "select id from workshops order by created_at desc limit 1")
    page = sign_in(restored.test_client(), "fay").get(f"/workshops/{workshop}")
    assert page.status_code == 200


def test_accounts_made_after_the_backup_come_back_unable_to_sign_in(pair):
    hub_app, lap = pair
    instance = Path(lap.instance_path)
    backup = copy_instance(instance, instance.with_name("backup"))
    make_user(lap, "nia", "facilitator")
    with context(lap):
        laptop.push(transport=transport(hub_app))
    restored = make_app(backup)
    with context(restored):
        laptop.push(transport=transport(hub_app))
    nia = query(restored, "select active, password_hash from users where username = 'nia'")
    assert nia == [{"active": 0, "password_hash": ""}]
    client = restored.test_client()
    client.get("/login")
    assert client.post("/login", data={"username": "nia", "password": PASSWORD}).status_code != 302


def test_a_recovery_cut_short_goes_on_from_its_last_page(pair, monkeypatch):
    from engage.sync import recovery

    monkeypatch.setattr(recovery, "PAGE_ROWS", 3)
    hub_app, lap = pair
    restored, _ = restored_from_backup(hub_app, lap)
    send, pages = transport(hub_app), []

    def cut_after_two_pages(method, url, body, headers):
        if url.endswith("/sync/recover"):
            pages.append(url)
            if len(pages) == 3:
                return 503, b'{"error": "busy", "message": "busy"}'
        return send(method, url, body, headers)

    lost = sum(len(_keys(lap, table) - _keys(restored, table)) for table in LOST)
    with context(restored) as db:
        first = laptop.push(transport=cut_after_two_pages, attempts=1)
        assert laptop.status()["waiting_total"] == 0  # what it had to send is sent
        assert changelog.state(db)["recovery"]  # and the recovery waits for the next push
    assert len(pages) == 3 and 0 < sum(first["recovered"].values()) < lost
    with context(restored) as db:
        rest = laptop.push(transport=send)
        assert changelog.state(db)["recovery"] is None
    assert sum(first["recovered"].values()) + sum(rest["recovered"].values()) == lost
    for table in LOST:
        assert _keys(restored, table) == _keys(lap, table), table


def test_only_the_laptop_itself_can_ask_for_its_records_and_only_it_can_read_them(pair):
    """A token alone is not enough (the records hold demographic answers); the answer
    is sealed to a key made for the request, holds only the asking laptop's rows, and
    is no use to anyone who copies it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engage.sync import recovery

    hub_app, lap = pair
    other = enrol_laptop(Path(lap.instance_path).with_name("other"), hub_app, "Other laptop")
    capture(other, participants=1, seed=9)
    for app in (lap, other):
        with context(app):
            laptop.push(transport=transport(hub_app))
    with context(lap) as db:
        state = changelog.state(db)
        key, hub = laptop._sealing(state)
    client = hub_app.test_client()
    headers = {"Authorization": f"Bearer {state['token']}"}
    body, answer_key = recovery.ask(state, key, None)
    forged, _ = recovery.ask(state, Ed25519PrivateKey.generate(), None)
    assert client.post("/api/v1/sync/recover", json=forged, headers=headers).status_code == 403
    unsigned = {"request": body["request"], "signature": ""}
    assert client.post("/api/v1/sync/recover", json=unsigned, headers=headers).status_code == 403
    assert client.post("/api/v1/sync/recover", json=body).status_code == 401
    answer = client.post("/api/v1/sync/recover", json=body, headers=headers)
    assert answer.status_code == 200
    code = scalar(lap, "select code from participants limit 1")
    assert code.encode() not in answer.data
    sections, following = recovery.open_page(answer.get_json(), state, hub, answer_key, None)
    assert following is None
    here = scalar(lap, "select id from device")
    rows = [dict(zip(s["columns"], r, strict=True)) for s in sections for r in s["rows"]]
    assert rows and all(r.get("device_id", here) == here for r in rows)
    with pytest.raises(recovery.RecoveryRefused):  # the key of another request
        recovery.open_page(answer.get_json(), state, hub, recovery.ask(state, key, None)[1], None)


def test_a_restore_is_caught_up_with_once_not_again_at_each_contact(pair):
    """Once the laptop has numbered on from what the hub holds, the same hub's word is no
    news: taken again (a second receipt, a push with nothing new), nothing is queued."""
    hub_app, lap = pair
    restored, _ = restored_from_backup(hub_app, lap)
    with hub_app.app_context():
        receipt = hub.receipt(scalar(hub_app, "select id from devices"))
    with context(restored) as db:
        laptop.take_receipt(receipt)
        queued = changelog.last_seq(db)
        laptop.take_receipt(receipt)
        assert changelog.last_seq(db) == queued


RESTORED = "This laptop was restored from a backup"


@pytest.mark.parametrize("how", ["network", "receipt"])
def test_a_restored_laptop_says_its_lost_work_is_safe_on_the_hub_until_it_is_read(pair, how):
    """Work the restore took off the laptop is on the hub already; entered again it would
    count twice. So once sync finds the restore, the laptop's pages say so, to everyone
    signed in, until a coordinator or admin has read it."""
    hub_app, lap = pair
    with context(lap):
        laptop.push(transport=transport(hub_app))  # an ordinary push says nothing
    assert RESTORED not in sign_in(lap.test_client(), "fay").get("/sync/").get_data(as_text=True)
    restored, _ = restored_from_backup(hub_app, lap)
    make_user(restored, "fred", "facilitator")
    fred, fay = sign_in(restored.test_client(), "fred"), sign_in(restored.test_client(), "fay")
    assert RESTORED not in fred.get("/workshops/").get_data(as_text=True)
    with hub_app.app_context():
        receipt = hub.receipt(scalar(hub_app, "select id from devices"))
    with context(restored):
        if how == "network":
            laptop.push(transport=transport(hub_app))
        else:
            laptop.take_receipt(receipt)
    for page in ("/workshops/", "/sync/"):
        shown = fred.get(page).get_data(as_text=True)
        assert RESTORED in shown and "Do not enter it again" in shown, page
        assert "I have read this" not in shown, page
    assert fred.post("/sync/restored/read").status_code == 403
    assert RESTORED in fred.get("/workshops/").get_data(as_text=True)
    assert "I have read this" in fay.get("/sync/").get_data(as_text=True)
    assert fay.post("/sync/restored/read").status_code == 303
    assert "still on the hub" in fay.followed and RESTORED not in fay.followed
    assert RESTORED not in fred.get("/workshops/").get_data(as_text=True)
    with context(restored):
        laptop.push(transport=transport(hub_app))  # caught up: nothing more to say
    assert RESTORED not in fred.get("/workshops/").get_data(as_text=True)


def test_catching_up_with_an_empty_log_numbers_on_from_the_hub(pair):
    """A log that never numbered a change has nothing in sqlite_sequence to raise."""
    _, lap = pair
    with context(lap) as db:
        with db.atomic():
            db.execute("delete from changes")
            db.execute("delete from sqlite_sequence where name = 'changes'")
            db.execute("update sync_state set acked_seq = 0, sent_seq = 0")
        laptop._catch_up(db, 41)
        with db.atomic():
            db.execute("insert into changes (tbl, key) values ('users', 'x')")
        assert changelog.last_seq(db) == 42
