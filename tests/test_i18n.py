"""Every page in English and in two right-to-left languages: translated, and laid out
right to left where it belongs. Every run includes an RTL locale."""

import re

import pytest
from babel.support import Translations
from conftest import make_user, sign_in

from engage.i18n import SUPPORTED_LOCALES, TRANSLATIONS_DIR, text_direction

LOCALES = ("en", "ar", "ur")


def translate(locale, message):
    if locale == "en":
        return message
    return Translations.load(str(TRANSLATIONS_DIR), [locale]).gettext(message)


def heading(html):
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else ""


@pytest.fixture
def staff_pages(app, client, sample):
    """Every staff page, with the English heading each should show translated."""
    make_user(app, "ada", "admin")
    ada = sign_in(client, "ada")
    workshop = f"/workshops/{sample['workshop']['id']}"
    participant = ada.post(workshop + "/participants", {"language": "en"}).location
    ada.post(participant + "/consent", {"consent": "yes"})
    ada.post(participant + "/ideas", {"text": "Shorter waits"})
    record = re.search(r"/contributions/([0-9a-f-]{36})",
                       ada.get(participant).get_data(as_text=True)).group(1)
    conversation = f"/coordinate/conversations/{sample['conversation']['id']}"
    idea = re.search(r"/coordinate/ideas/([0-9a-f-]{36})/edit",
                     ada.get(conversation).get_data(as_text=True)).group(1)
    pages = {
        "/": None,
        "/workshops/": "Workshops",
        "/workshops/new": "Start a new workshop",
        workshop: None,
        participant: None,
        f"{workshop}/contributions/{record}": "Correct an entry",
        "/coordinate/conversations": "Conversations",
        conversation: None,
        f"/coordinate/ideas/{idea}/edit": "Edit an idea",
        "/coordinate/export": "Export",
        "/coordinate/users": "Accounts",
        "/account": "Your account",
        "/no-such-page": "Page not found",
    }
    return ada, pages


@pytest.mark.parametrize("locale", LOCALES)
def test_every_staff_page_is_translated_and_directed(app, staff_pages, locale):
    ada, pages = staff_pages
    ada.post("/language", {"locale": locale})
    for url, english_heading in pages.items():
        response = ada.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code in (200, 404), url
        direction = text_direction(locale)
        assert f'<html lang="{locale}" dir="{direction}">' in html, url
        assert translate(locale, "Skip to main content") in html, url
        assert translate(locale, "Workshops") in html, url
        if english_heading:
            assert heading(html) == translate(locale, english_heading), url
        if locale != "en":
            assert "Skip to main content" not in html, url


@pytest.mark.parametrize("locale", LOCALES)
def test_signed_out_pages_follow_the_browser(app, client, locale):
    make_user(app, "fay", "facilitator")
    html = client.get("/login", headers={"Accept-Language": f"{locale},en;q=0.5"}).get_data(
        as_text=True)
    assert f'lang="{locale}" dir="{text_direction(locale)}"' in html
    assert heading(html) == translate(locale, "Sign in")


def test_the_language_switch_names_each_language_in_its_own_script(app, client):
    make_user(app, "fay", "facilitator")
    html = client.get("/login").get_data(as_text=True)
    for code, name in (("ar", "العربية"), ("ur", "اردو"), ("bn", "বাংলা"), ("pa", "ਪੰਜਾਬੀ"),
                       ("gu", "ગુજરાતી"), ("uk", "українська"), ("pl", "polski")):
        assert f'<option value="{code}" lang="{code}">{name}</option>' in html


def test_a_users_own_setting_wins_over_the_browser(app, client):
    make_user(app, "fay", "facilitator")
    fay = sign_in(client, "fay")
    fay.post("/account", {"locale": "ur"})
    html = fay.client.get("/workshops/", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    assert 'lang="ur" dir="rtl"' in html


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES[1:])
def test_every_catalog_translates_the_capture_words(locale):
    catalog = Translations.load(str(TRANSLATIONS_DIR), [locale])
    for message in ("Agree", "Disagree", "Not sure", "Prefer not to say", "Their idea"):
        assert catalog.gettext(message) != message or locale == "en", (locale, message)


@pytest.mark.parametrize("locale", LOCALES)
def test_kiosk_pages_are_in_the_participants_language(app, client, sample, locale):
    make_user(app, "fay", "facilitator")
    fay = sign_in(client, "fay")
    workshop = fay.post("/workshops/new", {
        "conversation_id": sample["conversation"]["id"], "title": "Mosque", "date": "2026-01-01",
        "postcode_district": "B11", "languages": ["en", locale]}).location
    fay.post(f"/kiosk/begin/{workshop.rsplit('/', 1)[1]}")
    fay.post("/kiosk/language", {"lang": locale})
    pages = {"/kiosk/wording": "How would you like the words?",
             "/kiosk/consent": "Before you start"}
    for url, english in pages.items():
        html = fay.get(url).get_data(as_text=True)
        assert f'<html lang="{locale}" dir="{text_direction(locale)}">' in html
        assert heading(html) == translate(locale, english)
    fay.post("/kiosk/wording", {"wording": "standard"})
    fay.post("/kiosk/consent", {"consent": "yes"})
    html = fay.get("/kiosk/idea/0").get_data(as_text=True)
    assert translate(locale, "Agree") in html and translate(locale, "Skip this idea") in html


def test_installed_catalogs_are_the_supported_locales():
    import configparser
    from pathlib import Path

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parent.parent / "setup.cfg")
    installed = {key.split("/")[3] for key in config["options.data_files"]}
    assert installed == set(SUPPORTED_LOCALES[1:])


def test_the_catalog_check_passes():
    from engage.catalogs import problems

    assert problems() == []


def test_dates_are_written_the_languages_way(app):
    from engage.i18n import day

    with app.test_request_context(headers={"Accept-Language": "pl"}):
        assert day("2026-03-14") == "14 mar 2026"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert day("2026-03-14") == "14 Mar 2026"
    with app.test_request_context(headers={"Accept-Language": "ar"}):
        assert "2026" in day("2026-03-14") or "٢٠٢٦" in day("2026-03-14")
        assert day("2026-03-14") != "2026-03-14"


def test_a_request_translates_in_the_locale_it_is_switched_to(app):
    """The request's catalog is found once, and found again when the locale changes."""
    from flask_babel import force_locale, gettext, refresh

    with app.test_request_context("/", headers={"Accept-Language": "pl"}):
        assert gettext("Idea saved.") == "Zapisano pomysł."
        with force_locale("ar"):
            assert gettext("Idea saved.") == translate("ar", "Idea saved.")
        assert gettext("Idea saved.") == "Zapisano pomysł."
        with force_locale("en"):
            assert gettext("Idea saved.") == "Idea saved."
        from flask import session

        session["locale"] = "uk"
        refresh()
        assert gettext("Idea saved.") == translate("uk", "Idea saved.")


@pytest.mark.parametrize("header", [
    "", "pl", "en-GB,en;q=0.9", "ur-PK,ur;q=0.9,en;q=0.5", "fr,de;q=0.8", "pt-BR", "*",
    "ar;q=0.1,so;q=0.9", "uk;q=0,pl;q=0.2", "not a header;;q=x",
])
def test_the_browser_locale_is_the_one_werkzeug_would_choose(app, header):
    """Remembered per header, and the same choice as matching it afresh each request."""
    from engage.i18n import browser_locale, select_locale

    with app.test_request_context("/", headers={"Accept-Language": header}):
        from flask import request

        expected = request.accept_languages.best_match(SUPPORTED_LOCALES) or "en"
        assert select_locale() == expected
        assert browser_locale(header) == expected


def test_arabic_counts_take_the_form_their_number_needs():
    """Arabic counts 11 to 99 with the accusative singular (12 مشاركًا) and 100 to 102
    with the plain one (100 مشارك). The catalog's plural rule, as Babel writes it,
    puts 11 to 99 in the last form: a form with the accusative's tanween is the one
    11 and 99 must get, wherever a message has one."""
    from babel.messages.mofile import read_mo

    with (TRANSLATIONS_DIR / "ar" / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        catalog = read_mo(handle)
    translations = Translations.load(TRANSLATIONS_DIR, ["ar"])
    checked = 0
    for message in catalog:
        if not message.pluralizable or not any("ًا" in f for f in message.string):
            continue
        for n in (11, 99, 111):
            assert "ًا" in translations.ngettext(*message.id, n), (message.id[0], n)
        for n in (100, 102):
            assert "ًا" not in translations.ngettext(*message.id, n), (message.id[0], n)
        checked += 1
    assert checked >= 10
