"""The schema, as numbered sqlite-utils migrations.

Records that can be corrected keep every revision: ``revision_id`` is the row's own
UUID, ``id`` the record's UUID shared by its revisions, and ``replaces`` names the
revision a correction supersedes. Rows are never updated in place.
"""

from __future__ import annotations

import platform
import sqlite3
import uuid
from datetime import datetime, timezone

from sqlite_utils import Database, Migrations

migrations = Migrations("engage")


@migrations(name="0001_initial")
def m0001_initial(db: Database) -> None:
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    _run_script(
        db,
        """
        create table device (
            id text primary key,
            name text not null,
            created_at text not null
        );
        create table users (
            id text primary key,
            username text not null unique collate nocase,
            password_hash text not null,
            role text not null check (role in ('admin', 'coordinator', 'facilitator')),
            locale text,
            active integer not null default 1,
            device_id text not null,
            created_at text not null,
            created_by text
        );
        create table login_failures (
            key text primary key,
            failures integer not null,
            last_failure_at text not null
        );
        create table conversations (
            id text primary key,
            slug text not null unique,
            title text not null,          -- JSON {lang: text}
            description text not null,    -- JSON {lang: text}
            status text not null default 'open',
            device_id text not null,
            created_at text not null,
            created_by text
        );
        create table prompts (
            id text primary key,
            conversation_id text not null references conversations(id),
            position integer not null,
            text text not null,           -- JSON {lang: text}
            easy_read text not null,      -- JSON {lang: text}
            device_id text not null,
            created_at text not null
        );
        create index prompts_conversation on prompts(conversation_id, position);
        create table ideas (
            id text primary key,
            conversation_id text not null references conversations(id),
            position integer not null,
            text text not null,           -- JSON {lang: text}
            easy_read text not null,      -- JSON {lang: text}
            source text not null default 'seed',
            device_id text not null,
            created_at text not null
        );
        create index ideas_conversation on ideas(conversation_id, position);
        create table workshops (
            id text primary key,
            conversation_id text not null references conversations(id),
            title text not null,
            date text not null,
            postcode_district text not null,
            tags text not null,           -- JSON list
            languages text not null,      -- JSON list of locale codes
            sample integer not null default 0,
            device_id text not null,
            created_at text not null,
            created_by text
        );
        create table workshop_facilitators (
            workshop_id text not null references workshops(id),
            user_id text not null references users(id),
            primary key (workshop_id, user_id)
        );
        create table participants (
            revision_id text primary key,
            id text not null,
            revision integer not null,
            replaces text references participants(revision_id),
            workshop_id text not null references workshops(id),
            code text not null,
            channel text not null check (channel in ('facilitator', 'kiosk', 'paper')),
            language text not null,
            consent integer not null default 0,
            consent_at text,
            age_band text,
            ethnic_group text,
            disability text,
            sex text,
            gender_identity text,
            sexual_orientation text,
            postcode_district text,
            role text,
            entered_by text,
            device_id text not null,
            created_at text not null,
            submission_id text unique
        );
        create index participants_id on participants(id);
        create index participants_replaces on participants(replaces);
        create index participants_workshop on participants(workshop_id);
        create table contributions (
            revision_id text primary key,
            id text not null,
            revision integer not null,
            replaces text references contributions(revision_id),
            status text not null default 'active' check (status in ('active', 'withdrawn')),
            kind text not null check (kind in ('idea', 'comment', 'vote')),
            workshop_id text not null references workshops(id),
            participant_id text not null,
            idea_id text references ideas(id),
            prompt_id text references prompts(id),
            text text,
            language text,
            translation text,
            translation_language text,
            vote text check (vote is null or vote in ('agree', 'disagree', 'unsure')),
            channel text not null check (channel in ('facilitator', 'kiosk', 'paper')),
            entered_by text,
            device_id text not null,
            created_at text not null,
            submission_id text unique
        );
        create index contributions_id on contributions(id);
        create index contributions_replaces on contributions(replaces);
        create index contributions_participant on contributions(participant_id);
        create index contributions_workshop on contributions(workshop_id);
        create table exposures (
            id text primary key,
            participant_id text not null,
            idea_id text not null references ideas(id),
            workshop_id text not null references workshops(id),
            channel text not null,
            entered_by text,
            device_id text not null,
            created_at text not null,
            unique (participant_id, idea_id)
        );
        """,
    )
    db["device"].insert(
        {"id": str(uuid.uuid4()), "name": platform.node() or "laptop", "created_at": now}
    )


@migrations(name="0002_kiosks")
def m0002_kiosks(db: Database) -> None:
    """Kiosk sessions, named on what participants enter themselves, for provenance."""
    _run_script(
        db,
        """
        create table kiosks (
            id text primary key,
            workshop_id text not null references workshops(id),
            started_by text not null references users(id),
            started_at text not null,
            ended_at text,
            device_id text not null
        );
        alter table participants add column kiosk_id text references kiosks(id);
        alter table contributions add column kiosk_id text references kiosks(id);
        """,
    )


@migrations(name="0003_vote_lookup_index")
def m0003_vote_lookup_index(db: Database) -> None:
    """Find a participant's current vote on an idea without reading all they said:
    each vote looked it up, and the lookup slowed as a participant's entries grew."""
    db.execute(
        "create index if not exists contributions_participant_idea"
        " on contributions(participant_id, idea_id)"
    )


@migrations(name="0004_paper_forms")
def m0004_paper_forms(db: Database) -> None:
    """Printed forms: what was printed, for which workshop, and the layout to read it back."""
    _run_script(
        db,
        """
        create table forms (
            id text primary key,            -- the short form id in every page's QR code
            workshop_id text references workshops(id),
            conversation_id text not null references conversations(id),
            language text not null,
            variant text not null,
            paper text not null,
            sheets integer not null,
            first_serial integer not null,
            shuffled integer not null default 0,
            demographics integer not null default 1,
            spec text not null,             -- JSON: what was printed
            layout text not null,           -- JSON: where every box is, per sheet and page
            pdf_path text not null,
            created_by text,
            device_id text not null,
            created_at text not null
        );
        create index forms_workshop on forms(workshop_id);
        """,
    )


#: Tables whose new rows (made on this device) are logged for the hub, the key that
#: names a row, and the order they are backfilled in (what others refer to comes first).
_SYNC_LOG_0005 = (
    ("users", "new.id", "id", "created_at"),
    ("conversations", "new.id", "id", "created_at"),
    ("prompts", "new.id", "id", "created_at"),
    ("ideas", "new.id", "id", "created_at"),
    ("workshops", "new.id", "id", "created_at"),
    ("kiosks", "new.id", "id", "started_at"),
    ("forms", "new.id", "id", "created_at"),
    ("participants", "new.revision_id", "revision_id", "created_at, revision"),
    ("contributions", "new.revision_id", "revision_id", "created_at, revision"),
    ("exposures", "new.id", "id", "created_at"),
    ("media", "new.sha256", "sha256", "created_at"),
)
#: Tables whose rows may later change in place on the device that made them.
_SYNC_UPDATED_0005 = ("conversations", "prompts", "ideas", "kiosks")


@migrations(name="0005_sync")
def m0005_sync(db: Database) -> None:
    """Sync to the hub: an append-only change log filled by triggers, the laptop's sync
    state, media by content hash, and the hub's devices, batches and conflicts.

    Triggers log only rows made on this device (their ``device_id`` is this one's), so
    rows pulled from the hub or received from laptops are never sent on again. A later
    migration adds a table to sync by adding its own ``sync_log_<table>`` trigger.
    """
    _run_script(
        db,
        """
        create table changes (
            seq integer primary key autoincrement,
            tbl text not null,
            key text not null           -- the row's key; JSON array for a composite key
        );
        create table sync_state (
            id integer primary key check (id = 1),
            hub_url text,
            device_id text,             -- this laptop's identity on the hub
            device_name text,
            token text,
            hub_key_id text,
            hub_keys text,              -- JSON: the hub's public keys
            enrolled_at text,
            acked_seq integer not null default 0,
            acked_at text,
            last_attempt_at text,
            last_error text,
            failures integer not null default 0,
            next_attempt_at text,
            pulled_at text
        );
        insert into sync_state (id) values (1);
        create table media (
            sha256 text primary key,    -- the file is instance/media/<sha256>
            size integer not null,
            content_type text not null,
            device_id text not null,
            created_at text not null
        );
        create table devices (
            id text primary key,
            name text not null,
            record_device_id text,      -- the device id its records carry
            public_key text not null,   -- Ed25519, base64
            token_hash text not null unique,
            held_seq integer not null default 0,
            enrolled_at text not null,
            enrolled_by text,
            via text not null,
            last_heard_at text,
            revoked_at text
        );
        create table enrolment_codes (
            code_hash text primary key,
            name text not null,
            created_by text,
            created_at text not null,
            expires_at text not null,
            used_at text,
            device_id text
        );
        create table batches (
            batch_id text primary key,
            device_id text not null references devices(id),
            bundle_id text,
            via text not null check (via in ('network', 'file')),
            seq_from integer not null,
            seq_to integer not null,
            held_before integer not null,
            held_after integer not null,
            made_at text not null,
            received_at text not null,
            counts text not null,       -- JSON {table: rows applied}
            sent text not null,         -- JSON {table: rows sent}
            workshops text not null,    -- JSON list of workshop ids
            conflicts integer not null default 0,
            manifest_sha256 text not null,
            frame_sha256 text not null,
            received_by text
        );
        create index batches_device on batches(device_id, received_at);
        create table received (
            tbl text not null,
            key text not null,
            batch_id text not null,
            primary key (tbl, key)
        ) without rowid;
        create table conflicts (
            id text primary key,
            tbl text not null,
            key text not null,
            record_id text,
            kind text not null,
            batch_id text not null,
            device_id text not null,
            existing text,              -- JSON of the row kept
            incoming text not null,     -- JSON of the row not applied
            detected_at text not null,
            resolved_at text,
            resolved_by text,
            note text
        );
        create index conflicts_open on conflicts(resolved_at, detected_at);
        create table online_imports (
            id text primary key,
            conversation_id text not null references conversations(id),
            filename text not null,
            mapping text not null,      -- JSON {field: CSV column}
            rows integer not null,
            added_ideas integer not null,
            imported_by text,
            imported_at text not null
        );
        create table online_ideas (
            id text primary key,
            conversation_id text not null references conversations(id),
            external_id text not null,
            text text not null,
            language text not null,
            agree integer not null default 0,
            disagree integer not null default 0,
            unsure integer not null default 0,
            idea_id text references ideas(id),
            import_id text not null references online_imports(id),
            updated_at text not null,
            unique (conversation_id, external_id)
        );
        """,
    )
    local = "(select id from device)"
    for table, key, column, order in _SYNC_LOG_0005:
        when = f"new.device_id = {local}"
        db.execute(
            f"create trigger sync_log_{table} after insert on {table} when {when}"
            f" begin insert into changes (tbl, key) values ('{table}', {key}); end"
        )
        if table in _SYNC_UPDATED_0005:
            db.execute(
                f"create trigger sync_log_{table}_update after update on {table} when {when}"
                f" begin insert into changes (tbl, key) values ('{table}', {key}); end"
            )
        # What this device made before sync existed is queued too, oldest first.
        db.execute(
            f"insert into changes (tbl, key) select '{table}', {column} from {table}"
            f" where device_id = {local} order by {order}"
        )
        if table == "workshops":
            _log_workshop_facilitators(db, local)


def _log_workshop_facilitators(db: Database, local: str) -> None:
    """Who runs a workshop made here: the link has no device of its own, so it goes
    with the workshop's."""
    owned = f"(select device_id from workshops where id = new.workshop_id) = {local}"
    db.execute(
        f"create trigger sync_log_workshop_facilitators after insert on workshop_facilitators"
        f" when {owned} begin insert into changes (tbl, key)"
        " values ('workshop_facilitators', json_array(new.workshop_id, new.user_id)); end"
    )
    db.execute(
        "insert into changes (tbl, key) select 'workshop_facilitators',"
        " json_array(f.workshop_id, f.user_id) from workshop_facilitators f"
        f" join workshops w on w.id = f.workshop_id where w.device_id = {local}"
        " order by w.created_at"
    )


def _run_script(db: Database, script: str) -> None:
    """Run statements one by one: ``executescript`` would commit the migration's
    transaction half way through."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError("incomplete SQL statement in migration")


#: The scan tables, in the order the hub applies them (what others refer to first), and
#: the key the change log names a row by. Each row may change in place on the device
#: that made it (a page resolved, an item decided), so updates are logged too.
_SYNC_LOG_0006 = (
    ("scan_files", "new.sha256"),
    ("scan_sheets", "new.id"),
    ("scan_pages", "new.id"),
    ("review_items", "new.id"),
    ("transcriptions", "new.id"),
)


@migrations(name="0006_scans")
def m0006_scans(db: Database) -> None:
    """Scanned paper forms: the files (kept by content hash), each page and what became
    of it, one sheet per participant, the boxes a person must decide and the handwriting
    a person must type; contributions name the page and the box or area they came from.

    Images people look at (page previews and crops) live in the media store by content
    hash, and get a ``media`` row (so they go to the hub) only once the sheet's consent
    is recorded.
    """
    _run_script(
        db,
        """
        create table scan_files (
            sha256 text primary key,
            original_name text not null,
            stored_path text not null,      -- under the instance: scans/<sha256>.<ext>
            kind text not null,             -- pdf, tiff, jpeg or png
            size integer not null,
            pages integer,
            workshop_id text references workshops(id),   -- as given at import
            imported_by text,
            device_id text not null,
            created_at text not null,
            completed_at text               -- every page stored; null while importing
        );
        create table scan_sheets (
            id text primary key,
            form_id text not null references forms(id),
            serial integer not null,
            workshop_id text not null references workshops(id),
            participant_id text,            -- made once consent is recorded
            consent text not null default 'unknown'
                check (consent in ('unknown', 'given', 'not_given', 'uncertain')),
            device_id text not null,
            created_at text not null,
            unique (form_id, serial)
        );
        create table scan_pages (
            id text primary key,
            file_sha256 text not null references scan_files(sha256),
            page_index integer not null,    -- 0-based page of the file
            page_sha256 text,
            reading text not null,          -- the reader's status: read, blank, poor_fit ...
            state text not null
                check (state in ('imported', 'waiting', 'attention', 'blank', 'ignored')),
            reason_code text,
            reason text,                    -- the reader's own words, for the log
            code text,
            form_id text references forms(id),
            serial integer,
            page integer,
            fit_error real,
            fit_max_error real,
            dpi real,
            rotation integer,
            image_sha256 text,              -- preview for people: media/<sha256>
            result text,                    -- JSON: what was read; stays on this laptop
            sheet_id text references scan_sheets(id),
            participant_id text,
            workshop_id text references workshops(id),
            claims integer not null default 0,  -- 1: this row is that sheet page's record
            by_eye integer not null default 0,  -- read by a person, not by the machine
            imported_by text,
            device_id text not null,
            created_at text not null,
            resolved_by text,
            resolved_at text,
            resolution text,
            unique (file_sha256, page_index)
        );
        create unique index scan_pages_claimed on scan_pages(form_id, serial, page)
            where claims = 1;
        create index scan_pages_sha on scan_pages(page_sha256);
        create index scan_pages_workshop on scan_pages(workshop_id, state);
        create index scan_pages_sheet on scan_pages(sheet_id);
        create index scan_pages_image on scan_pages(image_sha256);
        create table review_items (
            id text primary key,
            page_id text not null references scan_pages(id),
            sheet_id text references scan_sheets(id),
            workshop_id text not null references workshops(id),
            kind text not null check (kind in ('idea', 'demographic', 'consent')),
            key text not null,              -- idea id, question id or 'consent'
            candidates text not null,       -- JSON: the boxes and how each was read
            reason text,
            crop_sha256 text,               -- media/<sha256>
            whole_page integer not null default 0,
            decision text,                  -- a value, 'none' or 'unclear'
            decided_by text,
            decided_at text,
            contribution_id text,
            device_id text not null,
            created_at text not null,
            unique (page_id, kind, key)
        );
        create index review_items_open on review_items(workshop_id, decided_at, created_at);
        create index review_items_crop on review_items(crop_sha256);
        create table transcriptions (
            id text primary key,
            page_id text not null references scan_pages(id),
            sheet_id text references scan_sheets(id),
            workshop_id text not null references workshops(id),
            participant_id text not null,
            prompt_id text not null,        -- the prompt (or idea) the area answers
            area_index integer not null,
            crop_sha256 text,               -- media/<sha256>
            whole_page integer not null default 0,
            status text not null default 'queued'
                check (status in ('queued', 'done', 'illegible', 'empty')),
            text text,
            language text,
            translation text,
            translation_language text,
            transcribed_by text,
            transcribed_at text,
            contribution_id text,
            device_id text not null,
            created_at text not null,
            unique (page_id, area_index)
        );
        create index transcriptions_open on transcriptions(workshop_id, status, created_at);
        create index transcriptions_crop on transcriptions(crop_sha256);
        alter table contributions add column scan_page_id text;
        alter table contributions add column scan_region text;
        alter table contributions add column transcribed_by text;
        """,
    )
    local = "(select id from device)"
    for table, key in _SYNC_LOG_0006:
        when = f"new.device_id = {local}"
        for event in ("insert", "update"):
            suffix = "" if event == "insert" else "_update"
            db.execute(
                f"create trigger sync_log_{table}{suffix} after {event} on {table} when {when}"
                f" begin insert into changes (tbl, key) values ('{table}', {key}); end"
            )


@migrations(name="0007_export_indexes")
def m0007_export_indexes(db: Database) -> None:
    """What the exports read, laid out for how they read it.

    Exports list rows by ``created_at, revision``: an index in that order lets them
    stream without sorting every row first. Each exported row asks whether a later
    revision replaces it: only corrections have ``replaces``, so the index holds only
    them and the question is answered from a page or two. A participant's code comes
    with their id from the index alone. And the hub looks up the batch that brought
    each row by the row's key: ``received`` is keyed by that key first (it was by the
    table's name, the same for every row of an export).
    """
    _run_script(
        db,
        """
        create index contributions_created on contributions(created_at, revision);
        create index participants_created on participants(created_at, revision);
        create index exposures_created on exposures(created_at);
        drop index contributions_replaces;
        create index contributions_replaces on contributions(replaces)
            where replaces is not null;
        drop index participants_replaces;
        create index participants_replaces on participants(replaces)
            where replaces is not null;
        drop index participants_id;
        create index participants_id on participants(id, code, revision_id);
        create table received_by_key (
            tbl text not null,
            key text not null,
            batch_id text not null,
            primary key (key, tbl)
        ) without rowid;
        insert into received_by_key (tbl, key, batch_id)
            select tbl, key, batch_id from received order by key, tbl;
        drop table received;
        alter table received_by_key rename to received;
        """,
    )


@migrations(name="0008_receipts_on_rows")
def m0008_receipts_on_rows(db: Database) -> None:
    """Participants and contributions carry the batch that brought them to the hub, how
    (network or file), when, and from which laptop.

    All four are fixed once the hub has applied the batch, so the hub writes them with
    the row, and its exports read them from the row instead of looking every row up in
    ``received``, ``batches`` and ``devices`` (``received`` is still kept, for every
    table). Rows already on a hub get theirs from those tables. They stay empty on a
    laptop, which never sends them; and a revision made on this device does not inherit
    the receipt of the revision it replaces (a correction copies the row it corrects).
    """
    receipt = ("sync_batch_id", "sync_via", "sync_received_at", "sync_laptop")
    for table in ("participants", "contributions"):
        for column in receipt:
            db.execute(f"alter table {table} add column {column} text")
        db.execute(
            f"update {table} set ({', '.join(receipt)}) ="
            " (select r.batch_id, b.via, b.received_at, d.name from received r"
            " join batches b on b.batch_id = r.batch_id join devices d on d.id = b.device_id"
            f" where r.key = {table}.revision_id and r.tbl = '{table}')"
            f" where revision_id in (select key from received where tbl = '{table}')"
        )
        db.execute(
            f"create trigger {table}_receipt_made_here after insert on {table}"
            " when new.sync_batch_id is not null and new.device_id = (select id from device)"
            f" begin update {table} set {', '.join(c + ' = null' for c in receipt)}"
            " where rowid = new.rowid; end"
        )


@migrations(name="0009_drop_duplicate_participant_index")
def m0009_drop_duplicate_participant_index(db: Database) -> None:
    """Every save wrote one index too many: ``contributions_participant`` holds the same
    first column as ``contributions_participant_idea`` (0003), which SQLite uses for a
    lookup by participant alone just as well. Measured: 13.2 log pages written a save
    before, 11.8 after."""
    db.execute("drop index if exists contributions_participant")


@migrations(name="0010_current_revision_indexes")
def m0010_current_revision_indexes(db: Database) -> None:
    """The current revision of a record is its highest, found at the end of an index
    instead of by checking every revision for one that replaces it. A vote changed many
    times (a kiosk, a long workshop) made every later save for that participant and idea
    walk all its revisions: measured in-process after 25,000 saves, the lookup of the
    current vote took 318 us a save against 39 on a new database. The indexes keep their
    names and their first columns, so every lookup that used them still does."""
    _run_script(
        db,
        """
        drop index contributions_participant_idea;
        create index contributions_participant_idea
            on contributions(participant_id, idea_id, kind, revision);
        drop index contributions_id;
        create index contributions_id on contributions(id, revision);
        """,
    )


@migrations(name="0011_sent_seq")
def m0011_sent_seq(db: Database) -> None:
    """The highest change this laptop's log has put into a batch or a bundle. A hub that
    holds more than that from this laptop got it from another copy of this log: the
    laptop was restored from a backup, and its changes since are numbered as ones the hub
    already holds (engage/sync/laptop.py, _catch_up). A laptop upgraded now counts as
    having sent only what the hub acknowledged, so a copy restored before the upgrade is
    caught too; at worst some changes are sent twice, which the hub takes once."""
    db.execute("alter table sync_state add column sent_seq integer not null default 0")
    db.execute("update sync_state set sent_seq = acked_seq")


#: Tables whose rows the device that made them changes in place, and what a row's time
#: of last change was before it was kept.
_OWNED_CHANGED_0012 = (
    ("conversations", "created_at"),
    ("prompts", "created_at"),
    ("ideas", "created_at"),
    ("kiosks", "coalesce(ended_at, started_at)"),
    ("scan_files", "coalesce(completed_at, created_at)"),
    ("scan_sheets", "created_at"),
    ("scan_pages", "coalesce(resolved_at, created_at)"),
    ("review_items", "coalesce(decided_at, created_at)"),
    ("transcriptions", "coalesce(transcribed_at, created_at)"),
)


@migrations(name="0012_owned_rows_updated_at")
def m0012_owned_rows_updated_at(db: Database) -> None:
    """When a row changed in place (a reworded idea, an ended kiosk, a decided review) was
    last changed, so that the hub can tell a newer copy from an older one. A laptop
    restored from a backup sends again the copies its backup still had waiting; the hub
    took them as changes and put its rows back in time (engage/sync/apply.py, _owned).
    The fill below runs with the table's triggers set aside, so it queues nothing to
    sync: the hub, filled the same way, holds the same times."""
    for table, since in _OWNED_CHANGED_0012:
        db.execute(f"alter table {table} add column updated_at text")
        triggers = db.execute(
            "select name, sql from sqlite_master where type = 'trigger' and tbl_name = ?",
            [table],
        ).fetchall()
        for name, _ in triggers:
            db.execute(f"drop trigger {name}")
        db.execute(f"update {table} set updated_at = {since}")
        for _, sql in triggers:
            db.execute(sql)


@migrations(name="0013_restored_from_backup")
def m0013_restored_from_backup(db: Database) -> None:
    """When sync found this laptop restored from a backup (the hub holds work the laptop
    sent and no longer has), so its pages can say so until a coordinator has read it:
    work entered again would be counted twice on the hub."""
    db.execute("alter table sync_state add column restored_found_at text")


@migrations(name="0014_recovery_from_the_hub")
def m0014_recovery_from_the_hub(db: Database) -> None:
    """Where a restored laptop has got to in bringing back, from the hub, the records it
    had sent before the restore (engage/sync/recovery.py): JSON ``{"after": ...}`` while
    there is more to bring back, null when there is nothing to."""
    db.execute("alter table sync_state add column recovery text")
