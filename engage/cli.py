"""The ``engage`` command: the same commands as ``flask --app engage``, grouped by area."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from .validation import InvalidInput

users_cli = click.Group("users", help="Manage accounts on this instance.")
demo_cli = click.Group("demo", help="Load the sample consultation.")


def _fail(error: InvalidInput) -> None:
    raise click.ClickException(str(error.message))


def _read_password(confirm: bool = True) -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return sys.stdin.readline().rstrip("\r\n")


@users_cli.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "coordinator", "facilitator"]),
    required=True,
    help="What the account may do.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new account as JSON.")
@with_appcontext
def users_add(name, role, as_json):
    """Add an account; the password is read from a prompt, or from stdin when piped."""
    from .data import users

    try:
        user = users.create_user(name, _read_password(), role)
    except InvalidInput as error:
        _fail(error)
    if as_json:
        click.echo(json.dumps({"id": user["id"], "username": user["username"], "role": role}))
    else:
        click.echo(f"Added {role} {user['username']}.")


@users_cli.command("set-password")
@click.argument("name")
@with_appcontext
def users_set_password(name):
    """Give an account a new password (read from a prompt, or from stdin when piped)."""
    from .data import users

    try:
        users.set_password(name, _read_password())
    except InvalidInput as error:
        _fail(error)
    click.echo(f"New password set for {name}.")


@users_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the accounts as JSON lines.")
@with_appcontext
def users_list(as_json):
    """List the accounts on this instance."""
    from .data import users

    for user in users.list_users():
        public = {k: user[k] for k in ("id", "username", "role", "active", "created_at")}
        click.echo(json.dumps(public) if as_json else f"{user['username']}\t{user['role']}")


@demo_cli.command("load")
@click.option("--json", "as_json", is_flag=True, help="Print the ids created as JSON.")
@with_appcontext
def demo_load(as_json):
    """Load the sample consultation, with a sample workshop and a few contributions."""
    from .data import demo

    loaded = demo.load_sample(None)
    ids = {"conversation_id": loaded["conversation"]["id"], "workshop_id": loaded["workshop"]["id"]}
    click.echo(json.dumps(ids) if as_json else f"Loaded the sample conversation {ids}.")


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
    help="File format.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the files into.",
)
@click.option("--all-revisions", is_flag=True, help="Include every revision, not only the latest.")
@click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
@with_appcontext
def export_cmd(fmt, out_dir, all_revisions, as_json):
    """Write contributions, participants, ideas, workshops and exposures with provenance."""
    from .data import export

    written = export.write_all(out_dir, fmt, all_revisions=all_revisions)
    if as_json:
        click.echo(json.dumps({"files": [str(p) for p in written]}))
    else:
        for path in written:
            click.echo(str(path))


forms_cli = click.Group("forms", help="Print paper forms that can be scanned back in.")


@forms_cli.command("print")
@click.option("--workshop", "workshop_id", help="The workshop the forms are for.")
@click.option("--conversation", "slug", help="A conversation's slug, when no workshop exists yet.")
@click.option("--lang", default="en", show_default=True, help="Language of the form.")
@click.option(
    "--variant",
    type=click.Choice(["standard", "large-print", "easy-read"]),
    default="standard",
    show_default=True,
    help="Standard, large print (16 pt and up) or easy read (with symbols).",
)
@click.option("--sheets", type=int, default=1, show_default=True, help="How many sheets.")
@click.option("--paper", type=click.Choice(["a4", "letter"]), default="a4", show_default=True,
              help="Paper size.")
@click.option("--shuffle", is_flag=True, help="Vary the order of ideas from sheet to sheet.")
@click.option("--no-demographics", is_flag=True, help="Leave out the optional 'about you' page.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the PDF; the layout is written beside it as .layout.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the form id, serials and files.")
@with_appcontext
def forms_print(workshop_id, slug, lang, variant, sheets, paper, shuffle, no_demographics,
                out_file, as_json):
    """Print a run of paper forms for a workshop (or a conversation) in one language."""
    import shutil

    from .data import forms
    from .db import get_db

    db = get_db()
    if workshop_id:
        found = db.execute("select conversation_id from workshops where id = ?",
                           [workshop_id]).fetchone()
        if not found:
            raise click.ClickException(f"There is no workshop {workshop_id}.")
        conversation_id = found[0]
    elif slug:
        found = db.execute("select id from conversations where slug = ?", [slug]).fetchone()
        if not found:
            raise click.ClickException(f"There is no conversation {slug}.")
        conversation_id = found[0]
    else:
        raise click.UsageError("Name a --workshop or a --conversation.")
    try:
        printed = forms.print_forms(
            conversation_id=conversation_id, workshop_id=workshop_id, lang=lang,
            variant=variant, sheets=sheets, paper=paper, shuffle=shuffle,
            demographics=not no_demographics, created_by=None,
        )
    except InvalidInput as error:
        _fail(error)
    import paper_forms

    out_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(printed["pdf_file"], out_file)
    layout_file = paper_forms.layout_path(out_file)
    shutil.copyfile(printed["layout_path"], layout_file)
    result = {"form_id": printed["id"], "serials": printed["serials"], "pdf": str(out_file),
              "layout": str(layout_file), "language": lang, "variant": variant}
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"Printed form {printed['id']}: {sheets} sheets to {out_file}")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(export_cmd)
    app.cli.add_command(forms_cli)

    from .catalogs import translations_cli
    from .scans import scans_cli
    from .sync.cli import sync_cli

    app.cli.add_command(translations_cli)
    app.cli.add_command(sync_cli)
    app.cli.add_command(scans_cli)


def _set_instance(ctx, _param, value):
    if value:
        os.environ["ENGAGE_INSTANCE"] = str(Path(value).resolve())
    return value


def _create_app():
    from . import create_app

    return create_app()


cli = FlaskGroup(
    name="engage",
    create_app=_create_app,
    add_version_option=True,
    load_dotenv=False,
    set_debug_flag=False,
    help="engage: offline capture for community workshops.",
    params=[
        click.Option(
            ["--instance"],
            type=click.Path(file_okay=False),
            expose_value=False,
            is_eager=True,
            callback=_set_instance,
            help="The instance folder (database, scans, config).",
        )
    ],
)


def main() -> None:
    cli.main(prog_name="engage")


if __name__ == "__main__":
    main()
