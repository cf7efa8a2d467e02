"""The participant kiosk: one thing per screen, the participant's language, locked away
from staff pages, forgetting each participant when they finish or walk away."""

import re

import pytest
from conftest import PASSWORD, make_user, query, sign_in


@pytest.fixture
def kiosk(app, client, sample):
    """A facilitator's workshop whose laptop has been turned into a kiosk."""
    make_user(app, "fay", "facilitator")
    make_user(app, "finn", "facilitator")
    fay = sign_in(client, "fay")
    workshop_url = fay.post("/workshops/new", {
        "conversation_id": sample["conversation"]["id"], "title": "Community centre",
        "date": "2026-03-14", "postcode_district": "LS6", "languages": ["en", "ur", "pl"]}).location
    workshop_id = workshop_url.rsplit("/", 1)[1]
    response = fay.post(f"/kiosk/begin/{workshop_id}")
    assert response.location == "/kiosk/"
    return {"session": fay, "workshop_url": workshop_url, "workshop_id": workshop_id}


def walk(session, lang="en", wording="standard", idea_text="A bus to the clinic"):
    """Go through the whole kiosk flow, answering one question and voting on every idea."""
    session.post("/kiosk/language", {"lang": lang})
    session.post("/kiosk/wording", {"wording": wording})
    url = session.post("/kiosk/consent", {"consent": "yes"}).location
    visited = []
    while url != "/kiosk/thanks":
        visited.append(url)
        if url == "/kiosk/about/0":
            form = {"age_band": "65_74", "action": "save"}
        elif url.startswith("/kiosk/about/") or url.startswith("/kiosk/question/"):
            form = {"action": "skip"}
        elif url.startswith("/kiosk/idea/"):
            form = {"vote": "agree"}
        else:
            form = {"text": idea_text, "action": "save"}
        response = session.post(url, form)
        assert response.status_code == 302, (url, response.get_data(as_text=True)[:300])
        url = response.location
    return visited


def test_staff_pages_are_out_of_reach(app, kiosk):
    session = kiosk["session"]
    for url in ("/", kiosk["workshop_url"], "/coordinate/export", "/workshops/new", "/account"):
        response = session.client.get(url)
        assert response.status_code == 302 and response.location == "/kiosk/", url


def test_the_language_is_chosen_first_each_in_its_own_script(app, kiosk):
    page = kiosk["session"].get("/kiosk/").get_data(as_text=True)
    assert 'lang="ur" dir="rtl"' in page and ">اردو<" in page
    assert ">polski<" in page and ">বাংলা<" in page
    # The workshop's own languages come first.
    order = re.findall(r'name="lang" value="(\w+)"', page)
    assert order[:3] == ["en", "pl", "ur"]


def test_a_whole_participant_is_recorded_with_channel_language_and_kiosk(app, kiosk, sample):
    visited = walk(kiosk["session"], lang="pl", idea_text="Autobus do przychodni")
    assert visited[0] == "/kiosk/about/0"
    (person,) = query(app, "select * from participants p where channel = 'kiosk' and not exists"
                      " (select 1 from participants r where r.replaces = p.revision_id)")
    assert person["language"] == "pl" and person["consent"] == 1
    assert person["age_band"] == "65_74" and person["entered_by"] is None
    kiosk_row = query(app, "select * from kiosks")[0]
    assert person["kiosk_id"] == kiosk_row["id"]
    rows = query(app, "select * from contributions where participant_id = ?", [person["id"]])
    assert {r["channel"] for r in rows} == {"kiosk"}
    assert {r["kiosk_id"] for r in rows} == {kiosk_row["id"]}
    assert [r["text"] for r in rows if r["kind"] == "idea"] == ["Autobus do przychodni"]
    assert [r["language"] for r in rows if r["kind"] == "idea"] == ["pl"]
    ideas = query(app, "select id from ideas where conversation_id = ?",
                  [sample["conversation"]["id"]])
    assert sum(r["kind"] == "vote" for r in rows) == len(ideas)
    shown = query(app, "select count(*) as n from exposures where participant_id = ?",
                  [person["id"]])[0]["n"]
    assert shown == len(query(app, "select id from ideas"))


def test_saying_no_saves_nothing(app, kiosk):
    session = kiosk["session"]
    before = query(app, "select count(*) as n from participants")[0]["n"]
    session.post("/kiosk/language", {"lang": "en"})
    session.post("/kiosk/wording", {"wording": "standard"})
    response = session.post("/kiosk/consent", {"consent": "no"})
    assert response.location.startswith("/kiosk/thanks")
    assert "Nothing you did here was saved" in session.get(response.location).get_data(
        as_text=True)
    assert query(app, "select count(*) as n from participants")[0]["n"] == before


def test_the_next_participant_starts_afresh(app, kiosk):
    session = kiosk["session"]
    walk(session)
    session.post("/kiosk/next")
    # The last person's pages are gone: the flow starts at the language choice again.
    assert session.client.get("/kiosk/idea/0").location == "/kiosk/"
    walk(session, idea_text="Second person's idea")
    people = query(app, "select distinct id from participants where channel = 'kiosk'")
    assert len(people) == 2


def test_a_participant_who_walks_away_is_forgotten(app, kiosk):
    session = kiosk["session"]
    session.post("/kiosk/language", {"lang": "en"})
    session.post("/kiosk/wording", {"wording": "standard"})
    session.post("/kiosk/consent", {"consent": "yes"})
    with session.client.session_transaction() as cookie:
        person = cookie["kiosk_participant"]
        person["last"] -= 4 * app.config["KIOSK_IDLE_SECONDS"] + 1
        cookie["kiosk_participant"] = person
    assert session.client.get("/kiosk/about/0").location == "/kiosk/"


def test_easy_read_wording_is_used_where_written(app, kiosk):
    session = kiosk["session"]
    session.post("/kiosk/language", {"lang": "en"})
    session.post("/kiosk/wording", {"wording": "easy"})
    session.post("/kiosk/consent", {"consent": "yes"})
    page = session.get("/kiosk/idea/0").get_data(as_text=True)
    assert "Appointments in the evening and at weekends." in page
    assert "should be offered" not in page


def test_only_a_facilitator_of_the_workshop_can_turn_it_off(app, kiosk):
    session = kiosk["session"]
    refused = session.post("/kiosk/leave", {"username": "finn", "password": PASSWORD})
    assert refused.status_code == 401
    assert session.client.get("/").location == "/kiosk/"
    wrong = session.post("/kiosk/leave", {"username": "fay", "password": "not it"})
    assert wrong.status_code == 401
    response = session.post("/kiosk/leave", {"username": "fay", "password": PASSWORD})
    assert response.location == kiosk["workshop_url"]
    assert session.client.get(kiosk["workshop_url"]).status_code == 200
    assert query(app, "select ended_at from kiosks")[0]["ended_at"]


def test_kiosk_refuses_bad_input_and_keeps_nothing(app, kiosk):
    session = kiosk["session"]
    assert session.post("/kiosk/language", {"lang": "xx"}).location == "/kiosk/"
    session.post("/kiosk/language", {"lang": "en"})
    session.post("/kiosk/wording", {"wording": "standard"})
    session.post("/kiosk/consent", {"consent": "yes"})
    response = session.post("/kiosk/about/7", {"postcode_district": "LS6 1AA",
                                               "action": "save"})
    assert response.status_code == 400
    assert "full postcode" in response.get_data(as_text=True)
    response = session.post("/kiosk/more", {"text": "x" * 6000, "action": "save"})
    assert response.status_code == 400
    assert query(app, "select count(*) as n from contributions where channel = 'kiosk'")[0][
        "n"] == 0
