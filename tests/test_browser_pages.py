"""Every page, as an admin and as a facilitator, checked by axe-core for WCAG 2.2 AA in a
real browser; and every request each page makes stays on this laptop's server."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_support import (
    PASSWORD,
    ROOT,
    RequestLog,
    Server,
    check_accessibility,
    check_offline,
    chromium,
    expect_focus,
    require_chromium,
    sample_site,
    shared,
    sign_in,
)

pytestmark = pytest.mark.browser

ROLES = {"admin": "ada", "facilitator": "fay"}
VIEWPORT = {"width": 1280, "height": 900}

# name: (address, status for an admin, status for a facilitator)
PAGES = {
    "home": ("/", 200, 200),
    "workshops": ("/workshops/", 200, 200),
    "new workshop": ("/workshops/new", 200, 200),
    "workshop": ("/workshops/{workshop}", 200, 200),
    "conversations": ("/coordinate/conversations", 200, 403),
    "conversation": ("/coordinate/conversations/{conversation}", 200, 403),
    "item edit": ("/coordinate/ideas/{idea}/edit", 200, 403),
    "export": ("/coordinate/export", 200, 403),
    "accounts": ("/coordinate/users", 200, 403),
    "account": ("/account", 200, 200),
    "not found": ("/no-such-page", 404, 404),
    "workshop not found": ("/workshops/no-such-workshop", 404, 404),
}


@pytest.fixture(scope="session")
def browser():
    with shared("browser", chromium) as opened:
        yield opened


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    require_chromium()  # skip before starting a server the tests could not use
    with shared("site", lambda: sample_site(tmp_path_factory.mktemp("site"))) as server:
        yield server


@pytest.fixture(scope="module")
def places(site):
    """The ids the addresses need."""
    with site.db() as db:
        idea = db.execute(
            "select id from ideas where conversation_id = ? order by position",
            [site.sample["conversation_id"]],
        ).fetchone()["id"]
    return {
        "workshop": site.sample["workshop_id"],
        "conversation": site.sample["conversation_id"],
        "idea": idea,
    }


@pytest.fixture(scope="module")
def signed_in(browser, site):
    """A signed-in browser context for each role; the admin gives fay the sample workshop."""
    contexts = {}
    for role, username in ROLES.items():
        context = browser.new_context(viewport=VIEWPORT)
        sign_in(context, site, username).close()
        contexts[role] = context
    page = contexts["admin"].new_page()
    page.goto(f"{site.url}/workshops/{site.sample['workshop_id']}")
    page.click("summary:has-text('Add another facilitator')")
    page.fill("#facilitator-username", "fay")
    with page.expect_navigation():
        page.click("button:has-text('Add them')")
    assert "They can now open this workshop." in page.inner_text(".messages")
    page.close()
    yield contexts
    for context in contexts.values():
        context.close()


@pytest.fixture
def visit(site):
    """Open a page, keep a log of its requests, and check it when the test is done."""
    opened = []

    def open_page(context, path, status=200, server=site):
        page = context.new_page()
        log = RequestLog(page)
        opened.append((page, log, server))
        response = page.goto(server.url + path)
        assert response.status == status, f"{path}: {response.status}, wanted {status}"
        return page

    yield open_page
    for page, log, server in opened:
        check_offline(log, server)
        page.close()


@pytest.fixture(scope="module")
def fresh_site(tmp_path_factory):
    """A new instance with no accounts: the only place the set-up page is shown."""
    with Server(tmp_path_factory.mktemp("fresh") / "instance") as server:
        yield server


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", PAGES)
def test_page_is_accessible(name, role, signed_in, places, visit):
    path, *statuses = PAGES[name]
    status = statuses[list(ROLES).index(role)]
    page = visit(signed_in[role], path.format(**places), status)
    assert urlsplit(page.url).path == path.format(**places), "the page redirected"
    check_accessibility(page, f"{name} as {role}")
    if status == 403:
        assert "This page is not for your account" in page.inner_text("h1")


@pytest.mark.parametrize("role", ROLES)
def test_capture_pages_are_accessible(role, signed_in, site, visit):
    """Participant before and after consent, after a save (with undo), and a correction."""
    page = visit(signed_in[role], f"/workshops/{site.sample['workshop_id']}")
    with page.expect_navigation():
        page.click("form[action$='/participants'] button[type=submit]")
    check_accessibility(page, f"participant before consent, as {role}")

    with page.expect_navigation():
        page.click("button[name=consent][value=yes]")
    check_accessibility(page, f"participant after consent, as {role}")

    page.fill("#idea-text", "A community bus to the hospital")
    with page.expect_navigation():
        page.click("#new-idea button[type=submit]")
    assert page.locator("#new-idea form.undo").count() == 1
    check_accessibility(page, f"participant after saving an idea, as {role}")

    # A mistake in the folded-away questions opens them and puts the focus on the field.
    page.click("#demographics summary")
    page.fill("#dem-postcode", "LS6 1AA")
    with page.expect_navigation():
        page.click("#demographics button[type=submit]")
    assert page.get_attribute("#demographics", "open") is not None
    expect_focus(page, "#dem-postcode[aria-invalid=true]")
    check_accessibility(page, f"participant with a mistake in 'about them', as {role}")

    with page.expect_navigation():
        page.click("#entries a:has-text('Correct')")
    check_accessibility(page, f"correction page, as {role}")


@pytest.mark.parametrize("role", ROLES)
def test_a_form_error_is_accessible_and_focused(role, signed_in, site, visit):
    page = visit(signed_in[role], "/workshops/new")
    page.fill("#title", "Drop-in")
    page.fill("#date", "2026-03-14")
    page.fill("#postcode_district", "LS6 1AA")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert "enter LS6 instead" in page.locator(".field-error").inner_text()
    expect_focus(page, "#postcode_district[aria-invalid=true]")
    described = page.get_attribute("#postcode_district", "aria-describedby").split()
    assert described == ["postcode-hint", "postcode_district-error"]
    check_accessibility(page, f"new workshop with a full postcode, as {role}")


def test_signed_out_pages_are_accessible(browser, site, visit):
    context = browser.new_context(viewport=VIEWPORT)
    page = visit(context, "/login")
    check_accessibility(page, "sign-in page")

    page.fill("#username", "fay")
    page.fill("#password", "not the password")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert "do not match" in page.inner_text(".messages")
    check_accessibility(page, "sign-in page after a wrong password")

    later = visit(context, "/workshops/new")
    assert "/login?next=" in later.url
    check_accessibility(later, "sign-in page on the way to another page")
    context.close()


def test_a_right_to_left_page_is_accessible(browser, visit):
    """Arabic, through the header's language switch: mirrored, and still WCAG clean."""
    context = browser.new_context(viewport=VIEWPORT)
    page = visit(context, "/login")
    page.select_option("#switch-locale", "ar")
    with page.expect_navigation():
        page.click("header button[type=submit]")
    assert urlsplit(page.url).path == "/login"
    assert page.get_attribute("html", "lang") == "ar"
    assert page.get_attribute("html", "dir") == "rtl"
    check_accessibility(page, "sign-in page in Arabic")
    context.close()


def test_setup_page_is_accessible(browser, fresh_site, visit):
    context = browser.new_context(viewport=VIEWPORT)
    page = visit(context, "/setup", server=fresh_site)
    assert urlsplit(page.url).path == "/setup"
    expect_focus(page, "#username")
    check_accessibility(page, "set-up page")

    page.fill("#username", "ada")
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD + " typo")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    expect_focus(page, "#password_again[aria-invalid=true]")
    check_accessibility(page, "set-up page with a mistake")
    context.close()


def test_screenshot_of_the_capture_page(signed_in, site, visit, tmp_path):
    """The picture in the README: a vote just recorded for a sample participant, on a
    laptop-sized screen. Written to docs/ only when ENGAGE_SCREENSHOTS is set, so that
    test runs leave the tree as it was."""
    with site.db() as db:
        person = db.execute(
            "select id from participants where workshop_id = ? and language = 'pl'",
            [site.sample["workshop_id"]],
        ).fetchone()["id"]
    page = visit(
        signed_in["facilitator"], f"/workshops/{site.sample['workshop_id']}/participants/{person}"
    )
    with page.expect_navigation():
        page.click("[aria-label='Their vote on idea 2'] button.vote-disagree")
    assert page.locator("article.idea .saved-here").count() == 1
    page.evaluate("document.getElementById('ideas').scrollIntoView()")  # show the heading too
    target = tmp_path / "screenshot-capture.png"
    if os.environ.get("ENGAGE_SCREENSHOTS"):
        target = ROOT / "docs" / "screenshot-capture.png"
        target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target))
    assert Path(target).stat().st_size > 10_000
