"""Every page, as an admin and as a facilitator, in English and in Arabic (right to left),
checked by axe-core for WCAG 2.2 AA in a real browser; and every request each page makes
stays on this laptop's server."""

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
    expect_focus,
    gettext,
    signed_in_context,
)

pytestmark = pytest.mark.browser

ROLES = {"admin": "ada", "facilitator": "fay"}
#: English and a right-to-left language. Signed in, the pages come in the browser's
#: language (ada and fay have not chosen one of their own), so each language is a
#: browser context of its own and no one signs in twice.
LOCALES = ("en", "ar")
VIEWPORT = {"width": 1280, "height": 900}

# name: (address, status for an admin, status for a facilitator)
PAGES = {
    "home": ("/", 200, 200),
    "workshops": ("/workshops/", 200, 200),
    "new workshop": ("/workshops/new", 200, 200),
    "workshop": ("/workshops/{workshop}", 200, 200),
    "paper forms": ("/workshops/{workshop}/forms", 200, 200),
    "conversations": ("/coordinate/conversations", 200, 403),
    "conversation": ("/coordinate/conversations/{conversation}", 200, 403),
    "item edit": ("/coordinate/ideas/{idea}/edit", 200, 403),
    "export": ("/coordinate/export", 200, 403),
    "accounts": ("/coordinate/users", 200, 403),
    "account": ("/account", 200, 200),
    "not found": ("/no-such-page", 404, 404),
    "workshop not found": ("/workshops/no-such-workshop", 404, 404),
}


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


def switch_language(page, locale: str) -> None:
    """Use the header's language switch, as a person would; it comes back to the page."""
    path = urlsplit(page.url).path
    page.select_option("#switch-locale", locale)
    with page.expect_navigation():
        page.click("header button[type=submit]")
    assert urlsplit(page.url).path == path
    assert page.get_attribute("html", "lang") == locale
    assert page.get_attribute("html", "dir") == ("rtl" if locale == "ar" else "ltr")


@pytest.fixture(scope="module")
def signed_in(browser, site):
    """A signed-in browser context for each role and language; the admin gives fay the
    sample workshop."""
    contexts = {
        (role, locale): signed_in_context(browser, site, username, viewport=VIEWPORT, locale=locale)
        for role, username in ROLES.items()
        for locale in LOCALES
    }
    page = contexts["admin", "en"].new_page()
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
    """Open a page, keep a log of its requests, and check it when the test is done.
    A context's page is kept open for the next test that uses the context, which is
    quicker than a new page each time; whoever made the context closes it."""
    opened = []

    def open_page(context, path, status=200, server=site):
        page = context.pages[0] if context.pages else context.new_page()
        if page not in _logs:
            _logs[page] = RequestLog(page)
        log = _logs[page]
        log.urls.clear()
        opened.append((log, server))
        response = page.goto(server.url + path)
        assert response.status == status, f"{path}: {response.status}, wanted {status}"
        return page

    yield open_page
    for log, server in opened:
        check_offline(log, server)


_logs: dict = {}  # each kept page's request log


@pytest.fixture(scope="module")
def fresh_site(tmp_path_factory):
    """A new instance with no accounts: the only place the set-up page is shown."""
    with Server(tmp_path_factory.mktemp("fresh") / "instance") as server:
        yield server


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", PAGES)
def test_page_is_accessible(name, role, locale, signed_in, places, visit):
    path, *statuses = PAGES[name]
    status = statuses[list(ROLES).index(role)]
    page = visit(signed_in[role, locale], path.format(**places), status)
    assert urlsplit(page.url).path == path.format(**places), "the page redirected"
    assert page.get_attribute("html", "lang") == locale
    check_accessibility(page, f"{name} as {role} in {locale}")
    if status == 403:
        assert gettext(locale, "This page is not for your account") in page.inner_text("h1")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("role", ROLES)
def test_capture_pages_are_accessible(role, locale, signed_in, site, visit):
    """Participant before and after consent, after a save (with undo), and a correction."""
    who = f"{role} in {locale}"
    page = visit(signed_in[role, locale], f"/workshops/{site.sample['workshop_id']}")
    with page.expect_navigation():
        page.click("form[action$='/participants'] button[type=submit]")
    check_accessibility(page, f"participant before consent, as {who}")

    with page.expect_navigation():
        page.click("button[name=consent][value=yes]")
    check_accessibility(page, f"participant after consent, as {who}")

    page.fill("#idea-text", "A community bus to the hospital")
    page.click("#new-idea button[type=submit]")  # saved in place by the page's script
    page.locator("#new-idea .saved-here form.undo").wait_for(timeout=10000)
    check_accessibility(page, f"participant after saving an idea, as {who}")

    # A mistake in the folded-away questions opens them and puts the focus on the field.
    page.click("#demographics summary")
    page.fill("#dem-postcode", "LS6 1AA")
    with page.expect_navigation():
        page.click("#demographics button[type=submit]")
    assert page.get_attribute("#demographics", "open") is not None
    expect_focus(page, "#dem-postcode[aria-invalid=true]")
    check_accessibility(page, f"participant with a mistake in 'about them', as {who}")

    with page.expect_navigation():
        page.click("#entries a[href*='/contributions/']")
    check_accessibility(page, f"correction page, as {who}")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("role", ROLES)
def test_a_form_error_is_accessible_and_focused(role, locale, signed_in, site, visit):
    page = visit(signed_in[role, locale], "/workshops/new")
    page.fill("#title", "Drop-in")
    page.fill("#date", "2026-03-14")
    page.fill("#postcode_district", "LS6 1AA")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    refusal = gettext(
        locale,
        "That is a full postcode. To keep people anonymous only the first part is kept: "
        "enter %(district)s instead.",
        district="LS6",
    )
    assert page.locator(".field-error").inner_text() == refusal
    expect_focus(page, "#postcode_district[aria-invalid=true]")
    described = page.get_attribute("#postcode_district", "aria-describedby").split()
    assert described == ["postcode-hint", "postcode_district-error"]
    check_accessibility(page, f"new workshop with a full postcode, as {role} in {locale}")


@pytest.mark.parametrize("locale", LOCALES)
def test_signed_out_pages_are_accessible(locale, browser, site, visit):
    """Signed out, the language comes from the header's switch, kept in the session."""
    context = browser.new_context(viewport=VIEWPORT)
    page = visit(context, "/login")
    if locale != "en":
        switch_language(page, locale)
    check_accessibility(page, f"sign-in page in {locale}")

    page.fill("#username", "fay")
    page.fill("#password", "not the password")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    refusal = gettext(locale, "That user name and password do not match an account.")
    assert refusal in page.inner_text(".messages")
    check_accessibility(page, f"sign-in page after a wrong password, in {locale}")

    later = visit(context, "/workshops/new")
    assert "/login?next=" in later.url
    assert later.get_attribute("html", "lang") == locale
    check_accessibility(later, f"sign-in page on the way to another page, in {locale}")
    context.close()


@pytest.mark.parametrize("locale", LOCALES)
def test_setup_page_is_accessible(locale, browser, fresh_site, visit):
    context = browser.new_context(viewport=VIEWPORT)
    page = visit(context, "/setup", server=fresh_site)
    assert urlsplit(page.url).path == "/setup"
    if locale != "en":
        switch_language(page, locale)
    expect_focus(page, "#username")
    check_accessibility(page, f"set-up page in {locale}")

    page.fill("#username", "ada")
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD + " typo")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    expect_focus(page, "#password_again[aria-invalid=true]")
    check_accessibility(page, f"set-up page with a mistake, in {locale}")
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
        signed_in["facilitator", "en"],
        f"/workshops/{site.sample['workshop_id']}/participants/{person}",
    )
    page.click("[aria-label='Their vote on idea 2'] button.vote-disagree")
    page.locator("article.idea .saved-here").wait_for(timeout=10000)
    assert page.locator("article.idea .saved-here").count() == 1
    page.evaluate("document.getElementById('ideas').scrollIntoView()")  # show the heading too
    target = tmp_path / "screenshot-capture.png"
    if os.environ.get("ENGAGE_SCREENSHOTS"):
        target = ROOT / "docs" / "screenshot-capture.png"
        target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target))
    assert Path(target).stat().st_size > 10_000
