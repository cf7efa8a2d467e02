"""A whole workshop run with the keyboard alone, in a real browser, against the real server.

Only key presses and typing: no clicks and no filling of fields. Each step checks where the
focus is, and ``tab_to`` fails when something takes too many presses to reach.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from browser_support import (
    PASSWORD,
    RequestLog,
    check_accessibility,
    check_offline,
    expect_focus,
    focused,
    is_focused,
    press_and_load,
    tab_to,
)

pytestmark = pytest.mark.browser

IDEA = "A bus that stops outside the clinic"
IDEA_CORRECTED = "A bus that stops outside the health centre"
COMMENT = "Only if the therapist speaks slowly"


@pytest.fixture
def page(browser):
    # en-US fixes the order in which a date field takes its digits (month, day, year).
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def sign_in_by_keyboard(page, site, username):
    page.goto(site.url + "/login")
    expect_focus(page, "#username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert is_focused(page, "#password"), focused(page)
    page.keyboard.type(PASSWORD)
    press_and_load(page, "Enter")
    assert urlsplit(page.url).path == "/", page.url


def create_workshop_by_keyboard(page, site):
    """From the home page, through the skip link, to a new workshop's page."""
    page.keyboard.press("Tab")
    assert is_focused(page, "a.skip-link"), focused(page)
    page.keyboard.press("Enter")
    expect_focus(page, "#main")
    tab_to(page, "a[href$='/workshops/new']", most=2)
    press_and_load(page, "Enter")

    expect_focus(page, "#conversation_id")
    assert page.input_value("#conversation_id") == site.sample["conversation_id"]
    page.keyboard.press("Tab")
    assert is_focused(page, "#title"), focused(page)
    page.keyboard.type("Keyboard workshop at the library")
    page.keyboard.press("Tab")
    assert is_focused(page, "#date"), focused(page)
    page.keyboard.type("03142026")
    assert page.input_value("#date") == "2026-03-14"
    tab_to(page, "#postcode_district", most=2)  # a date field may keep one more stop
    page.keyboard.type("LS6")
    page.keyboard.press("Tab")
    assert is_focused(page, "#tags"), focused(page)
    page.keyboard.type("older people, carers")
    tab_to(page, "#lang-pl", most=3)
    page.keyboard.press("Space")
    assert page.is_checked("#lang-pl") and page.is_checked("#lang-en")
    # Each language's checkbox is a stop on the way to the button, as checkboxes should be.
    languages = page.locator("input[name=languages]").count()
    tab_to(page, "main form button[type=submit]", most=languages)
    press_and_load(page, "Enter")
    assert "The workshop is ready" in page.inner_text(".messages")
    return urlsplit(page.url).path.rsplit("/", 1)[1]


def test_a_workshop_run_with_the_keyboard_alone(page, site):
    log = RequestLog(page)
    fay = site.users["facilitator"]

    sign_in_by_keyboard(page, site, "fay")
    workshop_id = create_workshop_by_keyboard(page, site)

    # Add a participant: the button has the focus as the workshop page opens.
    expect_focus(page, "form[action$='/participants'] button[type=submit]")
    press_and_load(page, "Enter")
    participant_id = urlsplit(page.url).path.rsplit("/", 1)[1]

    # Consent, with Space this time; then the idea box has the focus.
    expect_focus(page, "button[name=consent][value=yes]")
    press_and_load(page, "Space")
    expect_focus(page, "#idea-text")
    page.keyboard.type(IDEA)
    tab_to(page, "#new-idea button[type=submit]", most=4)
    # Saves go through the page's script: no new page, the focus stays where it was, the
    # confirmation appears where we are and a screen reader hears it.
    page_url = page.url
    save_in_place(page, "#new-idea", "Idea saved.")
    assert page.url == page_url
    assert is_focused(page, "#new-idea button[type=submit]")
    assert page.input_value("#idea-text") == ""  # ready for their next idea
    assert IDEA in page.inner_text("#entries")

    ideas = page.evaluate("[...document.querySelectorAll('article.idea')].map(a => a.id)")
    first, second = f"#{ideas[0]}", f"#{ideas[1]}"

    # Agree with idea 1.
    tab_to(page, f"{first} button.vote-agree", most=10)
    save_in_place(page, first, "Vote saved: Agree.")
    assert "Saved vote: Agree" in page.inner_text(first)
    assert is_focused(page, f"{first} button.vote-agree")
    assert "chosen" in page.get_attribute(f"{first} button.vote-agree", "class")
    entries = page.inner_text("#entries")
    assert "Vote" in entries and "Agree" in entries and "Correct" in entries

    # A comment on idea 2: open its details with Enter, type, save.
    tab_to(page, f"{second} summary", most=9)
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert is_focused(page, f"{second} textarea"), focused(page)
    page.keyboard.type(COMMENT)
    tab_to(page, f"{second} details[open] button[type=submit]", most=3)
    save_in_place(page, second, "Comment saved.")
    assert page.locator(".saved-here").count() == 1  # only the latest save's confirmation

    # Undo the comment: the undo button is next to its confirmation, a few Tabs on.
    tab_to(page, f"{second} form.undo button", most=6)
    press_and_load(page, "Enter")
    assert "Undone." in page.inner_text(".messages")

    # Correct the idea: its Correct link is near the end of the page, so go backwards.
    with site.db() as db:
        idea_record = db.execute(
            "select id from contributions where participant_id = ? and kind = 'idea'",
            [participant_id],
        ).fetchone()["id"]
    tab_to(page, f"a[href$='/contributions/{idea_record}']", most=6, backwards=True)
    press_and_load(page, "Enter")
    expect_focus(page, "#text")
    assert page.input_value("#text") == IDEA
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(IDEA_CORRECTED)
    tab_to(page, "main form button[type=submit]", most=4)
    press_and_load(page, "Enter")
    assert "Correction saved." in page.inner_text(".messages")
    assert IDEA_CORRECTED in page.inner_text("#entries")

    check_offline(log, site)
    assert_recorded(site, fay["id"], workshop_id, participant_id, ideas)


def test_a_refused_save_is_explained_at_its_box_and_nothing_is_saved(page, site):
    sign_in_by_keyboard(page, site, "fay")
    create_workshop_by_keyboard(page, site)
    press_and_load(page, "Enter")  # add a participant
    participant_id = urlsplit(page.url).path.rsplit("/", 1)[1]
    press_and_load(page, "Enter")  # they agree
    expect_focus(page, "#idea-text")
    page.keyboard.type("   ")  # the browser lets spaces through; the server does not
    tab_to(page, "#new-idea button[type=submit]", most=4)
    page.keyboard.press("Enter")
    from playwright.sync_api import expect

    expect(page.locator("#capture-status")).to_have_text(
        "This box is empty. Type the words, then save.", timeout=10000)
    expect_focus(page, "#idea-text")  # back at the box, which says what is wrong
    assert page.get_attribute("#idea-text", "aria-invalid") == "true"
    described = page.get_attribute("#idea-text", "aria-describedby")
    assert "This box is empty" in page.inner_text(f"#{described}")
    with site.db() as db:
        saved = db.execute("select count(*) from contributions where participant_id = ?",
                           [participant_id]).fetchone()[0]
    assert saved == 0

    # Typed properly, it saves; the error goes, and the page with its confirmation and
    # undo shown in place still passes axe-core.
    page.keyboard.type(IDEA)
    tab_to(page, "#new-idea button[type=submit]", most=4)
    save_in_place(page, "#new-idea", "Idea saved.")
    assert page.locator(".capture-error").count() == 0
    assert page.get_attribute("#idea-text", "aria-invalid") is None
    check_accessibility(page, "participant page after a save in place")


def save_in_place(page, where: str, message: str) -> None:
    """Press Enter on a capture form's button; wait for its confirmation in place."""
    from playwright.sync_api import expect

    page.keyboard.press("Enter")
    expect(page.locator(f"{where} .saved-here")).to_contain_text(message, timeout=10000)
    expect(page.locator("#capture-status")).to_have_text(message, timeout=5000)


def assert_recorded(site, fay_id, workshop_id, participant_id, ideas):
    with site.db() as db:
        workshop = db.execute("select * from workshops where id = ?", [workshop_id]).fetchone()
        assert workshop["title"] == "Keyboard workshop at the library"
        assert workshop["date"] == "2026-03-14"
        assert workshop["postcode_district"] == "LS6"
        assert json.loads(workshop["tags"]) == ["older people", "carers"]
        assert json.loads(workshop["languages"]) == ["en", "pl"]
        assert workshop["created_by"] == fay_id

        people = db.execute(
            "select * from participants where id = ? order by revision", [participant_id]
        ).fetchall()
        assert people[-1]["consent"] == 1
        assert {(p["channel"], p["entered_by"]) for p in people} == {("facilitator", fay_id)}

        rows = db.execute(
            "select * from contributions where participant_id = ? order by created_at, revision",
            [participant_id],
        ).fetchall()
        assert {(r["channel"], r["entered_by"]) for r in rows} == {("facilitator", fay_id)}
        by_kind = {}
        for row in rows:
            by_kind.setdefault(row["kind"], []).append(row)

        (vote,) = by_kind["vote"]
        assert (vote["vote"], vote["idea_id"], vote["status"]) == ("agree", ideas[0][5:], "active")

        comment, undone = by_kind["comment"]
        assert comment["idea_id"] == ideas[1][5:] and comment["text"] == COMMENT
        assert (undone["revision"], undone["status"]) == (2, "withdrawn")
        assert undone["replaces"] == comment["revision_id"] and undone["id"] == comment["id"]

        original, correction = by_kind["idea"]
        assert (original["revision"], original["text"], original["status"]) == (1, IDEA, "active")
        assert (correction["revision"], correction["text"]) == (2, IDEA_CORRECTED)
        assert correction["replaces"] == original["revision_id"]
        assert correction["id"] == original["id"] and correction["status"] == "active"
