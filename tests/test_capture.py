"""The facilitator's capture flow: participant, consent, ideas, comments, votes,
corrections, undo and exposure — each durable, none doubled."""

import re

from conftest import contributions, query


def test_workshop_keeps_only_the_postcode_district(app, capture):
    (workshop,) = query(app, "select * from workshops where title = 'Hostel evening'")
    assert workshop["postcode_district"] == "E1"
    assert workshop["tags"] == '["people who have been homeless"]'


def test_participant_gets_an_anonymous_code(app, capture):
    (person,) = query(app, "select * from participants where id = ? order by revision desc "
                      "limit 1", [capture["participant_id"]])
    assert re.fullmatch(r"[346789ACDEFGHJKMNPQRTUVWXY]{5}", person["code"])
    assert person["consent"] == 1
    assert person["channel"] == "facilitator"
    assert person["language"] == "pl"


def test_nothing_is_saved_before_consent(app, client, capture):
    fay = capture["fay"]
    page = fay.post(capture["workshop_url"] + "/participants", {"language": "en"}).location
    response = fay.post(page + "/ideas", {"text": "Said before agreeing"})
    assert response.status_code == 400
    assert "consent" in response.get_data(as_text=True)
    assert contributions(app, capture, "text = ?", ["Said before agreeing"]) == []


def test_an_idea_is_saved_with_its_language_translation_and_provenance(app, capture):
    fay = capture["fay"]
    response = fay.post(capture["page"] + "/ideas", {
        "text": "Chcę, żeby ktoś mi pomógł z formularzem.", "language": "pl",
        "translation": "I want someone to help me with the form.", "translation_language": "en"})
    assert response.status_code == 302
    assert "Idea saved." in fay.followed
    (idea,) = contributions(app, capture, "kind = 'idea'")
    assert idea["language"] == "pl"
    assert idea["translation_language"] == "en"
    assert idea["channel"] == "facilitator"
    assert idea["entered_by"] == capture["user_id"]
    assert idea["revision"] == 1 and idea["replaces"] is None
    device = query(app, "select id from device")[0]["id"]
    assert idea["device_id"] == device
    assert idea["created_at"].endswith("+00:00")


def test_a_resent_form_is_not_saved_twice(app, capture):
    fay = capture["fay"]
    form = {"text": "Buses to the clinic", "submission_id": "7f1d0c52-resend-test"}
    assert fay.post(capture["page"] + "/ideas", form).status_code == 302
    assert fay.post(capture["page"] + "/ideas", form).status_code == 302
    assert len(contributions(app, capture, "text = ?", ["Buses to the clinic"])) == 1


def test_a_vote_and_a_changed_mind(app, capture):
    fay, idea = capture["fay"], capture["ideas"][0]
    fay.post(capture["page"] + f"/ideas/{idea}/vote", {"vote": "agree"})
    fay.post(capture["page"] + f"/ideas/{idea}/vote", {"vote": "disagree"})
    first, second = contributions(app, capture, "kind = 'vote'")
    assert first["id"] == second["id"]
    assert (first["vote"], second["vote"]) == ("agree", "disagree")
    assert second["replaces"] == first["revision_id"] and second["revision"] == 2
    assert "Saved vote: Disagree" in fay.get(capture["page"]).get_data(as_text=True)


def test_a_vote_changed_many_times_stays_one_chain_and_its_latest_counts(app, capture):
    """Each change revises the latest revision, never an older one (which would fork
    the record), and undo goes back exactly one step."""
    fay, idea = capture["fay"], capture["ideas"][0]
    choices = ["agree", "disagree", "unsure"] * 8
    for choice in choices:
        response = fay.post(capture["page"] + f"/ideas/{idea}/vote", {"vote": choice})
        assert response.status_code == 302
    votes = contributions(app, capture, "kind = 'vote'")
    assert len({v["id"] for v in votes}) == 1
    assert [v["revision"] for v in votes] == list(range(1, len(choices) + 1))
    assert all(later["replaces"] == earlier["revision_id"]
               for earlier, later in zip(votes, votes[1:], strict=False))
    assert votes[-1]["vote"] == choices[-1]
    fay.post(capture["workshop_url"] + "/undo", {"revision_id": votes[-1]["revision_id"],
                                                 "participant_id": capture["participant_id"]})
    assert contributions(app, capture)[-1]["vote"] == choices[-2]


def test_comments_and_votes_record_exposure(app, capture):
    fay, ideas = capture["fay"], capture["ideas"]
    fay.post(capture["page"] + f"/ideas/{ideas[1]}/comments", {"text": "Only if it is free"})
    fay.post(capture["page"] + f"/ideas/{ideas[2]}/vote", {"vote": "unsure"})
    exposures = query(app, "select * from exposures where participant_id = ?",
                      [capture["participant_id"]])
    shown = {r["idea_id"] for r in exposures}
    assert shown == {ideas[1], ideas[2]}
    fay.post(capture["page"] + "/exposure")
    fay.post(capture["page"] + "/exposure")
    assert len(query(app, "select * from exposures where participant_id = ?",
                     [capture["participant_id"]])) == len(ideas)


def test_a_correction_is_a_new_revision_naming_the_old(app, capture):
    fay = capture["fay"]
    fay.post(capture["page"] + "/ideas", {"text": "Mroe buses"})
    (original,) = contributions(app, capture)
    edit = f"{capture['workshop_url']}/contributions/{original['id']}"
    assert "Mroe buses" in fay.get(edit).get_data(as_text=True)
    response = fay.post(edit, {"text": "More buses", "language": "en",
                               "revision_id": original["revision_id"]})
    assert response.status_code == 302
    old, new = contributions(app, capture)
    assert old == original  # the first version is untouched
    assert new["text"] == "More buses" and new["replaces"] == original["revision_id"]
    # A second correction from a page opened before the first is refused, not overwritten.
    stale = fay.post(edit, {"text": "Even more buses", "revision_id": original["revision_id"]})
    assert stale.status_code == 400
    assert len(contributions(app, capture)) == 2


def test_the_last_entry_can_be_undone(app, capture):
    fay = capture["fay"]
    fay.post(capture["page"] + "/ideas", {"text": "Typed for the wrong person"})
    page = fay.followed
    assert "Undo the last entry" in page
    revision = re.search(r'name="revision_id" value="([^"]+)"', page).group(1)
    response = fay.post(capture["workshop_url"] + "/undo",
                        {"revision_id": revision, "participant_id": capture["participant_id"]})
    assert response.status_code == 302
    first, undone = contributions(app, capture)
    assert undone["status"] == "withdrawn" and undone["replaces"] == first["revision_id"]
    assert "Typed for the wrong person" not in fay.get(capture["page"]).get_data(as_text=True)
    # Undoing twice does nothing more.
    fay.post(capture["workshop_url"] + "/undo",
             {"revision_id": revision, "participant_id": capture["participant_id"]})
    assert len(contributions(app, capture)) == 2


def test_undoing_a_changed_vote_restores_the_earlier_vote(app, capture):
    fay, idea = capture["fay"], capture["ideas"][0]
    fay.post(capture["page"] + f"/ideas/{idea}/vote", {"vote": "agree"})
    fay.post(capture["page"] + f"/ideas/{idea}/vote", {"vote": "disagree"})
    latest = contributions(app, capture)[-1]
    fay.post(capture["workshop_url"] + "/undo", {"revision_id": latest["revision_id"],
                                                 "participant_id": capture["participant_id"]})
    assert contributions(app, capture)[-1]["vote"] == "agree"
    assert contributions(app, capture)[-1]["status"] == "active"


def test_demographics_refuse_a_full_postcode_and_keep_prefer_not(app, capture):
    fay = capture["fay"]
    response = fay.post(capture["page"] + "/demographics", {"postcode_district": "LS6 1AA"})
    assert response.status_code == 400
    assert "enter LS6 instead" in response.get_data(as_text=True)
    fay.post(capture["page"] + "/demographics", {"sex": "prefer_not", "role": "carer",
                                                 "postcode_district": "ls6"})
    person = query(app, "select * from participants where id = ? order by revision desc limit 1",
                   [capture["participant_id"]])[0]
    assert (person["sex"], person["role"], person["postcode_district"]) == (
        "prefer_not", "carer", "LS6")
    assert person["age_band"] is None


def test_a_refused_comment_shows_its_error_at_the_comment(app, capture):
    fay, idea = capture["fay"], capture["ideas"][1]
    response = fay.post(capture["page"] + f"/ideas/{idea}/comments", {"text": "x" * 5001})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'id="comment-{idea}-error"' in page
    assert 'id="text-error"' not in page


def test_a_refused_about_them_form_keeps_what_was_typed(app, capture):
    fay = capture["fay"]
    response = fay.post(capture["page"] + "/demographics",
                        {"age_band": "18_24", "postcode_district": "LS6 1AA"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="18_24" selected' in page
    assert 'value="LS6 1AA"' in page
