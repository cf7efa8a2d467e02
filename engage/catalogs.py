"""The gettext catalog workflow: extract, update, compile and check.

Wraps Babel's own commands so that translators and CI use one set of options, and adds
the checks Babel does not make: a stale template, untranslated or fuzzy entries, and
compiled files that do not match their catalogs.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import click
from babel.messages import frontend
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from .i18n import SUPPORTED_LOCALES, TRANSLATIONS_DIR

ROOT = TRANSLATIONS_DIR.parent
TEMPLATE = TRANSLATIONS_DIR / "messages.pot"
KEYWORDS = ["_l", "lazy_gettext", "ngettext:1,2", "lazy_ngettext:1,2"]


def _babel(*argv: str) -> None:
    frontend.CommandLineInterface().run(["pybabel", "-q", *argv])


def extract(output: Path = TEMPLATE) -> Path:
    """Write the message template from the code and templates."""
    args = ["extract", "-F", str(ROOT / "babel.cfg"), "--add-comments=Translators:",
            "--sort-by-file", "--no-wrap", "--project=engage", "--copyright-holder=engage",
            "--msgid-bugs-address=translations@engage.invalid", "-o", str(output)]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    # Run from the project folder so the comments name files relative to it.
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        _babel(*args, ".")
    finally:
        os.chdir(previous)
    return output


def catalog_path(locale: str) -> Path:
    return TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"


def update() -> None:
    """Merge the template into every catalog, starting missing ones."""
    for locale in SUPPORTED_LOCALES[1:]:
        if catalog_path(locale).exists():
            _babel("update", "-i", str(TEMPLATE), "-d", str(TRANSLATIONS_DIR), "-l", locale,
                   "--no-wrap", "--ignore-obsolete")
        else:
            _babel("init", "-i", str(TEMPLATE), "-d", str(TRANSLATIONS_DIR), "-l", locale,
                   "--no-wrap")


def _mo_bytes(po_path: Path) -> bytes:
    with po_path.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def compile_catalogs() -> list[Path]:
    """Write each catalog's .mo beside it (they are committed, so a fresh install works)."""
    written = []
    for locale in SUPPORTED_LOCALES[1:]:
        po = catalog_path(locale)
        mo = po.with_suffix(".mo")
        mo.write_bytes(_mo_bytes(po))
        written.append(mo)
    return written


def _msgids(pot_or_po: Path) -> set:
    with pot_or_po.open("rb") as handle:
        return {m.id if isinstance(m.id, str) else tuple(m.id)
                for m in read_po(handle) if m.id}


def problems() -> list[str]:
    """Everything that would make a shipped catalog wrong; empty when all is well."""
    found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = extract(Path(tmp) / "messages.pot")
        if not TEMPLATE.exists() or _msgids(fresh) != _msgids(TEMPLATE):
            found.append("translations/messages.pot is stale: run 'engage translations extract'"
                         " and 'engage translations update'.")
    wanted = _msgids(TEMPLATE) if TEMPLATE.exists() else set()
    msgfmt = shutil.which("msgfmt")
    for locale in SUPPORTED_LOCALES[1:]:
        po = catalog_path(locale)
        if not po.exists():
            found.append(f"{locale}: no catalog at {po.relative_to(ROOT)}.")
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle)
        have = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}
        if have != wanted:
            found.append(f"{locale}: catalog does not match the template; run update.")
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy:
                found.append(f"{locale}: fuzzy entry {message.id!r}.")
            elif not all(strings):
                found.append(f"{locale}: untranslated entry {message.id!r}.")
        for message, errors in catalog.check():
            for error in errors:
                found.append(f"{locale}: {message.id!r}: {error}")
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != _mo_bytes(po):
            found.append(f"{locale}: compiled messages.mo is missing or out of date; run compile.")
        if msgfmt:
            result = subprocess.run(
                [msgfmt, "--check", "-o", os.devnull, str(po)], capture_output=True, text=True
            )
            if result.returncode != 0:
                found.append(f"{locale}: msgfmt --check: {result.stderr.strip()}")
    return found


translations_cli = click.Group("translations", help="Extract, update, compile and check catalogs.")


@translations_cli.command("extract")
def extract_cmd():
    """Write translations/messages.pot from the code and templates."""
    click.echo(str(extract()))


@translations_cli.command("update")
def update_cmd():
    """Merge messages.pot into every language's catalog."""
    update()
    click.echo("Catalogs updated.")


@translations_cli.command("compile")
def compile_cmd():
    """Compile every catalog to the .mo file the app reads."""
    for path in compile_catalogs():
        click.echo(str(path))


@translations_cli.command("check")
def check_cmd():
    """Fail if the template is stale or any catalog is incomplete, fuzzy or invalid."""
    found = problems()
    for line in found:
        click.echo(line, err=True)
    if found:
        raise click.ClickException(f"{len(found)} problems in the translations.")
    click.echo(f"All {len(SUPPORTED_LOCALES) - 1} catalogs are complete and up to date.")
