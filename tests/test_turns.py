"""Quick saves take turns within a server process; pages and other work go on beside
them (engage/turns.py says why)."""

import threading

from conftest import sign_in

from engage.data import contributions as saved


def _in_thread(call):
    done = {}
    thread = threading.Thread(target=lambda: done.setdefault("response", call()), daemon=True)
    thread.start()
    return thread, done


def test_saves_in_one_process_take_turns_while_pages_go_on(app, capture, monkeypatch):
    fay, idea = capture["fay"], capture["ideas"][0]
    other = sign_in(app.test_client(), "fay")  # the same facilitator on a second laptop
    other.get(capture["page"])
    first_inside, let_go = threading.Event(), threading.Event()
    entered = []
    record_vote = saved.record_vote

    def held_vote(*args, **kwargs):
        entered.append(kwargs["submission_id"])
        if len(entered) == 1:
            first_inside.set()
            assert let_go.wait(10)
        return record_vote(*args, **kwargs)

    monkeypatch.setattr(saved, "record_vote", held_vote)
    vote = capture["page"] + f"/ideas/{idea}/vote"
    first, first_done = _in_thread(
        lambda: fay.post(vote, {"vote": "agree", "submission_id": "turn-1"}))
    assert first_inside.wait(10)

    second, second_done = _in_thread(
        lambda: other.post(vote, {"vote": "disagree", "submission_id": "turn-2"}))
    page, page_done = _in_thread(lambda: other.client.get(capture["page"]))
    page.join(10)
    assert page_done["response"].status_code == 200  # a page is not held up by a save
    second.join(0.3)
    assert entered == ["turn-1"]  # the second save waits for the first to finish

    let_go.set()
    first.join(10)
    second.join(10)
    assert entered == ["turn-1", "turn-2"]
    assert first_done["response"].status_code == 302
    assert second_done["response"].status_code == 302


def test_a_save_that_fails_still_ends_its_turn(app, capture, monkeypatch):
    fay, idea = capture["fay"], capture["ideas"][0]

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(saved, "record_vote", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert fay.post(capture["page"] + f"/ideas/{idea}/vote", {"vote": "agree"}).status_code == 500
    monkeypatch.undo()
    answer = _in_thread(lambda: fay.post(capture["page"] + f"/ideas/{idea}/vote",
                                         {"vote": "agree"}))
    answer[0].join(10)
    assert answer[1]["response"].status_code == 302
