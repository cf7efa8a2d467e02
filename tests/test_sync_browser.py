"""The sync pages in a real browser: a laptop's Sync page and the hub's pages, in English
and Arabic, checked by axe-core for WCAG 2.2 AA; the laptop enrols and sends by keyboard."""

from __future__ import annotations

import json

import pytest
from browser_support import (
    Server,
    add_user,
    check_accessibility,
    engage,
    require_chromium,
    signed_in_context,
)

pytestmark = pytest.mark.browser

HUB_PAGES = ("/hub/batches", "/hub/devices", "/hub/enrol", "/hub/conflicts", "/hub/import",
             "/hub/export")


class HubServer(Server):
    """``python run.py --hub``."""

    options = ("--hub", "--threads", "4")


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    require_chromium()
    root = tmp_path_factory.mktemp("sync-sites")
    add_user(root / "hub", "cora", "coordinator")
    engage(root / "hub", "demo", "load")
    code = json.loads(engage(root / "hub", "sync", "code", "--name", "Leeds laptop 3",
                             "--json"))["code"]
    add_user(root / "laptop", "ada", "admin")
    with HubServer(root / "hub") as hub, Server(root / "laptop") as laptop:
        yield hub, laptop, code


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_hub_pages_pass_axe(browser, sites, locale):
    hub, _, _ = sites
    context = signed_in_context(browser, hub, "cora", locale=locale)
    page = context.new_page()
    try:
        for url in HUB_PAGES:
            response = page.goto(hub.url + url)
            assert response.status == 200, url
            check_accessibility(page, f"{url} ({locale})")
    finally:
        context.close()


def test_a_laptop_enrols_and_sends_by_keyboard(browser, sites):
    hub, laptop, code = sites
    context = signed_in_context(browser, laptop, "ada")
    page = context.new_page()
    try:
        page.goto(laptop.url + "/sync/")
        check_accessibility(page, "sync page, not enrolled")
        page.focus("#hub_url")
        page.keyboard.type(hub.url)
        page.keyboard.press("Tab")
        page.keyboard.type(code)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "enrolled as Leeds laptop 3" in page.content()
        check_accessibility(page, "sync page, enrolled")
        page.focus("text=Fetch conversations from the hub")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "Conversations are up to date" in page.content()
        page.focus("text=Send to the hub now")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "The hub has everything from this laptop" in page.content() or (
            "Nothing was waiting" in page.content())
    finally:
        context.close()


def test_the_restore_notice_passes_axe_and_is_read_by_keyboard(browser, sites):
    """Shown where facilitators start (their workshops) and on the Sync page, in both
    directions; an admin dismisses it with the keyboard alone."""
    _, laptop, _ = sites
    with laptop.db() as db:
        db.execute("update sync_state set restored_found_at = '2026-11-23T09:30:00+00:00'")
    db.close()
    for locale in ("en", "ar"):
        context = signed_in_context(browser, laptop, "ada", locale=locale)
        page = context.new_page()
        try:
            for url in ("/workshops/", "/sync/"):
                page.goto(laptop.url + url)
                assert page.locator("#restored-heading").is_visible(), url
                check_accessibility(page, f"restore notice on {url} ({locale})")
        finally:
            context.close()
    context = signed_in_context(browser, laptop, "ada")
    page = context.new_page()
    try:
        page.goto(laptop.url + "/workshops/")
        page.focus("text=I have read this")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "The notice is gone" in page.content()
        assert page.locator("#restored-heading").count() == 0
    finally:
        context.close()
