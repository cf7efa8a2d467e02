"""Three laptops and a hub: whatever the order of saves and deliveries, the hub ends with
each record exactly once, at its latest revision, and clashes flagged, never overwritten.

Hypothesis draws a run of steps: saves on any laptop (participants, consent, ideas,
votes and changed votes, corrections), batches built ahead of their acknowledgement and
delivered in any order, delivered again, delivered with the answer lost, cut off half
way; USB files made, received, received again and cut short; and laptops that make a
row with a UUID another laptop already used (a cloned disk, say). At the end every
laptop pushes what is left, and the hub is compared with each laptop row by row.
"""

from __future__ import annotations

import shutil
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receipt_support import as_sent
from sync_support import capture, context, enrol_laptop, make_app, make_hub, transport

from engage.data import contributions, participants
from engage.db import get_db
from engage.sync import changelog, hub, laptop
from engage.sync.envelope import Refused

DEVICES = 3
REVISED = ("participants", "contributions")
FIXED = ("exposures", "workshops")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A hub and three enrolled laptops, each with a workshop under way, made once."""
    root = tmp_path_factory.mktemp("sync-template")
    hub_app = make_hub(root / "hub")
    for n in range(DEVICES):
        lap = enrol_laptop(root / f"laptop{n}", hub_app, f"laptop {n}")
        capture(lap, participants=1, seed=n)
    return root


class Laptop:
    def __init__(self, app, hub_app):
        self.app = app
        self.send = transport(hub_app)
        with app.app_context():
            state = changelog.state(get_db())
            self.token = state["token"]
            self.record_device = get_db().execute("select id from device").fetchone()[0]
            self.workshop = get_db().execute("select id from workshops").fetchone()[0]
            self.user = get_db().execute("select id from users").fetchone()[0]
            self.ideas = [r[0] for r in get_db().execute("select id from ideas")]
        self.outbox: list[tuple[bytes, int]] = []
        self.cursor = 0
        self.bundles = []
        self.frozen: set[str] = set()  # records another laptop clashed with

    def acked(self) -> int:
        with self.app.app_context():
            return changelog.state(get_db())["acked_seq"]

    def build(self, max_changes: int) -> None:
        with context(self.app) as db:
            state = changelog.state(db)
            after = max(state["acked_seq"], self.cursor)
            out = changelog.build(db, self.app.instance_path, after,
                                  record_device_id=self.record_device, max_changes=max_changes)
            if out is None:
                return
            key, hub_keys = laptop._sealing(state)
            frame = changelog.seal(out, device_id=state["device_id"], hub=hub_keys, key=key)
        self.outbox.append((frame, out.seq_to))
        self.cursor = out.seq_to

    def deliver(self, frame: bytes, lose_answer: bool = False) -> int:
        status, body = self.send("POST", "http://hub.test/api/v1/sync/batches", frame, {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/octet-stream"})
        import json

        answer = json.loads(body)
        if status == 409:  # built ahead of a batch the hub has not had: start again there
            assert answer["error"] == "gap"
            with self.app.app_context():
                changelog.set_acked(get_db(), answer["held_seq"])
            self.cursor = answer["held_seq"]
            return status
        if status == 200 and not lose_answer:
            with self.app.app_context():
                changelog.set_acked(get_db(), answer["held_seq"])
        return status

    def save(self, what: str, pick: int) -> None:
        with context(self.app) as db:
            people = [r[0] for r in db.execute(
                "select distinct id from participants where consent = 1")]
            person = people[pick % len(people)]
            if what == "participant":
                made = participants.add_participant(self.workshop, channel="kiosk",
                                                    language="pl", entered_by=None)
                participants.record_consent(self.workshop, made["id"], True, entered_by=None)
            elif what == "vote":
                contributions.record_vote(self.workshop, person, self.ideas[pick % 4],
                                          ("agree", "disagree", "unsure")[pick % 3],
                                          channel="facilitator", entered_by=self.user)
            elif what == "idea":
                contributions.add_idea(self.workshop, person, {"text": f"Idea {pick}"},
                                       channel="facilitator", entered_by=self.user)
            else:
                ideas = [r for r in db.query(
                    "select * from contributions c where kind = 'idea' and not exists"
                    " (select 1 from contributions r where r.replaces = c.revision_id)")
                    if r["id"] not in self.frozen]
                if ideas:
                    row = ideas[pick % len(ideas)]
                    contributions.correct_contribution(
                        self.workshop, row["id"], {"text": f"Corrected {pick}"},
                        expected_revision_id=row["revision_id"], entered_by=self.user)


def clash(source: Laptop, target: Laptop, kind: str, pick: int, clashes: list) -> None:
    """``target`` makes a contribution with a UUID ``source`` already used."""
    with source.app.app_context():
        rows = [r for r in get_db().query(
            "select * from contributions where kind = 'idea' and revision = 1")
            if r["id"] not in source.frozen]
    if not rows:
        return
    original = rows[pick % len(rows)]
    with context(target.app) as db:
        person = db.execute("select id from participants where consent = 1").fetchone()[0]
        copy = {**original, "workshop_id": target.workshop, "participant_id": person,
                "text": "Same UUID, other words", "device_id": target.record_device,
                "submission_id": None, "entered_by": None, "kiosk_id": None}
        if kind == "record":
            copy["revision_id"] = str(uuid.uuid4())
        if db.execute("select 1 from contributions where revision_id = ? or id = ?",
                      [copy["revision_id"], copy["id"]]).fetchone():
            return
        with db.atomic():
            db["contributions"].insert(copy)
    source.frozen.add(original["id"])
    target.frozen.add(original["id"])
    clashes.append((kind, original, copy))


devices = st.integers(0, DEVICES - 1)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("save"), devices,
                  st.sampled_from(["participant", "vote", "vote", "idea", "correct"]),
                  st.integers(0, 999)),
        st.tuples(st.just("build"), devices, st.integers(1, 12)),
        st.tuples(st.just("deliver"), devices, st.integers(0, 99), st.booleans()),
        st.tuples(st.just("cut"), devices, st.integers(0, 99), st.floats(0.01, 0.99)),
        st.tuples(st.just("bundle"), devices),
        st.tuples(st.just("receive"), devices, st.integers(0, 99)),
        st.tuples(st.just("clash"), devices, devices, st.sampled_from(["revision", "record"]),
                  st.integers(0, 99)),
    ),
    min_size=1,
    max_size=25,
)


def hub_count(hub_app) -> tuple:
    with hub_app.app_context():
        db = get_db()
        return tuple(db.execute(f"select count(*) from {t}").fetchone()[0]
                     for t in ("contributions", "participants", "batches", "received"))


@settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(run=steps)
def test_three_laptops_any_interleaving_end_exactly_once(template, tmp_path_factory, run):
    root = tmp_path_factory.mktemp("run")
    shutil.copytree(template, root, dirs_exist_ok=True)
    hub_app = make_app(root / "hub", hub=True)
    laptops = [Laptop(make_app(root / f"laptop{n}"), hub_app) for n in range(DEVICES)]
    clashes: list = []
    for step in run:
        kind, d = step[0], laptops[step[1]]
        if kind == "save":
            d.save(step[2], step[3])
        elif kind == "build":
            d.build(step[2])
        elif kind == "deliver" and d.outbox:
            d.deliver(d.outbox[step[2] % len(d.outbox)][0], lose_answer=step[3])
        elif kind == "cut" and d.outbox:
            frame = d.outbox[step[2] % len(d.outbox)][0]
            before = hub_count(hub_app)
            status = d.deliver(frame[: int(len(frame) * step[3])])
            assert status == 400 and hub_count(hub_app) == before
        elif kind == "bundle":
            path = root / f"usb-{step[1]}-{len(d.bundles)}.engage-sync"
            with context(d.app):
                if laptop.write_bundle(path, max_changes=10)["written"]:
                    d.bundles.append(path)
        elif kind == "receive" and d.bundles:
            path = d.bundles[step[2] % len(d.bundles)]
            with context(hub_app):
                hub.receive_file(path)
            # A cut-off copy of the same file is refused whole.
            short = path.with_suffix(".short")
            short.write_bytes(path.read_bytes()[: max(1, path.stat().st_size * 2 // 3)])
            before = hub_count(hub_app)
            with context(hub_app), pytest.raises(Refused):
                hub.receive_file(short)
            assert hub_count(hub_app) == before
        elif kind == "clash" and step[1] != step[2]:
            clash(d, laptops[step[2]], step[3], step[4], clashes)
    # Every laptop sends what is left, as a push does.
    for d in laptops:
        for _ in range(1000):
            d.cursor = 0
            d.outbox.clear()
            d.build(50)
            if not d.outbox:
                break
            assert d.deliver(d.outbox[0][0]) == 200
        with context(d.app) as db:
            assert changelog.state(db)["acked_seq"] == changelog.last_seq(db)
    check(hub_app, laptops, clashes)


def check(hub_app, laptops, clashes):
    with hub_app.app_context():
        db = get_db()
        hub_rows = {t: {r["revision_id"]: r for r in db.query(f"select * from {t}")}
                    for t in REVISED}
        hub_fixed = {t: {r["id"]: r for r in db.query(f"select * from {t}")} for t in FIXED}
        conflicts = list(db.query("select * from conflicts"))
        assert db.execute("pragma foreign_key_check").fetchall() == []  # nothing dangling
        for t in REVISED:  # each row's receipt is the batch that brought it
            assert db.execute(
                f"select count(*) from {t} x join received r on r.tbl = '{t}'"
                " and r.key = x.revision_id join batches b on b.batch_id = r.batch_id"
                " join devices d on d.id = b.device_id where x.sync_batch_id = b.batch_id"
                " and x.sync_via = b.via and x.sync_received_at = b.received_at"
                " and x.sync_laptop = d.name").fetchone()[0] == len(hub_rows[t]), t
        forks = db.execute(
            "select count(*) from (select id from contributions c where not exists (select 1"
            " from contributions r where r.replaces = c.revision_id) group by id"
            " having count(*) > 1)").fetchone()[0]
    assert forks == 0  # every record has one latest revision on the hub
    clashed = {original["id"] for _, original, _ in clashes}
    union = {t: {} for t in REVISED}
    for d in laptops:
        with d.app.app_context():
            db = get_db()
            for t in REVISED:
                for row in db.query(f"select * from {t}"):
                    union[t].setdefault(row["revision_id"], []).append(row)
                    if row["id"] in clashed:
                        continue
                    assert as_sent(hub_rows[t].get(row["revision_id"]) or {}) == row, (t, row)
                # The hub's latest revision of each record is this laptop's latest.
                for record_id, latest in db.execute(
                        f"select id, revision_id from {t} c where not exists (select 1 from"
                        f" {t} r where r.replaces = c.revision_id)"):
                    if record_id in clashed:
                        continue
                    replaced_on_hub = [r for r in hub_rows[t].values()
                                       if r["replaces"] == latest]
                    assert replaced_on_hub == [], (t, record_id)
            for t in FIXED:
                for row in db.query(f"select * from {t}"):
                    assert hub_fixed[t][row["id"]] == row, (t, row)
    # Exactly once: nothing on the hub that no laptop made; whatever a laptop made that
    # is not on the hub was set aside as a conflict (a clash, or a correction of one).
    assert set(hub_rows["participants"]) == set(union["participants"])
    assert set(hub_rows["contributions"]) <= set(union["contributions"])
    flagged_keys = {c["key"] for c in conflicts}
    missing = set(union["contributions"]) - set(hub_rows["contributions"])
    assert missing <= flagged_keys
    assert all(row["id"] in clashed for rid in missing for row in union["contributions"][rid])
    for kind, original, copy in clashes:
        rid = original["revision_id"]
        if kind == "revision":
            kept = hub_rows["contributions"][rid]
            assert kept["text"] in (original["text"], copy["text"])
            flagged = [c for c in conflicts if c["key"] == rid and c["kind"] == "changed"]
        else:
            both = [r for r in hub_rows["contributions"].values() if r["id"] == original["id"]
                    and r["revision"] == 1]
            assert len(both) == 1
            flagged = [c for c in conflicts if c["record_id"] == original["id"]
                       and c["kind"] == "same-record"]
        assert flagged, (kind, rid)
