"""Printing a workshop's paper forms from engage: the command, the page, and what ends up
on paper — the workshop's own ideas, in the form's language, with codes that read back."""

import json

import pytest
from conftest import make_user, query, sign_in
from paper_support import decode_qr, normalise, page_images, page_texts

from paper_forms import Layout, parse_payload


@pytest.mark.parametrize("lang", ["en", "pl", "ur"])
def test_forms_print_command_writes_pdf_layout_and_record(app, runner, sample, tmp_path, lang):
    out = tmp_path / "forms.pdf"
    result = runner.invoke(args=[
        "forms", "print", "--workshop", sample["workshop"]["id"], "--lang", lang,
        "--variant", "standard", "--sheets", "3", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["serials"] == [1, 2, 3]
    layout = Layout.read(tmp_path / "forms.layout.json")
    assert layout.form_id == printed["form_id"] and layout.language == lang
    (row,) = query(app, "select * from forms")
    assert row["workshop_id"] == sample["workshop"]["id"] and row["sheets"] == 3
    assert json.loads(row["layout"])["form_id"] == printed["form_id"]
    # Every page's code names this form, its sheet and page.
    images = page_images(out, dpi=150)
    pages_per_sheet = len(images) // 3
    for index, image in enumerate(images):
        (payload,) = decode_qr(image)
        parsed = parse_payload(payload)
        assert parsed.form_id == printed["form_id"]
        assert (parsed.serial, parsed.page) == (index // pages_per_sheet + 1,
                                                 index % pages_per_sheet + 1)
    # The workshop's ideas are the boxes on the form.
    ideas = {r["id"] for r in query(app, "select id from ideas")}
    boxed = {box.idea_id for page in layout.sheet(1).pages for box in page.boxes
             if box.kind == "idea"}
    assert boxed == ideas


def test_the_printed_words_are_in_the_forms_language(app, runner, sample, tmp_path):
    out = tmp_path / "pl.pdf"
    runner.invoke(args=["forms", "print", "--workshop", sample["workshop"]["id"], "--lang", "pl",
                        "--sheets", "1", "--out", str(out)])
    text = normalise(" ".join(page_texts(out)))
    assert normalise("Wizyty powinny być dostępne wieczorami i w weekendy.") in text
    assert normalise("Zgadzam się") in text
    # An idea not yet translated into Polish is printed in English rather than left out.
    assert normalise("Therapists should come to community centres") in text


def test_forms_print_refuses_bad_requests_clearly(app, runner, sample, tmp_path):
    out = str(tmp_path / "x.pdf")
    cases = [
        (["--workshop", "nope"], "There is no workshop"),
        (["--conversation", "no-such-slug"], "There is no conversation"),
        (["--workshop", sample["workshop"]["id"], "--lang", "xx"], "not one of the options"),
        (["--workshop", sample["workshop"]["id"], "--sheets", "0"], "between 1 and 1000"),
    ]
    for args, message in cases:
        result = runner.invoke(args=["forms", "print", *args, "--out", out])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert query(app, "select count(*) as n from forms")[0]["n"] == 0
    assert not (tmp_path / "x.pdf").exists()


def test_forms_for_a_conversation_without_a_workshop(app, runner, sample, tmp_path):
    slug = query(app, "select slug from conversations")[0]["slug"]
    result = runner.invoke(args=["forms", "print", "--conversation", slug, "--variant",
                                 "easy-read", "--out", str(tmp_path / "e.pdf"), "--json"])
    assert result.exit_code == 0, result.output
    assert query(app, "select workshop_id, variant from forms")[0] == {
        "workshop_id": None, "variant": "easy-read"}


def test_facilitator_prints_and_downloads_from_the_page(app, client, sample):
    make_user(app, "fay", "facilitator")
    make_user(app, "finn", "facilitator")
    fay = sign_in(client, "fay")
    workshop = fay.post("/workshops/new", {
        "conversation_id": sample["conversation"]["id"], "title": "Day centre",
        "date": "2026-04-01", "postcode_district": "M14", "languages": ["en", "ur"]}).location
    page = workshop + "/forms"
    assert "Print paper forms" in fay.get(workshop).get_data(as_text=True)
    response = fay.post(page, {"language": "ur", "variant": "large-print", "sheets": "2",
                               "paper": "letter", "demographics": "1"})
    assert response.status_code == 302
    assert "is ready: 2 sheets" in fay.followed
    form_id = query(app, "select id from forms")[0]["id"]
    download = fay.get(f"{page}/{form_id}.pdf")
    assert download.status_code == 200
    assert download.data.startswith(b"%PDF")
    assert fay.get(f"{page}/{form_id}.layout.json").get_json()["form_id"] == form_id
    finn = sign_in(app.test_client(), "finn")
    assert finn.get(f"{page}/{form_id}.pdf").status_code == 404
    refused = fay.post(page, {"language": "ur", "variant": "poster", "sheets": "2"})
    assert refused.status_code == 400
    assert query(app, "select count(*) as n from forms")[0]["n"] == 1
