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
