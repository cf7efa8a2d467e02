"""Who may see what: facilitators their own workshops, coordinators the demographics."""

import json

import pytest
from conftest import make_user, query, sign_in


@pytest.fixture
def people(app, client, sample):
    make_user(app, "ada", "admin")
    make_user(app, "cora", "coordinator")
    make_user(app, "fay", "facilitator")
    make_user(app, "finn", "facilitator")
    return sample


def new_workshop(session, conversation_id, **overrides):
    data = {"conversation_id": conversation_id, "title": "Day centre", "date": "2026-03-14",
            "postcode_district": "LS6", "tags": "older people, carers", "languages": ["en", "ur"]}
    data.update(overrides)
    response = session.post("/workshops/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.location.rsplit("/", 1)[1]


def test_facilitator_sees_only_their_own_workshops(app, client, people):
    fay = sign_in(client, "fay")
    mine = new_workshop(fay, people["conversation"]["id"], title="Fay's drop-in")
    listing = fay.get("/workshops/").get_data(as_text=True)
    assert "Fay&#39;s drop-in" in listing
    assert "Sample workshop" not in listing
    assert fay.get(f"/workshops/{people['workshop']['id']}").status_code == 404
    finn = sign_in(app.test_client(), "finn")
    assert finn.get(f"/workshops/{mine}").status_code == 404
    assert finn.post(f"/workshops/{mine}/participants", {"language": "en"}).status_code == 404
    assert query(app, "select count(*) as n from participants where workshop_id = ?", [mine])[0][
        "n"] == 0


def test_coordinator_sees_every_workshop(app, client, people):
    cora = sign_in(client, "cora")
    assert cora.get(f"/workshops/{people['workshop']['id']}").status_code == 200


def test_facilitator_cannot_open_coordinator_pages(app, client, people):
    fay = sign_in(client, "fay")
    for url in ("/coordinate/conversations", "/coordinate/export",
                "/coordinate/export/participants.csv", "/coordinate/users"):
        response = fay.get(url)
        assert response.status_code == 403, url
        assert "not for your account" in response.get_data(as_text=True)
    assert fay.post("/coordinate/sample").status_code == 403


def test_only_admins_manage_accounts(app, client, people):
    cora = sign_in(client, "cora")
    assert cora.get("/coordinate/users").status_code == 403
    ada = sign_in(app.test_client(), "ada")
    response = ada.post("/coordinate/users", {"username": "newbie", "role": "facilitator",
                                              "password": "long enough pw",
                                              "password_again": "long enough pw"})
    assert response.status_code == 302
    assert query(app, "select role from users where username = 'newbie'")[0]["role"] == (
        "facilitator")


def test_a_forged_role_is_refused(app, client, people):
    ada = sign_in(client, "ada")
    response = ada.post("/coordinate/users", {"username": "mallory", "role": "superuser",
                                              "password": "long enough pw",
                                              "password_again": "long enough pw"})
    assert response.status_code == 400
    assert "not one of the options" in response.get_data(as_text=True)
    assert query(app, "select count(*) as n from users where username = 'mallory'")[0]["n"] == 0


def test_demographics_are_shown_only_to_coordinators(app, client, people):
    fay = sign_in(client, "fay")
    wid = new_workshop(fay, people["conversation"]["id"])
    page = fay.post(f"/workshops/{wid}/participants", {"language": "en"}).location
    fay.post(page + "/consent", {"consent": "yes"})
    fay.post(page + "/demographics", {"age_band": "75_plus", "ethnic_group": "white_roma"})
    facilitator_view = fay.get(page).get_data(as_text=True)
    assert 'value="white_roma" selected' not in facilitator_view
    assert "not shown to facilitators" in facilitator_view
    cora = sign_in(app.test_client(), "cora")
    coordinator_view = cora.get(page).get_data(as_text=True)
    assert 'value="white_roma" selected' in coordinator_view
    assert 'value="75_plus" selected' in coordinator_view


def test_tags_typed_with_the_arabic_comma_are_split(app, client, people):
    fay = sign_in(client, "fay")
    wid = new_workshop(fay, people["conversation"]["id"], tags="لاجئون، كبار السن؛ carers")
    tags = query(app, "select tags from workshops where id = ?", [wid])[0]["tags"]
    assert json.loads(tags) == ["لاجئون", "كبار السن", "carers"]
