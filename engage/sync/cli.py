"""``engage sync …``: push, pull, status and USB files on a laptop; codes and files on the hub."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..validation import InvalidInput
from .client import HubError
from .envelope import Refused
from .messages import refusal_message

sync_cli = click.Group("sync", help="Send this laptop's work to the hub, and receive it there.")


def _echo(as_json: bool, data: dict, text: str) -> None:
    click.echo(json.dumps(data, default=str) if as_json else text)


def _fail(error: Exception) -> None:
    if isinstance(error, InvalidInput):
        raise click.ClickException(str(error.message))
    if isinstance(error, Refused):
        raise click.ClickException(f"{refusal_message(error.reason)} ({error})")
    if isinstance(error, HubError):
        raise click.ClickException(
            f"The hub did not take the changes ({error}). Nothing was dropped: everything "
            "waiting stays queued for the next push."
        )
    raise error


@sync_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@with_appcontext
def status_cmd(as_json):
    """Show what is waiting to be sent and what the hub last acknowledged."""
    from . import laptop

    found = laptop.status()
    if not found["enrolled"]:
        text = "Not enrolled with a hub. "
    else:
        text = (f"Enrolled as {found['device_name']} ({found['device_id']})"
                f" with {found['hub_url']}. ")
    text += (f"{found['waiting_total']} changes waiting; the hub acknowledged up to "
             f"{found['acked_seq']} of {found['last_seq']}")
    if found["acked_at"]:
        text += f" at {found['acked_at']}"
    if found["last_error"]:
        text += f". Last error: {found['last_error']}"
    _echo(as_json, found, text + ".")


@sync_cli.command("push")
@click.option("--attempts", type=int, default=6, show_default=True,
              help="Tries for each request before giving up (with growing pauses).")
@click.option("--batch-size", type=int, default=5000, show_default=True,
              help="Changes in one batch.")
@click.option("--json", "as_json", is_flag=True, help="Print what was sent as JSON.")
@with_appcontext
def push_cmd(attempts, batch_size, as_json):
    """Send every change the hub has not acknowledged, over the network."""
    from . import laptop

    try:
        sent = laptop.push(attempts=attempts, max_changes=batch_size)
    except (InvalidInput, HubError) as error:
        _fail(error)
    recovered = sum(sent["recovered"].values())
    _echo(as_json, sent, f"Sent {sent['batches']} batches; the hub holds up to change "
                         f"{sent['held_seq']}." + (
                             f" Brought back {recovered} records this laptop had sent before"
                             " it was restored from a backup." if recovered else ""))


@sync_cli.command("pull")
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@with_appcontext
def pull_cmd(as_json):
    """Fetch the hub's conversations, prompts, ideas and their translations."""
    from . import laptop

    try:
        counts = laptop.pull()
    except (InvalidInput, HubError) as error:
        _fail(error)
    _echo(as_json, counts, "Fetched from the hub: " + ", ".join(
        f"{n} {table}" for table, n in counts.items()) + " new or changed.")


@sync_cli.command("bundle")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Where to write the sealed file (a USB stick, say).")
@click.option("--json", "as_json", is_flag=True, help="Print what the file holds as JSON.")
@with_appcontext
def bundle_cmd(out_file, as_json):
    """Seal everything not yet acknowledged into one file for the hub."""
    from . import laptop

    try:
        made = laptop.write_bundle(out_file)
    except InvalidInput as error:
        _fail(error)
    if not made["written"]:
        _echo(as_json, made, "Nothing is waiting to be sent, so no file was written.")
        return
    _echo(as_json, made, f"Wrote {out_file}: changes {made['seq_from']} to {made['seq_to']} "
                         f"in {made['batches']} sealed batches.")


@sync_cli.command("receive")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--receipt", "receipt_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a signed receipt to take back to the laptop.")
@click.option("--json", "as_json", is_flag=True, help="Print what was applied as JSON.")
@with_appcontext
def receive_cmd(file, receipt_file, as_json):
    """On the hub: check a sealed file from a laptop and apply it (once)."""
    from . import hub, keys

    if not (keys.key_dir() / keys.HUB_X25519).exists():
        raise click.ClickException("This instance is not a hub: no laptop can have sealed a "
                                   "file for it.")
    try:
        result = hub.receive_file(file)
    except Refused as error:
        _fail(error)
    if receipt_file and result["device_id"]:
        receipt_file.write_bytes(hub.receipt(result["device_id"]))
        result["receipt"] = str(receipt_file)
    if result["status"] == "applied":
        text = (f"Applied {result['batches']} batches: " + ", ".join(
            f"{n} {t}" for t, n in sorted(result["applied"].items())) +
            f"; {result['conflicts']} conflicts for a coordinator.")
    else:
        text = "Everything in this file was already on the hub; nothing changed."
    _echo(as_json, result, text)


@sync_cli.command("enrol")
@click.option("--hub", "hub_url", help="The hub's address, to enrol over the network.")
@click.option("--file", "enrol_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An enrolment file made on the hub, to enrol offline.")
@click.option("--code", required=True, help="The one-time enrolment code.")
@click.option("--name", help="This laptop's name, as coordinators will see it.")
@click.option("--json", "as_json", is_flag=True, help="Print the new identity as JSON.")
@with_appcontext
def enrol_cmd(hub_url, enrol_file, code, name, as_json):
    """Enrol this laptop with a hub, over the network or with an enrolment file."""
    from . import laptop

    if bool(hub_url) == bool(enrol_file):
        raise click.UsageError("Give either --hub or --file.")
    try:
        if hub_url:
            found = laptop.enrol_network(hub_url, code, name)
        else:
            found = laptop.enrol_file(enrol_file.read_bytes(), code)
    except InvalidInput as error:
        _fail(error)
    _echo(as_json, found, f"Enrolled as {found['device_name']} ({found['device_id']}).")


@sync_cli.command("code")
@click.option("--name", required=True, help="The laptop's name, such as the one on its label.")
@click.option("--file", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write an enrolment file for a laptop that is offline.")
@click.option("--hub-url", default="", help="The hub's address, written into the file.")
@click.option("--json", "as_json", is_flag=True, help="Print the code as JSON.")
@with_appcontext
def code_cmd(name, out_file, hub_url, as_json):
    """On the hub: make a one-time enrolment code (valid for 7 days) for one laptop."""
    from . import hub

    try:
        code = hub.create_code(name, None)
        if out_file:
            out_file.write_bytes(hub.enrolment_file(code, hub_url))
    except InvalidInput as error:
        _fail(error)
    _echo(as_json, {"code": code, "file": str(out_file) if out_file else None},
          f"Enrolment code for {name}: {code}")


@sync_cli.command("receipt")
@click.option("--device", "device_id", required=True, help="The enrolled laptop's id.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Where to write the receipt.")
@with_appcontext
def receipt_cmd(device_id, out_file):
    """On the hub: write a signed receipt of what it holds from a laptop."""
    from . import hub

    out_file.write_bytes(hub.receipt(device_id))
    click.echo(f"Wrote {out_file}.")


@sync_cli.command("ack")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the new status as JSON.")
@with_appcontext
def ack_cmd(file, as_json):
    """On a laptop: take a receipt from the hub, so what it holds is no longer waiting."""
    from . import laptop

    try:
        found = laptop.take_receipt(file.read_bytes())
    except InvalidInput as error:
        _fail(error)
    _echo(as_json, found, f"The hub holds up to change {found['acked_seq']}; "
                          f"{found['waiting_total']} changes still waiting.")


@sync_cli.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print devices as JSON lines.")
@with_appcontext
def devices_cmd(as_json):
    """On the hub: list enrolled laptops and when each was last heard from."""
    from . import hub

    for device in hub.list_devices():
        public = {k: device[k] for k in ("id", "name", "held_seq", "last_heard_at",
                                         "enrolled_at", "revoked_at", "batch_count")}
        click.echo(json.dumps(public) if as_json else
                   f"{device['name']}\t{device['id']}\theld {device['held_seq']}\t"
                   f"last heard {device['last_heard_at'] or 'never'}")
