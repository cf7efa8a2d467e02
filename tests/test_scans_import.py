"""Scans into contributions: forms printed by engage, filled in and scanned (synthetic, from
scan_support), imported with ``engage scans import``. Each sheet becomes one paper
participant with consent, votes, demographics and exposure; nothing is saved without
consent; the same file or page again changes nothing; bad files are refused one by one.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import PASSWORD
from PIL import Image, ImageDraw
from scan_support import Printed, jpeg, make_scan, print_form, write_image_pdf

from engage import create_app
from engage.db import get_db
from paper_forms import Layout

SCAN_TABLES = ("scan_files", "scan_sheets", "scan_pages", "review_items", "transcriptions",
               "participants", "contributions", "exposures", "media")


# -- filling in the project's own forms -------------------------------------------------------


def key_of(box) -> tuple[str, str]:
    if box.kind == "idea":
        return "idea", box.idea_id
    if box.kind == "demographic":
        return "demographic", box.question_id
    return "consent", "consent"


def value_of(box) -> str:
    return box.answer if box.kind == "idea" else box.option_id if box.kind == "demographic" \
        else "given"


def questions(page_layout) -> list[tuple[str, str]]:
    out = []
    for box in page_layout.boxes:
        if key_of(box) not in out:
            out.append(key_of(box))
    return out


def kinds_for(page_layout, marks: dict) -> list[str]:
    """The mark drawn in each box: marks maps (kind, key) to {value: 'tick'|'half'|...}."""
    return [marks.get(key_of(b), {}).get(value_of(b), "blank") for b in page_layout.boxes]


def options(page_layout, key) -> list[str]:
    return [value_of(b) for b in page_layout.boxes if key_of(b) == key]


@dataclass
class Sheet:
    """What one sheet says, page by page: (kind, key) -> (value, how it is marked)."""

    serial: int
    answers: dict = field(default_factory=dict)
    written: dict = field(default_factory=dict)  # page -> [bool per writing area]


def fill(printed: Printed, serial: int, seed: int, consent: str = "tick", unclear=()):
    """Marks for every question of a sheet, clear except the `unclear` ones (half
    filled); ideas get agree, disagree, unsure in turn; every demographic question its
    second option (the 'prefer not to say' box for sex). Returns (Sheet, kinds per page)."""
    rng = random.Random(seed)
    sheet = Sheet(serial)
    kinds = {}
    for page in printed.layout.sheet(serial).pages:
        marks = {}
        for n, key in enumerate(questions(page)):
            if key[0] == "consent":
                if consent != "blank":
                    marks[key] = {"given": consent}
                sheet.answers[key] = "given" if consent != "blank" and consent != "half" \
                    else ("uncertain" if consent == "half" else None)
                continue
            values = options(page, key)
            if key[0] == "idea":
                value = ("agree", "disagree", "unsure")[(n + serial) % 3]
            elif key[1] == "sex":
                value = "prefer_not_to_say"
            else:
                value = values[1]
            mark = "half" if key in unclear else rng.choice(("tick", "cross", "fill"))
            marks[key] = {value: mark}
            sheet.answers[key] = "uncertain" if key in unclear else value
        kinds[page.page] = kinds_for(page, marks)
        sheet.written[page.page] = [i == 0 for i, _ in enumerate(page.areas)]
    return sheet, kinds


def scan_jpeg(printed, serial, page, seed, kinds, written, **options) -> bytes:
    options = {"dpi": 150, "how": "scanner", "turns": 0, "colour": False, **options}
    scan = make_scan(printed, serial, page, seed, kinds=kinds, written=written, **options)
    return jpeg(scan.image, 85)


def image_pdf(path: Path, jpegs: list[bytes]) -> Path:
    pages = []
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as image:
            pages.append((data, image.width, image.height, 150, True))
    return write_image_pdf(path, pages)


def tiff(path: Path, jpegs: list[bytes]) -> Path:
    images = [Image.open(io.BytesIO(d)).convert("L") for d in jpegs]
    images[0].save(path, "TIFF", save_all=True, append_images=images[1:], compression="tiff_lzw",
                   dpi=(150, 150))
    return path


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height pixels, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def unreadable_page() -> bytes:
    """A page with writing on it but no code: a letter that slipped into the pile."""
    image = Image.new("L", (1240, 1754), 240)
    draw = ImageDraw.Draw(image)
    rng = random.Random(3)
    for row in range(12):
        y = 200 + row * 90
        draw.line([(150 + rng.randint(0, 40), y), (1000 + rng.randint(0, 80), y + 6)],
                  fill=40, width=4)
    return jpeg(image, 85)


# -- a printed workshop, and its scans, made once ---------------------------------------------


@dataclass
class Paper:
    instance: Path
    files: Path
    workshop_id: str
    conversation_id: str
    form_id: str
    layout: Layout
    polish_form_id: str
    sheets: dict


def _close_pools(app) -> None:
    """Close the app's pooled connections, so the database file is whole on disk."""
    for pool in app.extensions.get("engage.db_pools", {}).values():
        while pool:
            pool.pop().close()


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> Paper:
    from paper_support import sample_spec

    from engage.data import users
    from engage.data.demo import load_sample
    from engage.data.forms import print_forms
    from engage.data.workshops import add_facilitator

    base = tmp_path_factory.mktemp("paper")
    files = base / "files"
    files.mkdir()
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(base / "instance"),
                      "SECRET_KEY": "test-secret-key"})
    with app.test_request_context():
        sample = load_sample(None)
        # Accounts for the pages' tests, made once: hashing a password takes a second.
        for name, role in (("fay", "facilitator"), ("finn", "facilitator"),
                           ("cora", "coordinator")):
            users.create_user(name, PASSWORD, role)
        add_facilitator(sample["workshop"]["id"], "fay")
        form = print_forms(conversation_id=sample["conversation"]["id"],
                           workshop_id=sample["workshop"]["id"], lang="en", variant="standard",
                           sheets=3, created_by=None)
        polish = print_forms(conversation_id=sample["conversation"]["id"], workshop_id=None,
                             lang="pl", variant="standard", sheets=1, demographics=False,
                             created_by=None)
    _close_pools(app)
    printed = Printed(Path(form["pdf_file"]), Layout.from_json(form["layout"]))
    sheets = {}

    # Sheet 1: consent, every question answered, one idea and one demographic unclear;
    # the whole sheet as a scanner's PDF, page 1 also on its own, and page 2 rescanned.
    layout = printed.layout
    first_idea = questions(layout.page(1, 1))[1]
    unclear = (first_idea, ("demographic", "age_band"))
    sheet, kinds = fill(printed, 1, seed=1, unclear=unclear)
    pages = [scan_jpeg(printed, 1, p, 10 + p, kinds[p], sheet.written[p]) for p in kinds]
    image_pdf(files / "sheet1.pdf", pages)
    (files / "sheet1-page1.jpg").write_bytes(pages[0])
    (files / "sheet1-page2-again.jpg").write_bytes(
        scan_jpeg(printed, 1, 2, 99, kinds[2], sheet.written[2]))
    sheets[1] = sheet

    # Sheet 2: the consent box left empty; page 1 a JPEG, page 2 in a TIFF.
    sheet, kinds = fill(printed, 2, seed=2, consent="blank")
    (files / "sheet2-page1.jpg").write_bytes(
        scan_jpeg(printed, 2, 1, 21, kinds[1], sheet.written[1]))
    tiff(files / "sheet2-page2.tif", [scan_jpeg(printed, 2, 2, 22, kinds[2], sheet.written[2])])
    sheets[2] = sheet

    # Sheet 3: the consent box half filled (a person decides); page 1 photographed.
    sheet, kinds = fill(printed, 3, seed=3, consent="half")
    (files / "sheet3-page1.jpg").write_bytes(
        scan_jpeg(printed, 3, 1, 31, kinds[1], [True, True, False], how="phone", dpi=200))
    (files / "sheet3-page2.jpg").write_bytes(
        scan_jpeg(printed, 3, 2, 32, kinds[2], sheet.written[2]))
    sheet.written[1] = [True, True, False]
    sheets[3] = sheet

    # The Polish form, printed for the conversation only.
    polish_printed = Printed(Path(polish["pdf_file"]), Layout.from_json(polish["layout"]))
    sheet, kinds = fill(polish_printed, 1, seed=4)
    (files / "polish.jpg").write_bytes(
        scan_jpeg(polish_printed, 1, 1, 41, kinds[1], sheet.written[1]))
    sheets["pl"] = sheet

    # Pages and files that must not become contributions.
    other = print_form(sample_spec("en", form_id="ELSEWHERE"), base, sheets=1)
    (files / "other-form.jpg").write_bytes(scan_jpeg(other, 1, 1, 51, None, None))
    (files / "letter.jpg").write_bytes(unreadable_page())
    (files / "empty.jpg").write_bytes(b"")
    (files / "cut.jpg").write_bytes(pages[1][: len(pages[1]) // 2])
    image_pdf(files / "one-page-cut.pdf", [pages[2], pages[1][: len(pages[1]) // 2]])
    (files / "minutes.pdf").write_text("Minutes of the steering group, 3 March.\n")
    (files / "notes.docx").write_bytes(b"PK\x03\x04 a word processor's file")
    (files / "bomb.png").write_bytes(png_bomb(30_000, 30_000))
    return Paper(base / "instance", files, sample["workshop"]["id"],
                 sample["conversation"]["id"], form["id"], printed.layout, polish["id"], sheets)


@pytest.fixture
def app(paper, tmp_path):
    """A copy of the printed workshop's instance, for this test alone."""
    shutil.copytree(paper.instance, tmp_path / "instance")
    return create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                       "SECRET_KEY": "test-secret-key"})


def run_import(runner, *args):
    result = runner.invoke(args=["scans", "import", *map(str, args), "--json"])
    return result, json.loads(result.output) if result.output.startswith("{") else None


def snapshot(app) -> dict:
    with app.app_context():
        db = get_db()
        return {t: sorted(map(tuple, db.execute(f"select * from {t}"))) for t in SCAN_TABLES}


def rows(app, sql, params=()):
    with app.app_context():
        return list(get_db().query(sql, params))


def paper_participant(app, paper, serial, form_id=None):
    found = rows(app, "select participant_id from scan_sheets where form_id = ? and serial = ?",
                 [form_id or paper.form_id, serial])
    if not found or not found[0]["participant_id"]:
        return None
    return rows(app, "select * from participants p where id = ? and not exists (select 1 from"
                     " participants r where r.replaces = p.revision_id)",
                [found[0]["participant_id"]])[0]


# -- the tests ---------------------------------------------------------------------------------


def test_a_sheet_becomes_a_participant_with_consent_votes_demographics_and_exposure(
        app, runner, paper):
    result, report = run_import(runner, paper.files / "sheet1.pdf")
    assert result.exit_code == 0, result.output
    (entry,) = report["files"]
    assert entry["file"] == "sheet1.pdf" and entry["status"] == "imported"
    assert [(p["page_index"], p["form_id"], p["serial"], p["page"], p["status"])
            for p in entry["pages"]] == [(i, paper.form_id, 1, i + 1, "imported")
                                         for i in range(4)]
    first = entry["pages"][0]
    page1 = paper.layout.page(1, 1)
    assert first["boxes"] == {"marked": 3, "blank": len(page1.boxes) - 4, "uncertain": 1}
    assert first["areas_queued"] == 1
    assert report["totals"]["imported"] == 4 and report["totals"]["file_errors"] == 0

    sheet = paper.sheets[1]
    person = paper_participant(app, paper, 1)
    assert person["channel"] == "paper" and person["consent"] == 1
    assert person["language"] == "en" and person["workshop_id"] == paper.workshop_id
    votes = {r["idea_id"]: r for r in rows(
        app, "select * from contributions where participant_id = ? and kind = 'vote'",
        [person["id"]])}
    expected = {key: value for (kind, key), value in sheet.answers.items()
                if kind == "idea" and value != "uncertain"}
    assert {i: v["vote"] for i, v in votes.items()} == expected
    page_ids = {p["page"]: p["page_id"] for p in entry["pages"]}
    for idea_id, vote in votes.items():
        assert vote["channel"] == "paper"
        assert vote["scan_page_id"] in page_ids.values()
        assert vote["scan_region"] == f"box:idea:{idea_id}:{vote['vote']}"
    # Demographics: option ids are engage's values; 'prefer not to say' is engage's word.
    assert person["disability"] == "yes_a_little" and person["sex"] == "prefer_not"
    assert person["ethnic_group"] == "asian_chinese" and person["role"] == "carer"
    assert person["age_band"] is None  # unclear: waits for a person
    # Exposure: every idea printed on the sheet.
    exposed = rows(app, "select idea_id, channel from exposures where participant_id = ?",
                   [person["id"]])
    assert {r["idea_id"] for r in exposed} == set(paper.layout.sheet(1).idea_order)
    assert {r["channel"] for r in exposed} == {"paper"}
    # The unclear boxes wait for a person, each with a crop of its question made from the
    # kept original when first shown; the writing for transcription, with a crop of the
    # area made at import. The images are media for the hub. No page preview was made.
    items = rows(app, "select id, kind, key, crop_sha256, whole_page from review_items")
    assert {(i["kind"], i["key"]) for i in items} == {questions(page1)[1],
                                                      ("demographic", "age_band")}
    assert all(i["whole_page"] == 0 and i["crop_sha256"] is None for i in items)
    (queued,) = rows(app, "select * from transcriptions")
    assert queued["status"] == "queued" and queued["prompt_id"] == page1.areas[0].prompt_id
    assert queued["participant_id"] == person["id"]
    assert rows(app, "select count(*) as n from scan_pages where image_sha256 is not null") \
        == [{"n": 0}]
    with app.test_request_context():
        from engage.data import scans

        for item in items:
            shown = scans.review_image(scans.get_review_item(paper.workshop_id, item["id"]))
            assert shown["crop_sha256"] and not shown["whole_page"]
            again = scans.review_image(scans.get_review_item(paper.workshop_id, item["id"]))
            assert again["crop_sha256"] == shown["crop_sha256"]  # made once, then kept
    items = rows(app, "select kind, key, crop_sha256, whole_page from review_items")
    media = {r["sha256"] for r in rows(app, "select sha256 from media")}
    assert {i["crop_sha256"] for i in items} | {queued["crop_sha256"]} <= media
    for sha in media:
        assert (Path(app.instance_path) / "media" / sha).is_file()
    # The original is kept, named by its content.
    (kept,) = rows(app, "select * from scan_files")
    assert kept["original_name"] == "sheet1.pdf" and kept["completed_at"]
    stored = Path(app.instance_path) / kept["stored_path"]
    assert stored.read_bytes() == (paper.files / "sheet1.pdf").read_bytes()
    assert stored.name == f"{kept['sha256']}.pdf"
    # The export names the scan, the page, the sheet and the box.
    out = Path(app.instance_path).parent / "export"
    assert runner.invoke(args=["export", "--out", str(out)]).exit_code == 0
    exported = [r for r in csv.DictReader((out / "contributions.csv").open(encoding="utf-8"))
                if r["channel"] == "paper"]
    assert len(exported) == len(votes)
    assert {(r["scan_file_sha256"], r["scan_form_id"], r["scan_sheet"]) for r in exported} == {
        (kept["sha256"], paper.form_id, "1")}
    assert all(r["scan_region"].startswith("box:idea:") and r["scan_file_page"] for r in exported)
    people = list(csv.DictReader((out / "participants.csv").open(encoding="utf-8")))
    assert {(r["paper_form_id"], r["paper_sheet"]) for r in people if r["channel"] == "paper"} \
        == {(paper.form_id, "1")}
    # The sync log carries the new rows.
    logged = {r["tbl"] for r in rows(app, "select distinct tbl from changes")}
    assert {"scan_files", "scan_sheets", "scan_pages", "review_items", "transcriptions",
            "media"} <= logged


def test_the_same_file_or_page_again_changes_nothing_and_a_changed_page_waits(
        app, runner, paper):
    run_import(runner, paper.files / "sheet1.pdf")
    before = snapshot(app)
    result, report = run_import(runner, paper.files / "sheet1.pdf")
    assert result.exit_code == 0
    assert report["files"][0]["status"] == "already_imported"
    # The same page, from another file: recognised by what it shows.
    result, report = run_import(runner, paper.files / "sheet1-page1.jpg")
    assert [p["status"] for p in report["files"][0]["pages"]] == ["duplicate"]
    assert snapshot(app) == before
    # Sheet 1 page 2 scanned again, differently: kept for a person, nothing overwritten.
    result, report = run_import(runner, paper.files / "sheet1-page2-again.jpg")
    (page,) = report["files"][0]["pages"]
    assert (page["status"], page["reason_code"]) == ("attention", "changed")
    after = snapshot(app)
    for table in ("participants", "contributions", "exposures", "review_items",
                  "transcriptions", "scan_sheets"):
        assert after[table] == before[table], table


def test_bad_files_are_refused_one_by_one_and_the_rest_is_imported(app, runner, paper):
    files = paper.files
    result, report = run_import(
        runner, files / "empty.jpg", files / "cut.jpg", files / "minutes.pdf",
        files / "bomb.png", files / "other-form.jpg", files / "letter.jpg",
        files / "sheet2-page1.jpg", files / "sheet2-page2.tif", files / "one-page-cut.pdf")
    assert result.exit_code == 1  # some files could not be read
    by_name = {e["file"]: e for e in report["files"]}
    expected = {"empty.jpg": ("EmptyFile", "is empty"),
                "cut.jpg": ("DamagedFile", "damaged or cut short"),
                "minutes.pdf": ("NotAScan", "is not a scan"),
                "bomb.png": ("TooLarge", "far larger than any scanned page")}
    for name, (error_type, words) in expected.items():
        entry = by_name[name]
        assert entry["status"] == "error" and entry["error_type"] == error_type, entry
        assert entry["error"].startswith(name) and words in entry["error"]
        assert entry["pages"] == []
    # Nothing of a refused file is kept: no row, no copy.
    kept = {r["original_name"] for r in rows(app, "select original_name from scan_files")}
    assert kept.isdisjoint(expected)
    assert len(list((Path(app.instance_path) / "scans").glob("*.*"))) == len(kept) == 5
    # A file with one page that cannot be decoded: the rest of it is read, and that
    # page kept for a person (there is no image of it to show).
    assert [(p["page_index"], p["status"], p["reason_code"])
            for p in by_name["one-page-cut.pdf"]["pages"]] == [
        (0, "waiting", "consent_page_missing"), (1, "attention", "error")]
    # Pages a machine should not guess at wait for a person, with their image.
    def only_page(name):
        (page,) = by_name[name]["pages"]
        return page
    assert only_page("other-form.jpg")["reason_code"] == "unknown_form"
    assert only_page("letter.jpg")["reason_code"] == "unidentified"
    # No consent: nothing from the sheet is saved; its other page waits with it.
    assert (only_page("sheet2-page1.jpg")["status"],
            only_page("sheet2-page1.jpg")["reason_code"]) == ("attention", "no_consent")
    assert (only_page("sheet2-page2.tif")["status"],
            only_page("sheet2-page2.tif")["reason_code"]) == ("waiting", "no_consent")
    assert paper_participant(app, paper, 2) is None
    assert rows(app, "select count(*) as n from contributions where channel = 'paper'") == [
        {"n": 0}]
    assert rows(app, "select count(*) as n from transcriptions")[0]["n"] == 0
    attention = rows(app, "select * from scan_pages where state = 'attention'")
    assert sorted(r["reason_code"] for r in attention) == ["error", "no_consent",
                                                           "unidentified", "unknown_form"]
    with app.test_request_context():
        from engage.data import scans

        shown = {r["reason_code"]: scans.can_show(r) for r in attention}
        assert shown == {"error": False, "no_consent": True, "unidentified": True,
                         "unknown_form": True}
        # Made from the kept original when first shown (the page that could not be
        # decoded has none).
        for page in attention:
            made = scans.page_image(page["id"])
            assert bool(made) == shown[page["reason_code"]]
    # Images of a sheet without consent do not go to the hub.
    assert rows(app, "select count(*) as n from media")[0]["n"] == 0


def test_an_unclear_consent_box_waits_for_a_person(app, runner, paper):
    from engage.data import scans

    result, report = run_import(runner, paper.files / "sheet3-page2.jpg",
                                paper.files / "sheet3-page1.jpg")
    assert [p["reason_code"] for e in report["files"] for p in e["pages"]] == [
        "consent_page_missing", "consent_review"]
    assert paper_participant(app, paper, 3) is None
    (item,) = rows(app, "select * from review_items")
    assert item["kind"] == "consent"
    with app.test_request_context():
        scans.decide_review(paper.workshop_id, item["id"], "given", by=None)
    person = paper_participant(app, paper, 3)
    assert person["consent"] == 1
    states = {r["page"]: r["state"] for r in rows(app, "select page, state from scan_pages")}
    assert states == {1: "imported", 2: "imported"}
    assert rows(app, "select count(*) as n from contributions where participant_id = ?"
                     " and kind = 'vote'", [person["id"]])[0]["n"] == 8
    assert rows(app, "select count(*) as n from transcriptions")[0]["n"] == 2


def test_a_form_printed_for_a_conversation_needs_the_workshop(app, runner, paper):
    result, report = run_import(runner, paper.files / "polish.jpg")
    (page,) = report["files"][0]["pages"]
    assert (page["status"], page["reason_code"]) == ("attention", "no_workshop")
    assert rows(app, "select workshop_id from scan_pages") == [{"workshop_id": None}]
    result, report = run_import(runner, paper.files / "polish.jpg", "--workshop",
                                paper.workshop_id)
    (page,) = report["files"][0]["pages"]
    assert page["status"] == "imported"
    person = paper_participant(app, paper, 1, form_id=paper.polish_form_id)
    assert person["language"] == "pl" and person["workshop_id"] == paper.workshop_id
    result = runner.invoke(args=["scans", "import", str(paper.files / "polish.jpg"),
                                 "--workshop", "nope"])
    assert result.exit_code != 0 and "There is no workshop nope" in result.output


def test_a_batch_cut_short_keeps_what_was_confirmed_and_a_rerun_completes_it(app, paper):
    from engage.data import scans

    def cut_after_two(done, total, name):
        if done == 2:
            raise KeyboardInterrupt  # Ctrl+C, or the laptop's lid closed, half way

    with app.test_request_context(), pytest.raises(KeyboardInterrupt):
        scans.import_scan_files([paper.files / "sheet1.pdf"], progress=cut_after_two)
    assert [r["page_index"] for r in rows(app, "select page_index from scan_pages"
                                               " order by page_index")] == [0, 1]
    assert rows(app, "select completed_at from scan_files") == [{"completed_at": None}]
    with app.test_request_context():
        report = scans.import_scan_files([paper.files / "sheet1.pdf"])
    assert [p["status"] for p in report["files"][0]["pages"]] == [
        "already_imported", "already_imported", "imported", "imported"]
    assert rows(app, "select count(*) as n from scan_pages")[0]["n"] == 4
    assert rows(app, "select count(*) as n from participants where channel = 'paper'"
                     " and revision = 1")[0]["n"] == 1
    assert rows(app, "select completed_at is not null as done from scan_files") == [{"done": 1}]


def _hub_and_laptop_with_a_scan(tmp_path):
    """A hub, a laptop enrolled with it, a workshop there with one printed sheet, and a
    scan of that sheet filled in with its first idea's answer unclear (a review item)."""
    from sync_support import enrol_laptop, make_hub

    from engage.data.forms import print_forms
    from engage.data.workshops import create_workshop

    hub = make_hub(tmp_path / "hub")
    laptop = enrol_laptop(tmp_path / "laptop", hub, "Laptop A")
    with laptop.test_request_context():
        db = get_db()
        fay = db.execute("select id from users where username = 'fay'").fetchone()[0]
        conversation = db.execute("select id from conversations").fetchone()[0]
        workshop = create_workshop(conversation, title="Library", date="2026-05-01",
                                   postcode="LS6", tags="", languages=["en"], created_by=fay)
        form = print_forms(conversation_id=conversation, workshop_id=workshop["id"], lang="en",
                           variant="standard", sheets=1, demographics=False, created_by=fay)
    printed = Printed(Path(form["pdf_file"]), Layout.from_json(form["layout"]))
    first_idea = questions(printed.layout.page(1, 1))[1]
    sheet, kinds = fill(printed, 1, seed=7, unclear=(first_idea,))
    pdf = image_pdf(tmp_path / "sheet.pdf", [scan_jpeg(printed, 1, p, 70 + p, kinds[p],
                                                       sheet.written[p]) for p in kinds])
    return hub, laptop, fay, workshop, first_idea, kinds, pdf


def test_paper_contributions_reach_the_hub_with_their_page_and_crops(tmp_path):
    """The scan tables sync like the rest: the hub gets each page (but not what was read
    from it), the sheet, the queues, and the crops as media; a decision made later
    follows."""
    from sync_support import query, transport

    from engage.data import scans
    from engage.sync import laptop as laptop_sync

    hub, laptop, fay, workshop, first_idea, kinds, pdf = _hub_and_laptop_with_a_scan(tmp_path)
    with laptop.test_request_context():
        scans.import_scan_files([pdf], imported_by=fay)
        # The question's crop is made when the review first shows it: then it is media.
        scans.review_image(scans.next_review_item(workshop["id"]))
        laptop_sync.push(transport=transport(hub))
    votes = query(hub, "select * from contributions where channel = 'paper'")
    assert votes and all(v["scan_page_id"] and v["scan_region"] for v in votes)
    pages = query(hub, "select * from scan_pages")
    assert len(pages) == len(kinds) and all(p["result"] is None for p in pages)
    assert {v["scan_page_id"] for v in votes} <= {p["id"] for p in pages}
    (item,) = query(hub, "select * from review_items")
    crops = [r["sha256"] for r in query(hub, "select sha256 from media")]
    assert item["crop_sha256"] in crops
    for sha in crops:
        assert (tmp_path / "hub" / "media" / sha).is_file()
    assert query(hub, "select consent from scan_sheets") == [{"consent": "given"}]
    assert query(hub, "select count(*) as n from conflicts") == [{"n": 0}]
    with laptop.test_request_context():
        scans.decide_review(workshop["id"], item["id"], "disagree", by=fay)
        laptop_sync.push(transport=transport(hub))
    assert query(hub, "select decision from review_items") == [{"decision": "disagree"}]
    assert query(hub, "select vote from contributions where idea_id = ? and channel = 'paper'",
                 [first_idea[1]]) == [{"vote": "disagree"}]


def test_a_laptop_restored_from_a_backup_does_not_undo_a_review_the_hub_has(tmp_path):
    """A review decided after the backup reached the hub; the laptop restored from the
    backup still has the item waiting, undecided, and sends it. The hub keeps the
    decision and sets the older copy aside; every scan row says when it last changed."""
    from sync_support import copy_instance, make_app, query, transport

    from engage.data import scans
    from engage.sync import laptop as laptop_sync

    hub, laptop, fay, workshop, _, _, pdf = _hub_and_laptop_with_a_scan(tmp_path)
    with laptop.test_request_context():
        scans.import_scan_files([pdf], imported_by=fay)
        item = scans.next_review_item(workshop["id"])
    for table in SCAN_TABLES[:5]:  # those changed in place
        made = rows(laptop, f"select * from {table}")  # noqa: S608
        assert made or table == "transcriptions", table
        assert all(r["updated_at"] for r in made), table
    backup = copy_instance(tmp_path / "laptop", tmp_path / "laptop-backup")
    with laptop.test_request_context():
        scans.decide_review(workshop["id"], item["id"], "disagree", by=fay)
        laptop_sync.push(transport=transport(hub))
    decided = query(hub, "select decision, updated_at from review_items")
    assert decided[0]["decision"] == "disagree"

    restored = make_app(backup)
    with restored.test_request_context():
        laptop_sync.push(transport=transport(hub))
    assert query(hub, "select decision, updated_at from review_items") == decided
    older = query(hub, "select tbl, key, kind, incoming from conflicts")
    assert [(c["tbl"], c["key"], c["kind"]) for c in older] == [
        ("review_items", item["id"], "older")]
    assert json.loads(older[0]["incoming"])["decision"] is None


def _without_ids(report: dict) -> list:
    return [(entry["file"], entry["status"],
             [{k: v for k, v in page.items() if k != "page_id"} for page in entry["pages"]])
            for entry in report["files"]]


def _import_in_one_process_and_in_two_workers(paper, tmp_path, paths, **options):
    """The same import into two copies of the printed instance, read in this process and
    in two worker processes: each one's report and its rows counted per scan table."""
    from engage.data import scans

    reports, counts = [], []
    for workers in (1, 2):
        shutil.copytree(paper.instance, tmp_path / f"instance-{workers}")
        app = create_app({"TESTING": True, "SECRET_KEY": "test-secret-key",
                          "INSTANCE_PATH": str(tmp_path / f"instance-{workers}")})
        with app.app_context():
            reports.append(scans.import_scan_files(paths(workers), workers=workers, **options))
        counts.append({table: rows(app, f"select count(*) as n from {table}")[0]["n"]  # noqa: S608
                       for table in SCAN_TABLES})
        _close_pools(app)
    return reports, counts


def test_pages_read_in_worker_processes_are_stored_as_when_read_here(paper, tmp_path):
    """The same files, read in two worker processes or in this one: the same report, and
    the same rows but for their new ids and times (bad files and pages included)."""
    reports, counts = _import_in_one_process_and_in_two_workers(
        paper, tmp_path, lambda _workers: [paper.files], workshop_id=paper.workshop_id)
    assert _without_ids(reports[0]) == _without_ids(reports[1])
    assert counts[0] == counts[1] and counts[0]["contributions"] > 0
    assert reports[1]["totals"]["file_errors"] == 4  # empty, not a scan, a bomb, cut short


def test_reading_starts_before_the_last_file_is_hashed(paper, tmp_path, monkeypatch):
    """Files are hashed and checked as the reader asks for them, so the first pages are
    read and stored while later files still wait to be hashed."""
    from engage.data import scans

    events = []
    hash_file, store = scans.file_sha256, scans._store_batch

    def hashing(path):
        events.append(("hash", Path(path).name))
        return hash_file(path)

    def storing(run, batch):
        events.append(("store", len(batch)))
        return store(run, batch)

    monkeypatch.setattr(scans, "file_sha256", hashing)
    monkeypatch.setattr(scans, "_store_batch", storing)
    shutil.copytree(paper.instance, tmp_path / "instance")
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret-key",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    files = [paper.files / name for name in ("sheet1.pdf", "sheet2-page1.jpg",
                                             "sheet3-page2.jpg")]
    with app.app_context():
        report = scans.import_scan_files(files, workers=1)
    assert [entry["status"] for entry in report["files"]] == ["imported"] * 3
    assert events.index(("store", 1)) < events.index(("hash", "sheet3-page2.jpg"))


def test_the_same_file_twice_in_one_import_is_read_as_one_whatever_the_timing(paper, tmp_path):
    """A copy of a file in the same import (the same scans copied twice into a folder) is
    checked against what was stored before the import, as the first copy was: its pages
    are duplicates, reported alike whether the first copy's pages were stored by then or
    not (in worker processes they may not be)."""
    def copied_twice(workers):
        folder = tmp_path / f"scans-{workers}"
        folder.mkdir()
        for name in ("a.pdf", "b.pdf"):
            shutil.copy(paper.files / "sheet1.pdf", folder / name)
        for n in range(12):
            shutil.copy(paper.files / "sheet2-page1.jpg", folder / f"c{n:02}.jpg")
        return [folder]

    reports, counts = _import_in_one_process_and_in_two_workers(paper, tmp_path, copied_twice)
    assert _without_ids(reports[0]) == _without_ids(reports[1])
    assert counts[0] == counts[1]
    assert (counts[0]["scan_files"], counts[0]["scan_pages"]) == (2, 5)
    statuses = [(entry["file"], entry["status"], [p["status"] for p in entry["pages"]])
                for entry in reports[1]["files"]]
    assert statuses[:3] == [("a.pdf", "imported", ["imported"] * 4),
                            ("b.pdf", "already_imported", ["duplicate"] * 4),
                            ("c00.jpg", "imported", ["attention"])]
    assert statuses[3:] == [(f"c{n:02}.jpg", "already_imported", ["duplicate"])
                            for n in range(1, 12)]


def test_workers_only_for_batches_that_repay_starting_them():
    from engage.data.scans import MIN_PAGES_FOR_WORKERS, default_workers

    assert default_workers(1) == default_workers(MIN_PAGES_FOR_WORKERS - 1) == 1
    assert 1 <= default_workers(500) <= 4


def test_pages_stored_together_keep_a_page_that_cannot_be_saved_apart(paper, tmp_path,
                                                                       monkeypatch):
    """Pages that come back from the workers together are stored in one transaction; a
    page that cannot be saved leaves nothing behind, the others are kept, and its file
    stays incomplete until an import again saves that page too."""
    from engage.data import scans

    shutil.copytree(paper.instance, tmp_path / "instance")
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret-key",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    files = [paper.files / name for name in ("sheet1.pdf", "sheet2-page1.jpg",
                                             "sheet3-page2.jpg")]
    place = scans._place

    def fails_for_sheet_2(run, row):
        if row["serial"] == 2:
            raise RuntimeError("the disk said no")
        place(run, row)

    monkeypatch.setattr(scans, "_place", fails_for_sheet_2)
    with app.app_context():
        report = scans.import_scan_files(files, workers=2)
    by_file = {entry["file"]: entry for entry in report["files"]}
    assert [p["status"] for p in by_file["sheet2-page1.jpg"]["pages"]] == ["not_saved"]
    assert [p["status"] for p in by_file["sheet1.pdf"]["pages"]] == ["imported"] * 4
    assert [p["status"] for p in by_file["sheet3-page2.jpg"]["pages"]] == ["waiting"]
    assert rows(app, "select original_name, completed_at is not null as done from scan_files"
                     " order by original_name") == [
        {"original_name": "sheet1.pdf", "done": 1}, {"original_name": "sheet3-page2.jpg",
                                                     "done": 1}]
    assert rows(app, "select count(*) as n from scan_sheets where serial = 2")[0]["n"] == 0
    assert paper_participant(app, paper, 1) is not None

    monkeypatch.setattr(scans, "_place", place)
    with app.app_context():
        report = scans.import_scan_files(files, workers=2)
    assert [(entry["status"], [p["status"] for p in entry["pages"]])
            for entry in report["files"]] == [
        ("already_imported", []), ("imported", ["attention"]), ("already_imported", [])]
    assert rows(app, "select count(*) as n from scan_files where completed_at is null") == [
        {"n": 0}]
    _close_pools(app)
