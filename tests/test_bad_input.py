"""Bad input gets a clear message and changes nothing; no traceback reaches a page."""

import re

import pytest
from conftest import make_user, query, sign_in
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture
def fay_page(app, client, sample):
    make_user(app, "fay", "facilitator")
    fay = sign_in(client, "fay")
    workshop_url = fay.post("/workshops/new", {
        "conversation_id": sample["conversation"]["id"], "title": "Library", "date": "2026-05-01",
        "postcode_district": "B1", "languages": ["en"]}).location
    page = fay.post(workshop_url + "/participants", {"language": "en"}).location
    fay.post(page + "/consent", {"consent": "yes"})
    ideas = re.findall(r'<article id="idea-([0-9a-f-]{36})"', fay.get(page).get_data(as_text=True))
    return fay, workshop_url, page, ideas


def counts(app):
    return {t: query(app, f"select count(*) as n from {t}")[0]["n"]
            for t in ("contributions", "participants", "workshops", "exposures", "users")}


def assert_refused(app, before, response, message, status=400):
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:500]
    assert message in body
    assert "Traceback" not in body
    assert counts(app) == before


def test_empty_and_oversized_text(app, fay_page):
    fay, _, page, _ = fay_page
    before = counts(app)
    assert_refused(app, before, fay.post(page + "/ideas", {"text": "   "}), "This box is empty")
    assert_refused(app, before, fay.post(page + "/ideas", {"text": "x" * 5001}),
                   "This is too long: 5001 characters")


def test_a_request_bigger_than_the_limit(app, fay_page):
    fay, _, page, _ = fay_page
    before = counts(app)
    assert_refused(app, before, fay.post(page + "/ideas", {"text": "x" * 2_000_000}),
                   "too much to send at once", status=413)


def test_unknown_ids(app, fay_page):
    fay, workshop_url, page, ideas = fay_page
    before = counts(app)
    assert_refused(app, before, fay.get("/workshops/no-such-workshop"), "Page not found", 404)
    assert_refused(app, before, fay.post(workshop_url + "/participants/nobody/ideas",
                                         {"text": "hello"}), "Page not found", 404)
    assert_refused(app, before, fay.post(page + "/ideas/not-an-idea/vote", {"vote": "agree"}),
                   "not part of this workshop")
    assert_refused(app, before, fay.get(workshop_url + "/contributions/nothing"),
                   "Page not found", 404)


def test_a_tampered_form(app, fay_page, sample):
    fay, workshop_url, page, ideas = fay_page
    before = counts(app)
    assert_refused(app, before, fay.post(page + f"/ideas/{ideas[0]}/vote", {"vote": "maybe"}),
                   "not one of the options")
    assert_refused(app, before, fay.post(page + "/ideas", {"text": "hi", "language": "xx"}),
                   "not one of the options")
    assert_refused(app, before, fay.post(page + "/demographics", {"age_band": "101"}),
                   "not one of the options")
    # A participant of another workshop, reached through this workshop's address.
    other = query(app, "select id from participants where workshop_id = ?",
                  [sample["workshop"]["id"]])[0]["id"]
    assert_refused(app, before, fay.post(f"{workshop_url}/participants/{other}/ideas",
                                         {"text": "hi"}), "Page not found", 404)


def test_full_postcode_for_a_workshop(app, fay_page, sample):
    fay, *_ = fay_page
    before = counts(app)
    response = fay.post("/workshops/new", {
        "conversation_id": sample["conversation"]["id"], "title": "Mosque", "date": "2026-05-01",
        "postcode_district": "M14 5RX"})
    assert_refused(app, before, response, "That is a full postcode")
    assert "enter M14 instead" in response.get_data(as_text=True)


def test_wrong_method_and_unknown_page(app, fay_page):
    fay, workshop_url, page, _ = fay_page
    assert "not allowed here" in fay.get(page + "/ideas").get_data(as_text=True)
    assert fay.get("/no/such/page").status_code == 404


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(
    st.sampled_from(["text", "language", "translation", "translation_language", "prompt_id",
                     "vote", "submission_id", "postcode_district", "age_band"]),
    st.text(max_size=30), max_size=6))
def test_no_junk_form_produces_a_server_error(app, fay_page, form):
    fay, workshop_url, page, ideas = fay_page
    for target in (page + "/ideas", page + f"/ideas/{ideas[0]}/vote",
                   page + f"/ideas/{ideas[0]}/comments", page + "/demographics"):
        response = fay.post(target, form)
        assert response.status_code in (302, 400), (target, form, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True)
