"""The participant kiosk in a real browser, started by a facilitator as they would.

Every screen is checked by axe-core in English and in Arabic (right to left), the idle
warning included; the whole flow is done with the keyboard alone in English, Urdu and
Polish and then read back from the database; and the kiosk is photographed in Urdu and
Bengali, with the web font checked to have drawn every letter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_support import (
    PASSWORD,
    ROOT,
    RequestLog,
    check_accessibility,
    check_offline,
    check_web_font,
    expect_focus,
    focused,
    gettext,
    is_focused,
    press_and_load,
    signed_in_context,
    tab_to,
)

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 900}
#: The workshop's languages; the kiosk offers these first, in this order.
WORKSHOP_LANGUAGES = ("en", "pl", "ur", "ar", "bn")
ABOUT_SCREENS = 8  # seven questions, then the postcode
FULL_POSTCODE = (
    "That is a full postcode. To keep people anonymous only the first part is kept: "
    "enter %(district)s instead."
)


@pytest.fixture(scope="module")
def workshop(browser, site):
    """fay's workshop in five languages, made through the new-workshop form."""
    context = signed_in_context(browser, site, "fay", viewport=VIEWPORT)
    page = context.new_page()
    page.goto(site.url + "/workshops/new")
    page.fill("#title", "Kiosk at the library")
    page.fill("#date", "2026-03-14")
    page.fill("#postcode_district", "LS6")
    for code in WORKSHOP_LANGUAGES[1:]:
        page.check(f"#lang-{code}")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    workshop_id = urlsplit(page.url).path.rsplit("/", 1)[1]
    context.close()
    with site.db() as db:
        ideas = [
            row["id"]
            for row in db.execute(
                "select id from ideas where conversation_id = ? order by position",
                [site.sample["conversation_id"]],
            )
        ]
        prompts = db.execute(
            "select count(*) from prompts where conversation_id = ?",
            [site.sample["conversation_id"]],
        ).fetchone()[0]
    return {"id": workshop_id, "ideas": ideas, "prompts": prompts}


@dataclass
class Kiosk:
    """A browser turned into a kiosk: its page, the kiosk's id and the page's requests."""

    page: object
    id: str
    log: RequestLog

    @property
    def path(self) -> str:
        return urlsplit(self.page.url).path

    def idle(self) -> None:
        """Let the participant go quiet until the warning comes, as kiosk.js times it
        (the last 30 seconds, at most half the time); the page's clock is moved on
        rather than waited for."""
        idle = int(self.page.get_attribute("body", "data-idle-seconds"))
        self.page.clock.fast_forward((idle - min(30, idle // 2) + 1) * 1000)
        self.page.wait_for_selector("#idle-warning", state="visible")


@pytest.fixture
def start_kiosk(browser, site, workshop):
    """Turn a fresh browser into a kiosk for the workshop: fay, signed in, presses
    "Start the kiosk" on the workshop's page, as a facilitator of it."""
    contexts = []

    def start() -> Kiosk:
        context = signed_in_context(browser, site, "fay", viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.clock.install()  # time runs as usual until a test moves it on
        log = RequestLog(page)
        page.goto(f"{site.url}/workshops/{workshop['id']}")
        with page.expect_navigation():
            page.click(f"form[action$='/kiosk/begin/{workshop['id']}'] button[type=submit]")
        assert urlsplit(page.url).path == "/kiosk/"
        with site.db() as db:
            kiosk_id = db.execute(
                "select id from kiosks where workshop_id = ? order by rowid desc limit 1",
                [workshop["id"]],
            ).fetchone()["id"]
        return Kiosk(page, kiosk_id, log)

    yield start
    for context in contexts:
        context.close()


def in_browser_language(page, lang: str) -> None:
    """Show the language screen again as a browser set to ``lang`` asks for it."""
    page.set_extra_http_headers({"Accept-Language": lang})
    page.reload()
    assert page.get_attribute("html", "lang") == lang


def go(page, selector: str) -> None:
    """Press a button or link with the mouse and wait for the next screen."""
    with page.expect_navigation():
        page.click(selector)


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_every_kiosk_screen_is_accessible(locale, start_kiosk, workshop, site):
    kiosk = start_kiosk()
    page = kiosk.page

    def check(name):
        check_accessibility(page, f"kiosk {name} in {locale}")

    # Before anyone chooses, the screen is in the browser's language.
    in_browser_language(page, locale)
    check("language choice")
    go(page, f"button[name=lang][value={locale}]")
    assert page.get_attribute("html", "lang") == locale
    assert page.get_attribute("html", "dir") == ("rtl" if locale == "ar" else "ltr")
    check("wording choice")
    go(page, "button[name=wording][value=standard]")
    check("consent")
    go(page, "button[name=consent][value=yes]")

    for n in range(ABOUT_SCREENS):
        assert kiosk.path == f"/kiosk/about/{n}"
        check(f"'about you' question {n}")
        if n == ABOUT_SCREENS - 1:
            page.fill("#postcode", "LS6 1AA")
            go(page, "button[name=action][value=save]")
            assert kiosk.path == f"/kiosk/about/{n}"
            refusal = gettext(locale, FULL_POSTCODE, district="LS6")
            assert page.inner_text("#postcode-error") == refusal
            expect_focus(page, "#postcode[aria-invalid=true]")
            check("postcode with a mistake")
        go(page, "button[name=action][value=skip]")

    assert kiosk.path == "/kiosk/question/0"
    check("question")
    go(page, "button[name=action][value=save]")  # nothing written: asked again
    assert kiosk.path == "/kiosk/question/0" and page.locator("#text-error").count() == 1
    check("question with nothing written")
    for _n in range(workshop["prompts"]):
        go(page, "button[name=action][value=skip]")

    for n in range(len(workshop["ideas"])):
        assert kiosk.path == f"/kiosk/idea/{n}"
        if n == 0:
            check("idea vote")
        go(page, "button[name=vote][value=agree]")

    assert kiosk.path == "/kiosk/more"
    check("anything else")
    kiosk.idle()
    expect_focus(page, "#idle-continue")
    check("idle warning")
    page.keyboard.press("Escape")  # answers it as the button does
    assert page.is_hidden("#idle-warning")
    expect_focus(page, "#text")
    page.fill("#text", "A bench at the bus stop")
    go(page, "button[name=action][value=save]")
    assert kiosk.path == "/kiosk/thanks"
    check("thank you")
    if locale != "en":
        check_web_font(page, f"kiosk thank you in {locale}")

    go(page, "footer a[href$='/kiosk/leave']")
    check("staff sign-in to turn it off")
    page.fill("#username", "fay")
    page.fill("#password", "not the password")
    go(page, "main button[type=submit]")
    assert page.locator("main .error[role=alert]").count() == 1
    check("staff sign-in after a wrong password")
    page.fill("#username", "fay")
    page.fill("#password", PASSWORD)
    go(page, "main button[type=submit]")
    assert kiosk.path == f"/workshops/{workshop['id']}", "the kiosk did not turn off"
    check_offline(kiosk.log, site)
    with site.db() as db:
        ended = db.execute("select ended_at from kiosks where id = ?", [kiosk.id]).fetchone()
    assert ended["ended_at"]


# language, wording, the age band chosen with the arrow keys, and the words typed
RUNS = {
    "en": ("easy", "35_44", "A minibus from the estate to the clinic", "Ramps at the library"),
    "ur": (
        "standard",
        "65_74",
        "کلینک تک جانے کے لیے ایک بس",  # a bus to get to the clinic
        "ہر خط اردو میں بھی ہو",  # every letter in Urdu too
    ),
    "pl": ("standard", "18_24", "Autobus do przychodni", "Więcej wizyt w sobotę"),
}
AGES = ("under_18", "18_24", "25_34", "35_44", "45_54", "55_64", "65_74", "75_plus")
VOTES = ("agree", "disagree", "unsure")


def focus_shown(page, selector: str) -> None:
    """``selector`` has the focus and the focus ring is drawn, so a person sees where
    their next key press goes."""
    expect_focus(page, selector)
    shown = page.evaluate("() => document.activeElement.matches(':focus-visible')")
    assert shown, f"the focus on {focused(page)} is not shown"


@pytest.mark.parametrize("lang", RUNS)
def test_the_kiosk_with_the_keyboard_alone(lang, start_kiosk, workshop, site):
    """One participant from the language screen to "Start again", by key presses only."""
    wording, age, answer, idea = RUNS[lang]
    kiosk = start_kiosk()
    page = kiosk.page

    # The language: the first button has the focus; the workshop's languages come first.
    focus_shown(page, "button[name=lang]:first-of-type")
    order = page.locator("button[name=lang]").evaluate_all("bs => bs.map(b => b.value)")
    assert set(order[: len(WORKSHOP_LANGUAGES)]) == set(WORKSHOP_LANGUAGES)
    if order.index(lang):
        tab_to(page, f"button[name=lang][value={lang}]", most=order.index(lang))
    press_and_load(page, "Enter")
    assert page.get_attribute("html", "lang") == lang

    # The wording: standard has the focus, easy read is one Tab on.
    focus_shown(page, "button[name=wording][value=standard]")
    if wording == "easy":
        page.keyboard.press("Tab")
        assert is_focused(page, "button[name=wording][value=easy]"), focused(page)
    press_and_load(page, "Space")

    # Consent: "yes" has the focus.
    focus_shown(page, "button[name=consent][value=yes]")
    press_and_load(page, "Enter")

    # The first question: the arrow keys choose an age band, Enter sends it.
    assert kiosk.path == "/kiosk/about/0"
    focus_shown(page, f"input[name=age_band][value='{AGES[0]}']")
    page.keyboard.press("Space")
    for _step in range(AGES.index(age)):
        page.keyboard.press("ArrowDown")
    assert page.is_checked(f"input[name=age_band][value='{age}']"), focused(page)
    press_and_load(page, "Enter")

    # The other questions are skipped: the choices are one stop, then Next, then Skip.
    for n in range(1, ABOUT_SCREENS):
        assert kiosk.path == f"/kiosk/about/{n}"
        first = "#postcode" if n == ABOUT_SCREENS - 1 else "input[type=radio][autofocus]"
        focus_shown(page, first)
        tab_to(page, "button[name=action][value=skip]", most=2)
        press_and_load(page, "Enter")

    # The first question of the conversation is answered; the participant goes quiet
    # in the middle of it, and comes back to their words.
    assert kiosk.path == "/kiosk/question/0"
    focus_shown(page, "#text")
    page.keyboard.type(answer)
    kiosk.idle()
    focus_shown(page, "#idle-continue")
    page.keyboard.press("Tab")
    assert is_focused(page, "#idle-continue"), f"Tab left the warning for {focused(page)}"
    page.keyboard.press("Enter")
    assert page.is_hidden("#idle-warning")
    assert is_focused(page, "#text"), f"after the warning the focus is on {focused(page)}"
    assert page.input_value("#text") == answer
    tab_to(page, "button[name=action][value=save]", most=1)
    press_and_load(page, "Enter")
    for n in range(1, workshop["prompts"]):
        assert kiosk.path == f"/kiosk/question/{n}"
        focus_shown(page, "#text")
        tab_to(page, "button[name=action][value=skip]", most=2)
        press_and_load(page, "Enter")

    # A vote on every idea: agree has the focus, the others are a Tab or two on.
    chosen = []
    for n in range(len(workshop["ideas"])):
        assert kiosk.path == f"/kiosk/idea/{n}"
        focus_shown(page, "button[name=vote][value=agree]")
        vote = VOTES[n % len(VOTES)]
        if vote != "agree":
            tab_to(page, f"button[name=vote][value={vote}]", most=VOTES.index(vote))
        if wording == "easy" and n == 0:
            assert page.inner_text("#idea-text") == "Appointments in the evening and at weekends."
        press_and_load(page, "Enter" if n % 2 else "Space")
        chosen.append(vote)

    # One more idea, then finished.
    assert kiosk.path == "/kiosk/more"
    focus_shown(page, "#text")
    page.keyboard.type(idea)
    tab_to(page, "button[name=action][value=save]", most=1)
    press_and_load(page, "Enter")
    assert kiosk.path == "/kiosk/thanks"
    assert page.get_attribute("html", "lang") == lang  # thanked in their language
    focus_shown(page, "form[action$='/kiosk/next'] button")
    press_and_load(page, "Enter")
    assert kiosk.path == "/kiosk/"
    focus_shown(page, "button[name=lang]:first-of-type")

    check_offline(kiosk.log, site)
    assert_recorded(site, workshop, kiosk.id, lang, age, [answer, idea], chosen)


def assert_recorded(site, workshop, kiosk_id, lang, age, words, votes):
    """Everything the participant did is in the database, marked as the kiosk's."""
    with site.db() as db:
        people = db.execute(
            "select * from participants where kiosk_id = ? order by revision", [kiosk_id]
        ).fetchall()
        assert people, "no participant was recorded for the kiosk"
        assert {p["id"] for p in people} == {people[0]["id"]}, "more than one participant"
        person = people[-1]
        assert {(p["channel"], p["language"], p["workshop_id"]) for p in people} == {
            ("kiosk", lang, workshop["id"])
        }
        assert {p["entered_by"] for p in people} == {None}
        assert person["consent"] == 1 and person["age_band"] == age
        assert person["ethnic_group"] is None and person["postcode_district"] is None

        rows = db.execute(
            "select * from contributions where participant_id = ? order by created_at, rowid",
            [person["id"]],
        ).fetchall()
        assert {(r["channel"], r["kiosk_id"], r["entered_by"]) for r in rows} == {
            ("kiosk", kiosk_id, None)
        }
        ideas = [r for r in rows if r["kind"] == "idea"]
        assert [(r["text"], r["language"]) for r in ideas] == [(w, lang) for w in words]
        assert ideas[0]["prompt_id"] and ideas[1]["prompt_id"] is None
        by_idea = {r["idea_id"]: r["vote"] for r in rows if r["kind"] == "vote"}
        assert by_idea == dict(zip(workshop["ideas"], votes, strict=True))

        shown = db.execute(
            "select idea_id, channel from exposures where participant_id = ?", [person["id"]]
        ).fetchall()
        assert sorted(r["idea_id"] for r in shown) == sorted(workshop["ideas"])
        assert {r["channel"] for r in shown} == {"kiosk"}


@pytest.mark.parametrize("lang", ["ur", "bn"])
def test_screenshots_of_the_kiosk(lang, start_kiosk, tmp_path, site):
    """Pictures of the kiosk in Urdu and Bengali, on a laptop-sized screen, to see that
    letters join and conjuncts form. Written to docs/ only when ENGAGE_SCREENSHOTS is
    set, so that test runs leave the tree as it was. On each screen the web font has to
    have drawn every letter: a fallback to a system font fails the test."""
    folder = tmp_path
    if os.environ.get("ENGAGE_SCREENSHOTS"):
        folder = ROOT / "docs"
        folder.mkdir(exist_ok=True)
    kiosk = start_kiosk()
    page = kiosk.page

    def shoot(name):
        check_web_font(page, f"kiosk {name} in {lang}")
        target = folder / f"kiosk-{lang}-{name}.png"
        page.screenshot(path=str(target))
        assert Path(target).stat().st_size > 10_000

    in_browser_language(page, lang)
    shoot("language")
    go(page, f"button[name=lang][value={lang}]")
    go(page, "button[name=wording][value=standard]")
    shoot("consent")
    go(page, "button[name=consent][value=yes]")
    go(page, "button[name=action][value=skip]")
    shoot("about-ethnic-group")
    go(page, "button[name=action][value=skip]")
    shoot("about-disability")
    page.goto(site.url + "/kiosk/idea/0")
    shoot("idea")
    check_offline(kiosk.log, site)
