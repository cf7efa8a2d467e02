"""Helpers for the browser tests: the real server in a subprocess, Chromium, axe-core.

The browser tests drive engage as people use it: ``run.py`` serving a real instance
folder, accounts made with the ``engage`` command, and Debian's Chromium through
Playwright. The ``browser`` and ``site`` fixtures here are loaded by conftest.py as a
plugin; they and any test that opens its own go through ``shared``, so one Chromium and
one sample site serve the whole run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import server_support
from server_support import engage_cli as engage
from server_support import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
CHROMIUM = os.environ.get("ENGAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
#: The web font every page asks for (engage/static/fonts.css).
FONT_FAMILY = "Kurinto Sans"


# --- one browser and one server for the whole run -------------------------------------

_shared: dict[str, list] = {}


@contextlib.contextmanager
def shared(name: str, opener: Callable[[], contextlib.AbstractContextManager]) -> Iterator:
    """Enter ``opener()`` once per test run however many modules ask; the last one out
    closes it. Each module's session-scoped fixture goes through here, because fixtures
    defined in two modules are two fixtures even when both are session-scoped."""
    if name not in _shared:
        stack = contextlib.ExitStack()
        _shared[name] = [stack.enter_context(opener()), 0, stack]
    entry = _shared[name]
    entry[1] += 1
    try:
        yield entry[0]
    finally:
        entry[1] -= 1
        if entry[1] == 0:
            del _shared[name]
            entry[2].close()


def require_chromium() -> str:
    """Chromium's path; without it the browser tests skip, except in CI where they fail."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def chromium():
    """A headless Chromium through Playwright; nothing is downloaded."""
    from playwright.sync_api import sync_playwright

    path = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- the engage command and the server -------------------------------------------------


def add_user(instance: Path, username: str, role: str, password: str = PASSWORD) -> dict:
    return json.loads(
        engage(instance, "users", "add", username, "--role", role, "--json", stdin=password + "\n")
    )


class Server:
    """``python run.py`` on a free port, serving ``instance``."""

    def __init__(self, instance: Path):
        self.instance = Path(instance)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.instance.parent / f"{self.instance.name}-server.log"
        self.process: subprocess.Popen | None = None
        self.users: dict[str, dict] = {}
        self.sample: dict[str, str] = {}

    #: What ``run.py`` is given besides host, port and instance.
    options: tuple[str, ...] = ("--threads", "4")

    def __enter__(self) -> Server:
        self.instance.mkdir(parents=True, exist_ok=True)
        self.process = server_support.start(self.instance, self.port, self.log, *self.options)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __exit__(self, *_exc) -> None:
        server_support.stop(self.process)

    def db(self) -> sqlite3.Connection:
        """The instance's database, read as the server writes it (WAL mode)."""
        conn = sqlite3.connect(self.instance / "engage.db", timeout=30)
        conn.row_factory = sqlite3.Row
        return conn


@contextlib.contextmanager
def sample_site(tmp_root: Path) -> Iterator[Server]:
    """An instance with admin ada, facilitator fay and the sample consultation, served."""
    instance = tmp_root / "instance"
    instance.mkdir(parents=True)
    ada = add_user(instance, "ada", "admin")
    fay = add_user(instance, "fay", "facilitator")
    sample = json.loads(engage(instance, "demo", "load", "--json"))
    with Server(instance) as server:
        server.users = {"admin": ada, "facilitator": fay}
        server.sample = sample
        yield server


# --- pages ------------------------------------------------------------------------------


def sign_in(context, server: Server, username: str, password: str = PASSWORD):
    """Sign ``context`` in through the real form and return the page left open."""
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Sign in')")
    assert urlsplit(page.url).path == "/", f"sign-in as {username} failed: {page.url}"
    return page


_signed_in_states: dict[tuple[str, str], dict] = {}


def signed_in_context(browser, server: Server, username: str, **options):
    """A new browser context already signed in as ``username``.

    The sign-in form is used once per run for each account, and its cookies are handed
    to every later context: checking a password takes a second or two on purpose.
    """
    key = (server.url, username)
    if key not in _signed_in_states:
        context = browser.new_context()
        sign_in(context, server, username).close()
        _signed_in_states[key] = context.storage_state()
        context.close()
    return browser.new_context(storage_state=_signed_in_states[key], **options)


class RequestLog:
    """Every URL a page asks for, to check that nothing leaves the laptop."""

    def __init__(self, page):
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))

    def foreign(self, server: Server) -> list[str]:
        own = urlsplit(server.url).netloc
        return [
            url for url in self.urls if not url.startswith("data:") and urlsplit(url).netloc != own
        ]


def axe_report(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}\n  {v['helpUrl']}")
        for node in v["nodes"]:
            lines.append(f"    at {', '.join(map(str, node['target']))}: {node['html'][:200]}")
            for check in node.get("any", []) + node.get("all", []) + node.get("none", []):
                lines.append(f"      * {check['message']}")
    return "\n".join(lines)


OPEN_DETAILS = """() => document.querySelectorAll("details:not([open])").forEach(d => {
    d.open = true; d.dataset.openedForAxe = "1"; })"""
CLOSE_DETAILS = """() => document.querySelectorAll("details[data-opened-for-axe]").forEach(d => {
    d.open = false; delete d.dataset.openedForAxe; })"""


@functools.cache
def _axe_script() -> str:
    from axe_playwright_python.sync_playwright import Axe

    return Axe().axe_script


RUN_AXE = "([context, options]) => axe.run(context || document, options)"


def check_accessibility(page, label: str = "") -> None:
    """Run axe-core for WCAG 2.2 AA, first as shown, then with every <details> opened,
    so that forms folded away are checked too."""
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    if not page.evaluate("() => typeof axe === 'object'"):
        page.evaluate(_axe_script())  # once: the library's run() would inject it on each run
    found = page.evaluate(RUN_AXE, [None, options])["violations"]
    if page.locator("details:not([open])").count():
        page.evaluate(OPEN_DETAILS)
        # The rest of the page was checked a moment ago: only what the opened folds hold
        # is new (page-wide rules are skipped for a part, and have already run).
        inside = {"include": [["details[data-opened-for-axe]"]]}
        opened = page.evaluate(RUN_AXE, [inside, options])["violations"]
        page.evaluate(CLOSE_DETAILS)  # as they were, for whatever the test does next
        found += [v for v in opened if v["id"] not in {f["id"] for f in found}]
    where = label or page.url
    assert not found, f"axe found {len(found)} WCAG problems on {where}:\n{axe_report(found)}"


def check_offline(log: RequestLog, server: Server) -> None:
    foreign = log.foreign(server)
    assert not foreign, "the page fetched from outside engage:\n" + "\n".join(foreign)
    assert log.urls, "no requests were recorded"


@functools.cache
def _catalog(locale: str):
    from babel.support import Translations

    return Translations.load(str(ROOT / "translations"), [locale])


def gettext(locale: str, message: str, **values) -> str:
    """``message`` as the compiled catalog has it for ``locale``, to look for on a page."""
    text = _catalog(locale).gettext(message)
    return text % values if values else text


# --- fonts ------------------------------------------------------------------------------

FONT_FACES = """() => document.fonts.ready.then(set => [...set].map(
    face => ({family: face.family.replace(/^"|"$/g, ""), weight: face.weight,
              status: face.status})))"""


def font_faces(page) -> list[dict]:
    """The page's @font-face rules once its fonts have settled: family, weight, status."""
    return page.evaluate(FONT_FACES)


def rendering_fonts(page) -> dict[str, list[str]]:
    """Which fonts Chromium really drew each piece of text with, and where.

    ``document.fonts`` only says a file loaded; a glyph the font lacks is still drawn
    from some system font. The DevTools protocol reports the fonts used for each
    element's own text, so a fallback shows up here by name. SVG symbols are left out.
    """
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]
        used: dict[str, list[str]] = {}
        pending = [root]
        while pending:
            node = pending.pop()
            name = node.get("nodeName", "").lower()
            if name in ("head", "script", "style", "svg", "textarea"):
                continue
            children = node.get("children", [])
            pending.extend(children)
            has_text = any(c["nodeType"] == 3 and c["nodeValue"].strip() for c in children)
            if node["nodeType"] != 1 or not has_text:
                continue
            found = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
            for font in found["fonts"]:
                label = font["familyName"] + ("" if font["isCustomFont"] else " (system font)")
                used.setdefault(label, []).append(name)
        return used
    finally:
        cdp.detach()


def check_web_font(page, label: str = "") -> None:
    """Both faces of the web font loaded, and no text on the page was drawn with any
    other font: every script the page is written in is covered by it."""
    faces = {(f["family"], f["weight"]): f["status"] for f in font_faces(page)}
    wanted = {(FONT_FAMILY, "400"): "loaded", (FONT_FAMILY, "700"): "loaded"}
    where = label or page.url
    assert faces == wanted, f"web fonts on {where}: {faces}"
    used = rendering_fonts(page)
    others = {font: tags for font, tags in used.items() if font != FONT_FAMILY}
    assert used and not others, f"text on {where} was drawn with other fonts: {others}"


# --- the keyboard -----------------------------------------------------------------------

FOCUSED = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return "nothing (body)";
    const name = (e.getAttribute("aria-label") || e.textContent || e.value || "").trim();
    return `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""} "${name.slice(0, 50)}"`;
}"""


def focused(page) -> str:
    """What has the keyboard focus, for assertion messages."""
    return page.evaluate(FOCUSED)


def is_focused(page, selector: str) -> bool:
    return page.evaluate(
        "s => !!document.activeElement && document.activeElement.matches(s)", selector
    )


def expect_focus(page, selector: str) -> None:
    """Wait (bounded) until ``selector`` has the focus: autofocus runs after the load event."""
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_be_focused(timeout=5000)


def tab_to(page, selector: str, *, most: int, backwards: bool = False) -> int:
    """Press Tab (or Shift+Tab) until ``selector`` has the focus; fail beyond ``most``
    presses, so a page that makes keyboard users work too hard fails the test."""
    key = "Shift+Tab" if backwards else "Tab"
    path = []
    for presses in range(1, most + 1):
        page.keyboard.press(key)
        if is_focused(page, selector):
            return presses
        path.append(focused(page))
    raise AssertionError(
        f"{selector} not reached in {most} presses of {key}; passed:\n  " + "\n  ".join(path)
    )


def press_and_load(page, key: str) -> None:
    """Press a key that submits a form or follows a link, and wait for the new page."""
    with page.expect_navigation():
        page.keyboard.press(key)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the run."""
    with shared("browser", chromium) as opened:
        yield opened


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The sample site, served by run.py, for the run."""
    require_chromium()  # skip before starting a server the tests could not use
    with shared("site", lambda: sample_site(tmp_path_factory.mktemp("site"))) as server:
        yield server

