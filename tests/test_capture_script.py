"""The capture page's script saves without loading the page again: the same endpoints
answer it with JSON, only after the commit, and refuse bad input in JSON too."""

import re
import uuid

from conftest import contributions

JSON = {"Accept": "application/json"}


def post_json(capture, path, data):
    fay = capture["fay"]
    return fay.client.post(capture["page"] + path, data={"csrf_token": fay._token, **data},
                           headers=JSON)


def test_a_vote_saved_by_the_script_is_confirmed_with_its_undo_and_entry(app, capture):
    idea = capture["ideas"][0]
    response = post_json(capture, f"/ideas/{idea}/vote",
                         {"vote": "agree", "submission_id": str(uuid.uuid4())})
    assert response.status_code == 200
    answer = response.get_json()
    (vote,) = contributions(app, capture, "kind = 'vote'")
    assert answer["saved"] is True
    assert answer["message"] == "Vote saved: Agree."
    assert answer["undo"] == {"revision_id": vote["revision_id"],
                              "participant_id": capture["participant_id"]}
    entry = answer["entry"]
    assert (entry["id"], entry["kind"], entry["vote"]) == (vote["id"], "vote", "agree")
    assert entry["revision"] == 1
    # Nothing to keep for the next page: the answer sets no cookie.
    assert "Set-Cookie" not in response.headers


def test_a_changed_vote_from_the_script_is_a_revision_of_the_same_entry(app, capture):
    idea = capture["ideas"][1]
    first = post_json(capture, f"/ideas/{idea}/vote",
                      {"vote": "agree", "submission_id": str(uuid.uuid4())}).get_json()
    second = post_json(capture, f"/ideas/{idea}/vote",
                       {"vote": "disagree", "submission_id": str(uuid.uuid4())}).get_json()
    assert second["entry"]["id"] == first["entry"]["id"]
    assert second["entry"]["revision"] == 2
    rows = contributions(app, capture, "kind = 'vote'")
    assert [r["vote"] for r in rows] == ["agree", "disagree"]
    assert rows[1]["replaces"] == rows[0]["revision_id"]


def test_an_idea_sent_twice_by_the_script_is_saved_once(app, capture):
    sent = {"text": "Bus passes for carers", "language": "en",
            "submission_id": str(uuid.uuid4())}
    first = post_json(capture, "/ideas", sent)
    again = post_json(capture, "/ideas", sent)
    assert first.status_code == again.status_code == 200
    assert first.get_json()["entry"]["id"] == again.get_json()["entry"]["id"]
    assert len(contributions(app, capture, "kind = 'idea'")) == 1


def test_bad_input_from_the_script_is_refused_in_json_and_saves_nothing(app, capture):
    idea = capture["ideas"][0]
    empty = post_json(capture, "/ideas", {"text": "  ", "submission_id": str(uuid.uuid4())})
    assert empty.status_code == 400
    assert empty.get_json()["saved"] is False and empty.get_json()["field"] == "text"
    assert empty.get_json()["message"]
    maybe = post_json(capture, f"/ideas/{idea}/vote", {"vote": "maybe"})
    assert maybe.status_code == 400 and maybe.get_json()["field"] == "vote"
    comment = post_json(capture, f"/ideas/{idea}/comments", {"text": ""})
    assert comment.get_json()["field"] == f"comment-{idea}"
    assert contributions(app, capture) == []


def test_a_request_the_script_cannot_use_gets_the_ordinary_page(app, capture):
    """An unknown idea or a bad form token is answered as for a browser without the
    script: the page falls back to sending the form, which shows this page."""
    fay = capture["fay"]
    unknown = post_json(capture, f"/ideas/{uuid.uuid4()}/vote", {"vote": "agree"})
    assert unknown.status_code == 400 and unknown.get_json()["saved"] is False
    forged = fay.client.post(capture["page"] + "/ideas", headers=JSON,
                             data={"csrf_token": "forged", "text": "x"})
    assert forged.status_code == 400 and forged.mimetype == "text/html"
    assert contributions(app, capture) == []


def test_the_capture_page_carries_what_the_script_needs(app, capture):
    html = capture["fay"].get(capture["page"]).get_data(as_text=True)
    assert 'src="/static/capture.js"' in html
    assert len(re.findall(r"<form [^>]*data-capture>", html)) == 1 + 2 * len(capture["ideas"])
    assert 'id="capture-status"' in html and 'role="status"' in html
    assert '<template id="undo-template">' in html
    # The words the script puts around a saved entry, in the page's language.
    template = re.search(r'<template id="entry-template"([^>]*)>', html).group(1)
    assert 'data-saved-vote="Saved vote: {vote}"' in template
    assert 'data-edit-url="' + capture["workshop_url"] + '/contributions/%7Brecord%7D"' in template


def test_a_save_in_place_retires_the_undo_an_earlier_page_offered(app, capture):
    """After a correction the page offers to undo it; once a newer entry is saved in
    place, a reload must not offer to undo the correction as if it were the last."""
    fay = capture["fay"]
    fay.post(capture["page"] + "/ideas", {"text": "First words"})
    (idea,) = contributions(app, capture, "kind = 'idea'")
    fay.post(f"{capture['workshop_url']}/contributions/{idea['id']}",
             {"text": "Corrected words", "revision_id": idea["revision_id"]})
    (correction,) = contributions(app, capture, "kind = 'idea' and revision = 2")
    offered = f'name="revision_id" value="{correction["revision_id"]}"'
    assert offered in fay.get(capture["page"]).get_data(as_text=True)
    post_json(capture, "/ideas", {"text": "Newer words", "submission_id": str(uuid.uuid4())})
    assert offered not in fay.get(capture["page"]).get_data(as_text=True)
