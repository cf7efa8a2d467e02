"""The people-in-the-loop pages for scanned forms: upload, review one unclear box at a time,
type handwriting beside its crop, deal with pages that need a person; and nobody outside
the workshop sees any of it."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import test_scans_import as printed_workshop
from conftest import Session
from PIL import Image
from test_scans_import import paper_participant, questions, rows

# The printed workshop with its scans, made once, and a copy of its instance per test.
paper = printed_workshop.paper
app = printed_workshop.app


def upload(session, paper, *names, headers=None, workshop_id=None):
    files = [(io.BytesIO((paper.files / name).read_bytes()), name) for name in names]
    return session.post(f"/workshops/{workshop_id or paper.workshop_id}/scans",
                        {"scans": files}, content_type="multipart/form-data",
                        headers=headers or {})


def signed_in(app, name):
    """A browser session for an account the printed workshop already has (fay runs the
    workshop, finn another, cora coordinates); signing in is tested elsewhere."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user_id(app, name)
    browser = Session(client)
    browser.get("/workshops/")
    return browser


def user_id(app, name):
    return rows(app, "select id from users where username = ?", [name])[0]["id"]


def test_upload_reads_each_file_and_says_what_it_found(app, client, paper):
    fay = signed_in(app, "fay")
    html = fay.get(f"/workshops/{paper.workshop_id}").get_data(as_text=True)
    assert f"/workshops/{paper.workshop_id}/scans" in html
    page = fay.get(f"/workshops/{paper.workshop_id}/scans").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and " multiple " in page
    assert "scans.js" in page and 'role="status"' in page
    assert (paper.files / "sheet1.pdf").stat().st_size > 1024 * 1024  # over the usual limit
    response = upload(fay, paper, "sheet1.pdf", "minutes.pdf", "notes.docx")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "What was found" in html and "sheet1.pdf" in html
    assert "minutes.pdf is not a scan" in html and "notes.docx is not a scan" in html
    assert html.count("Saved") >= 4
    assert "1 unclear box to check" not in html and "2 unclear boxes to check" in html
    person = paper_participant(app, paper, 1)
    assert person["entered_by"] == user_id(app, "fay")
    # The page's script sends one file at a time and gets back just its results.
    response = upload(fay, paper, "sheet1-page1.jpg",
                      headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.headers["X-Scan-Results"] == "1"
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "Already imported: nothing changed" in fragment
    # Nothing chosen: said so, nothing read.
    response = fay.post(f"/workshops/{paper.workshop_id}/scans", {},
                        content_type="multipart/form-data")
    assert response.status_code == 303
    assert "Choose the scanned files" in fay.followed


def test_the_upload_alone_takes_large_files(app, client, paper):
    fay = signed_in(app, "fay")
    big = io.BytesIO(b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024))
    response = fay.post(f"/workshops/{paper.workshop_id}/scans", {"scans": [(big, "big.pdf")]},
                        content_type="multipart/form-data")
    assert response.status_code == 200
    assert "big.pdf is damaged or cut short" in response.get_data(as_text=True)
    response = fay.post(f"/workshops/{paper.workshop_id}/participants",
                        {"language": "en", "padding": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    # The form's token is still checked, after the limit is raised.
    forged = app.test_client()
    with forged.session_transaction() as session:
        session["user_id"] = user_id(app, "fay")
    response = forged.post(f"/workshops/{paper.workshop_id}/scans", data={
        "scans": [(io.BytesIO((paper.files / "sheet1-page1.jpg").read_bytes()), "p.jpg")]},
        content_type="multipart/form-data")
    assert response.status_code == 400
    app.config["SCAN_UPLOAD_MAX_BYTES"] = 1024 * 1024
    response = upload(fay, paper, "sheet1.pdf")
    assert response.status_code == 413
    assert rows(app, "select count(*) as n from scan_files")[0]["n"] == 0


def test_review_shows_the_crop_and_takes_one_key_decisions(app, client, paper):
    fay = signed_in(app, "fay")
    upload(fay, paper, "sheet1.pdf")
    url = f"/workshops/{paper.workshop_id}/scans/review"
    html = fay.get(url).get_data(as_text=True)
    idea_key = questions(paper.layout.page(1, 1))[1]
    (item,) = rows(app, "select * from review_items where kind = 'idea'")
    assert f'/scans/images/{item["crop_sha256"]}' in html
    assert "0 of 2 checked" in html
    printed = json.loads(rows(app, "select text from ideas where id = ?",
                              [idea_key[1]])[0]["text"])["en"]
    assert printed in html  # the idea as printed on the form
    for key, label in (("1", "Agree"), ("2", "Disagree"), ("3", "Not sure"),
                       ("0", "No box is marked"), ("x", "I cannot tell")):
        assert re.search(rf'data-key="{key}" aria-keyshortcuts="{key}"[^>]*><kbd>{key}</kbd> '
                         rf"{label}", html), key
    assert "Keyboard shortcuts" in html and "scans.js" in html
    image = fay.get(f"/scans/images/{item['crop_sha256']}")
    assert image.status_code == 200 and image.mimetype == "image/png"
    response = fay.post(f"{url}/{item['id']}", {"decision": "agree"})
    assert response.status_code == 303
    person = paper_participant(app, paper, 1)
    (vote,) = rows(app, "select * from contributions where participant_id = ? and idea_id = ?",
                   [person["id"], idea_key[1]])
    assert vote["vote"] == "agree" and vote["entered_by"] == user_id(app, "fay")
    assert vote["scan_page_id"] == item["page_id"]
    assert vote["scan_region"] == f"box:idea:{idea_key[1]}:agree"
    # The next item loads: the age question, its options in the form's words.
    assert "1 of 2 checked" in fay.followed and "18 to 24" in fay.followed
    (age,) = rows(app, "select id from review_items where kind = 'demographic'")
    fay.post(f"{url}/{age['id']}", {"decision": "25_34"})
    assert paper_participant(app, paper, 1)["age_band"] == "25_34"
    assert "Nothing to check" in fay.followed
    # A decision is taken once.
    fay.post(f"{url}/{age['id']}", {"decision": "none"})
    assert "already decided" in fay.followed


def test_transcription_makes_an_idea_with_its_provenance(app, client, paper):
    fay = signed_in(app, "fay")
    upload(fay, paper, "sheet1.pdf", "polish.jpg")
    url = f"/workshops/{paper.workshop_id}/scans/transcribe"
    html = fay.get(url).get_data(as_text=True)
    first, second = rows(app, "select * from transcriptions order by created_at")
    assert "1 of 2" in html and f'/scans/images/{first["crop_sha256"]}' in html
    assert '<textarea id="text" name="text"' in html and " required" not in html.split(
        '<textarea id="text"')[1].split(">")[0]
    assert re.search(r'<option value="en" lang="en" selected>', html)
    assert "Ctrl+Enter" in html and "I cannot read it" in html
    # Saving nothing is refused, and nothing is saved.
    response = fay.post(f"{url}/{first['id']}", {"action": "save", "text": "  "})
    assert response.status_code == 400
    assert rows(app, "select count(*) as n from contributions where kind = 'idea'"
                     " and channel = 'paper'")[0]["n"] == 0
    fay.post(f"{url}/{first['id']}", {"action": "save", "text": "A bus to the clinic",
                                      "language": "en", "translation": "Autobus do kliniki",
                                      "translation_language": "pl"})
    (idea,) = rows(app, "select * from contributions where kind = 'idea' and channel = 'paper'")
    fay_id = user_id(app, "fay")
    assert idea["text"] == "A bus to the clinic" and idea["translation_language"] == "pl"
    assert idea["participant_id"] == first["participant_id"]
    assert idea["prompt_id"] == first["prompt_id"]
    assert idea["scan_page_id"] == first["page_id"]
    assert idea["scan_region"] == f"area:{first['area_index']}:{first['prompt_id']}"
    assert idea["transcribed_by"] == fay_id and idea["entered_by"] == fay_id
    assert rows(app, "select status, contribution_id from transcriptions where id = ?",
                [first["id"]]) == [{"status": "done", "contribution_id": idea["id"]}]
    # The next one: 2 of 2, from the Polish form, so Polish is chosen.
    assert "2 of 2" in fay.followed
    assert re.search(r'<option value="pl" lang="pl" selected>', fay.followed)
    fay.post(f"{url}/{second['id']}", {"action": "illegible"})
    assert rows(app, "select status from transcriptions where id = ?",
                [second["id"]]) == [{"status": "illegible"}]
    assert rows(app, "select count(*) as n from contributions where kind = 'idea'"
                     " and channel = 'paper'")[0]["n"] == 1
    assert "Nothing to type" in fay.followed


def test_pages_that_need_a_person(app, client, paper):
    fay = signed_in(app, "fay")
    upload(fay, paper, "sheet2-page1.jpg", "sheet2-page2.tif", "letter.jpg", "other-form.jpg")
    url = f"/workshops/{paper.workshop_id}/scans/attention"
    html = fay.get(url).get_data(as_text=True)
    pages = {r["reason_code"]: r for r in rows(
        app, "select * from scan_pages where state = 'attention'")}
    assert set(pages) == {"no_consent", "unidentified", "unknown_form"}
    # Each page's image is made from the kept original when the page asks for it.
    for page in pages.values():
        assert page["image_sha256"] is None
        assert f'/scans/pages/{page["id"]}/image' in html
        image = fay.get(f'/scans/pages/{page["id"]}/image')
        assert image.status_code == 200 and image.mimetype == "image/jpeg"
        with Image.open(io.BytesIO(image.data)) as shown:
            assert max(shown.size) <= 1600 and shown.mode == "L"
    made = {r["id"]: r["image_sha256"] for r in rows(
        app, "select id, image_sha256 from scan_pages where state = 'attention'")}
    assert all(made.values())
    letter = pages["unidentified"]["id"]  # shown again: the same image, kept
    assert fay.get(f"/scans/pages/{letter}/image").data == (
        Path(app.instance_path) / "media" / made[letter]).read_bytes()
    assert "The consent box on this sheet is not ticked" in html
    assert "1 other page of this sheet waits with it." in html
    assert "No page code could be read" in html and "not printed on this laptop" in html
    # The person looks at the paper: consent is marked after all.
    fay.post(f"{url}/{pages['no_consent']['id']}", {"action": "consent"})
    person = paper_participant(app, paper, 2)
    assert person["consent"] == 1 and person["entered_by"] == user_id(app, "fay")
    assert rows(app, "select count(*) as n from contributions where participant_id = ?",
                [person["id"]])[0]["n"] == 8
    # A page without a readable code, named from what is printed on it, is read by eye.
    fay.post(f"{url}/{pages['unidentified']['id']}", {"action": "by_eye", "form_id": "nope",
                                                       "serial": "2", "page": "3"})
    assert "No form NOPE was printed on this laptop" in fay.followed
    fay.post(f"{url}/{pages['unidentified']['id']}", {"action": "by_eye",
                                                       "form_id": paper.form_id.lower(),
                                                       "serial": "2", "page": "3"})
    items = rows(app, "select * from review_items where page_id = ?",
                 [pages["unidentified"]["id"]])
    assert len(items) == len(questions(paper.layout.page(2, 3)))
    assert all(i["whole_page"] == 1 for i in items)
    review = fay.get(f"/workshops/{paper.workshop_id}/scans/review").get_data(as_text=True)
    assert "The machine could not read this page" in review
    # Set aside: kept, not listed.
    fay.post(f"{url}/{pages['unknown_form']['id']}", {"action": "ignore"})
    assert rows(app, "select state from scan_pages where id = ?",
                [pages["unknown_form"]["id"]]) == [{"state": "ignored"}]
    assert "No page needs a person." in fay.get(url).get_data(as_text=True)


def test_pages_imported_without_a_workshop_are_for_coordinators(app, client, runner, paper):
    result = runner.invoke(args=["scans", "import", str(paper.files / "polish.jpg")])
    assert result.exit_code == 0
    cora = signed_in(app, "cora")
    html = cora.get("/scans/unassigned").get_data(as_text=True)
    (page,) = rows(app, "select * from scan_pages")
    assert "printed for a conversation, not a workshop" in html
    assert f'/scans/pages/{page["id"]}/image' in html
    assert cora.get(f"/scans/pages/{page['id']}/image").status_code == 200
    (made,) = rows(app, "select image_sha256 from scan_pages")
    assert cora.get(f"/scans/images/{made['image_sha256']}").status_code == 200
    fay = signed_in(app, "fay")
    assert fay.get("/scans/unassigned").status_code == 403
    assert fay.get(f"/scans/pages/{page['id']}/image").status_code == 404
    assert fay.get(f"/scans/images/{made['image_sha256']}").status_code == 404
    cora.post(f"/scans/unassigned/{page['id']}", {"action": "workshop",
                                                  "workshop_id": paper.workshop_id})
    person = paper_participant(app, paper, 1, form_id=paper.polish_form_id)
    assert person["language"] == "pl" and person["workshop_id"] == paper.workshop_id


def test_facilitators_of_other_workshops_see_nothing(app, client, paper):
    fay = signed_in(app, "fay")
    upload(fay, paper, "sheet1.pdf", "letter.jpg")
    finn = signed_in(app, "finn")
    base = f"/workshops/{paper.workshop_id}/scans"
    item = rows(app, "select id from review_items")[0]["id"]
    transcription = rows(app, "select id from transcriptions")[0]["id"]
    page = rows(app, "select id from scan_pages where state = 'attention'")[0]["id"]
    fay.get(f"{base}/review")  # makes the first unclear question's crop
    images = [r["sha256"] for r in rows(app, "select image_sha256 as sha256 from scan_pages"
                                             " union select crop_sha256 from review_items"
                                             " union select crop_sha256 from transcriptions")
              if r["sha256"]]
    assert len(images) == 2  # the crop of the question shown, and of the writing
    pages = [f"/scans/pages/{r['id']}/image" for r in rows(
        app, "select id from scan_pages where reading != 'blank'")]
    before = rows(app, "select * from contributions")
    for url in (base, f"{base}/review", f"{base}/transcribe", f"{base}/attention",
                *[f"/scans/images/{sha}" for sha in images], *pages):
        assert finn.get(url).status_code == 404, url
        assert fay.get(url).status_code == 200, url
    for url, data in ((f"{base}/review/{item}", {"decision": "agree"}),
                      (f"{base}/transcribe/{transcription}", {"text": "Mine now"}),
                      (f"{base}/attention/{page}", {"action": "ignore"})):
        assert finn.post(url, data).status_code == 404, url
    assert upload(finn, paper, "sheet1-page2-again.jpg").status_code == 404
    assert rows(app, "select * from contributions") == before
    assert rows(app, "select count(*) as n from scan_pages where state = 'ignored'") == [{"n": 0}]
    # A coordinator sees every workshop's scans.
    cora = signed_in(app, "cora")
    assert cora.get(f"{base}/review").status_code == 200
    assert cora.get(f"/scans/images/{images[0]}").status_code == 200


@pytest.mark.browser
def test_the_pages_by_keyboard_in_a_browser(paper, tmp_path):
    """Upload with the page's progress, answer unclear boxes with one key each, type a
    handwritten answer over two lines and save it with Ctrl+Enter; WCAG 2.2 AA throughout."""
    from browser_support import Server, check_accessibility, chromium, shared, signed_in_context

    instance = shutil.copytree(paper.instance, tmp_path / "instance")
    base = f"/workshops/{paper.workshop_id}/scans"
    with Server(instance) as server, shared("browser", chromium) as browser:
        context = signed_in_context(browser, server, "fay", viewport={"width": 1280,
                                                                      "height": 900})
        page = context.new_page()
        page.goto(server.url + base)
        check_accessibility(page, "the scanned forms page")
        page.set_input_files("#scans", [paper.files / "sheet1.pdf", paper.files / "minutes.pdf",
                                        paper.files / "letter.jpg"])
        page.focus("button[type=submit]:has-text('Read the scans')")
        page.keyboard.press("Enter")
        page.wait_for_selector("#upload-progress-text:has-text('Finished')", timeout=60_000)
        results = page.inner_text("#upload-results")
        assert "minutes.pdf is not a scan" in results and "sheet1.pdf" in results
        assert page.evaluate("document.activeElement.id") == "results-heading"
        assert "2 unclear boxes to check" in page.inner_text("#scan-summary")
        check_accessibility(page, "the scanned forms page with results")

        page.goto(server.url + base + "/review")
        check_accessibility(page, "the review page")
        with page.expect_navigation():
            page.keyboard.press("1")
        assert "1 of 2 checked" in page.inner_text("main")
        with page.expect_navigation():
            page.keyboard.press("x")
        assert "Nothing to check" in page.inner_text("main")

        page.goto(server.url + base + "/transcribe")
        check_accessibility(page, "the transcription page")
        assert page.evaluate("document.activeElement.id") == "text"
        page.keyboard.type("Buses")
        page.keyboard.press("Enter")  # a new line, not a save
        page.keyboard.type("to the clinic")
        assert urlsplit(page.url).path == base + "/transcribe"
        with page.expect_navigation():
            page.keyboard.press("Control+Enter")
        saved = server.db().execute("select text, transcribed_by from contributions"
                                    " where kind = 'idea' and channel = 'paper'").fetchall()
        assert [tuple(r) for r in saved] == [("Buses\nto the clinic",
                                              server.db().execute(
                                                  "select id from users where username = 'fay'"
                                              ).fetchone()[0])]

        page.goto(server.url + base + "/attention")
        check_accessibility(page, "the needs-attention page")
        assert "No page code could be read" in page.inner_text("main")
        context.close()
