"""The layout: complete, versioned, true to the PDF, and the same after a JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import pypdfium2 as pdfium
import pytest
from paper_support import (
    IDEA_IDS,
    SAMPLES,
    decode_qr,
    font_sizes,
    geometry_problems,
    normalise,
    page_images,
    sample_spec,
    short_spec,
)

from paper_forms import (
    ANSWERS,
    LANGUAGES,
    PREFER_NOT_TO_SAY,
    VARIANTS,
    Layout,
    LayoutError,
    MissingGlyph,
    SpecError,
    encode_payload,
    layout_path,
    new_form_id,
    render,
)
from paper_forms.printing import idea_order


def test_layout_json_is_written_beside_the_pdf_and_reads_back_equal(tmp_path):
    pdf = tmp_path / "forms.pdf"
    layout = render(sample_spec("en"), sheets=3, out_pdf=pdf, shuffle_ideas=True, seed=5)
    path = tmp_path / "forms.layout.json"
    assert layout_path(pdf) == path and path.is_file()
    assert Layout.read(path) == layout
    assert Layout.from_json(layout.to_json()) == layout
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == "engage.paper_forms.layout"
    assert data["version"] == 1
    assert (data["units"], data["origin"]) == ("pt", "bottom-left")
    assert {k: data[k] for k in ("form_id", "language", "direction", "variant")} == {
        "form_id": "AHP2025",
        "language": "en",
        "direction": "ltr",
        "variant": "standard",
    }
    assert data["paper"] == {"name": "a4", "width": 595.276, "height": 841.89}
    page = layout.page(2, 1)
    assert page.qr.modules == 25 and len(page.marks) == 4
    assert {box.kind for box in page.boxes} == {"consent", "idea"}
    assert [area.prompt_id for area in page.areas] == ["easier", "worked-well"]


def test_layout_of_another_version_is_refused():
    layout = render_quick("en")
    data = layout.to_dict() | {"version": 2}
    with pytest.raises(LayoutError, match="version 2"):
        Layout.from_dict(data)
    with pytest.raises(LayoutError):
        Layout.from_dict({"kind": "something else"})


def render_quick(language, **kw):
    import io

    return render(sample_spec(language, **kw.pop("spec", {})), out_pdf=io.BytesIO(), **kw)


def test_a_run_of_n_sheets_has_n_distinct_serials():
    layout = render_quick("pl", sheets=25, first_serial=1000)
    assert layout.serials == list(range(1000, 1025))
    with pytest.raises(KeyError):
        layout.sheet(999)


def test_pdf_pages_match_the_layout(tmp_path):
    pdf = tmp_path / "letter.pdf"
    layout = render(sample_spec("es", text_from="en", paper="letter"), sheets=2, out_pdf=pdf)
    document = pdfium.PdfDocument(str(pdf))
    assert len(document) == sum(len(sheet.pages) for sheet in layout.sheets) == 4
    assert document[0].get_size() == (612, 792) == (layout.paper.width, layout.paper.height)
    document.close()


def test_shuffled_ideas_differ_between_sheets_and_boxes_name_the_printed_idea(tmp_path):
    pdf = tmp_path / "shuffled.pdf"
    layout = render(sample_spec("en"), sheets=6, out_pdf=pdf, shuffle_ideas=True, seed="north")
    orders = [sheet.idea_order for sheet in layout.sheets]
    assert all(sorted(order) == sorted(IDEA_IDS) for order in orders)
    assert len(set(orders)) > 1
    # the same seed and serial give the same order, so a reprint matches its layout
    spec = sample_spec("en")
    assert orders[3] == idea_order(spec, layout.sheets[3].serial, True, "north")
    texts = dict(zip(IDEA_IDS, SAMPLES["en"]["ideas"], strict=True))
    document = pdfium.PdfDocument(str(pdf))
    page_index = 0
    for sheet in layout.sheets:
        printed_order = []
        for page in sheet.pages:
            textpage = document[page_index].get_textpage()
            page_index += 1
            for box in page.boxes:
                if box.kind != "idea" or box.answer != "agree":
                    continue
                # the words level with the box, between the margin and the boxes
                words = textpage.get_text_bounded(
                    left=40, right=box.rect.x - 20, bottom=box.rect.y - 2, top=box.rect.top + 2
                )
                assert len(normalise(words)) > 10
                assert normalise(texts[box.idea_id]).startswith(normalise(words))
                printed_order.append(box.idea_id)
            textpage.close()
        assert tuple(printed_order) == sheet.idea_order
    document.close()


def test_each_idea_has_one_box_per_answer_and_each_question_offers_prefer_not_to_say():
    layout = render_quick("ur")
    boxes = [box for page in layout.sheets[0].pages for box in page.boxes]
    ideas = [(box.idea_id, box.answer) for box in boxes if box.kind == "idea"]
    assert sorted(ideas) == sorted((i, a) for i in IDEA_IDS for a in ANSWERS)
    assert sum(box.kind == "consent" for box in boxes) == 1
    demographic = [box for box in boxes if box.kind == "demographic"]
    for question in ("age", "disability", "internet"):
        options = [box.option_id for box in demographic if box.question_id == question]
        assert options[-1] == PREFER_NOT_TO_SAY
    # demographics start a page of their own
    last = layout.sheets[0].pages[-1]
    assert {box.kind for box in last.boxes} == {"demographic"}


def test_without_demographics_there_is_no_demographics_page():
    layout = render_quick("en", spec={"demographics": None})
    kinds = {box.kind for page in layout.sheets[0].pages for box in page.boxes}
    assert "demographic" not in kinds


def test_right_to_left_page_is_the_mirror_image():
    """The same strings laid out as Arabic and as English: every box and area is mirrored."""
    ltr = render_quick("en")
    rtl = render_quick("ar", spec={"text_from": "en"})
    width = ltr.paper.width
    assert (ltr.direction, rtl.direction) == ("ltr", "rtl")
    for left_page, right_page in zip(ltr.sheets[0].pages, rtl.sheets[0].pages, strict=True):
        pairs = list(zip(left_page.boxes, right_page.boxes, strict=True))
        pairs += list(zip(left_page.areas, right_page.areas, strict=True))
        pairs.append((left_page.qr, right_page.qr))
        for left, right in pairs:
            assert right.rect.x == pytest.approx(width - left.rect.x - left.rect.width, abs=0.01)
            assert right.rect.y == pytest.approx(left.rect.y, abs=0.01)
    consent = ltr.sheets[0].pages[0].boxes[0]
    assert consent.kind == "consent" and consent.rect.x < width / 2
    assert rtl.sheets[0].pages[0].boxes[0].rect.x > width / 2


def test_right_to_left_idea_boxes_are_left_of_the_text_in_a_real_urdu_form():
    layout = render_quick("ur")
    idea_boxes = [b for page in layout.sheets[0].pages for b in page.boxes if b.kind == "idea"]
    assert all(box.rect.right < layout.paper.width / 2 for box in idea_boxes)
    by_idea = {}
    for box in idea_boxes:
        by_idea.setdefault(box.idea_id, {})[box.answer] = box.rect.x
    for xs in by_idea.values():  # agree is nearest the text: on the right in Urdu
        assert xs["agree"] > xs["disagree"] > xs["unsure"]


def test_large_print_uses_at_least_16_point_text_and_bigger_boxes(tmp_path):
    sizes = {}
    boxes = {}
    for variant in ("standard", "large"):
        pdf = tmp_path / f"{variant}.pdf"
        layout = render(sample_spec("bn", variant=variant), out_pdf=pdf)
        sizes[variant] = font_sizes(pdf)
        boxes[variant] = min(b.rect.width for p in layout.sheets[0].pages for b in p.boxes)
    assert min(sizes["large"]) >= 16
    assert min(sizes["standard"]) < 16
    assert boxes["large"] > boxes["standard"]


def test_easy_read_draws_a_symbol_beside_every_answer_box(tmp_path):
    pdf = tmp_path / "easy.pdf"
    layout = render(sample_spec("en", variant="easy"), out_pdf=pdf)
    images = page_images(pdf, dpi=72)
    for page, image in zip(layout.sheets[0].pages, images, strict=True):
        grey = image.convert("L")
        for box in page.boxes:
            if box.kind != "idea":
                continue
            r = box.rect  # the symbol is a box-width to the start side of the box
            area = (r.x - r.width - 4, page_h(layout) - r.top, r.x - 8, page_h(layout) - r.y)
            ink = sum(grey.crop(tuple(map(round, area))).histogram()[:128])
            assert ink > 10, f"no symbol beside {box.idea_id} {box.answer}"
    # one sentence per line: the instruction's three sentences are three lines
    text = pdfium.PdfDocument(str(pdf))[0].get_textpage().get_text_range()
    lines = [normalise(line) for line in text.splitlines()]
    for sentence in ("Please answer in your own words.", "Tick one box for each idea."):
        assert sentence in lines


def page_h(layout):
    return layout.paper.height


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_language_and_variant_lays_out_cleanly(tmp_path, language, variant):
    if language in SAMPLES:
        spec = sample_spec(language, variant=variant)
    else:
        spec = short_spec(language, variant=variant)
    pdf = tmp_path / "form.pdf"
    layout = render(spec, out_pdf=pdf, first_serial=7)
    assert layout.direction == ("rtl" if language in ("ar", "ur") else "ltr")
    assert geometry_problems(layout) == []
    first_page = page_images(pdf, dpi=150)[0]
    assert decode_qr(first_page) == [encode_payload(spec.form_id, 7, 1)]


def render_quick_spec(spec, **kw):
    import io

    return render(spec, out_pdf=io.BytesIO(), **kw)


def test_no_text_is_printed_over_a_box_the_qr_code_or_a_mark(tmp_path):
    for language in ("en", "ur", "bn"):
        pdf = tmp_path / f"{language}.pdf"
        layout = render(sample_spec(language, variant="large"), out_pdf=pdf)
        document = pdfium.PdfDocument(str(pdf))
        for index, page in enumerate(layout.sheets[0].pages):
            textpage = document[index].get_textpage()
            keep_clear = [b.rect for b in page.boxes] + [m.rect for m in page.marks]
            keep_clear.append(page.qr.rect.grown(page.qr.quiet_zone))
            for i in range(textpage.count_chars()):
                left, bottom, right, top = textpage.get_charbox(i)
                if right - left < 0.01:
                    continue
                for rect in keep_clear:
                    assert not (
                        left < rect.right - 0.5
                        and rect.x + 0.5 < right
                        and bottom < rect.top - 0.5
                        and rect.y + 0.5 < top
                    ), f"{language} page {index + 1}: text over {rect}"
            textpage.close()
        document.close()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"form_id": "ahp"}, "form id"),
        ({"form_id": "ABCDEFGHIJKLM"}, "form id"),
        ({"language": "fr"}, "not supported"),
        ({"variant": "tiny"}, "variant"),
        ({"paper": "a3"}, "paper"),
        ({"title": "  "}, "title is empty"),
        ({"answer_labels": None}, "answer labels"),
        ({"page_label": "{sheet}"}, "placeholder"),
    ],
)
def test_descriptions_that_cannot_be_printed_say_why(change, message):
    with pytest.raises(SpecError, match=message):
        render_quick_spec(dataclasses.replace(sample_spec("en"), **change))


def test_duplicate_ids_are_refused():
    spec = sample_spec("en")
    ideas = (*spec.ideas, spec.ideas[0])
    with pytest.raises(SpecError, match="used twice"):
        render_quick_spec(dataclasses.replace(spec, ideas=ideas))


def test_text_the_font_cannot_draw_is_refused_not_printed_as_boxes():
    spec = dataclasses.replace(sample_spec("en"), title="健康服务")
    with pytest.raises(MissingGlyph, match="U\\+5065"):
        render_quick_spec(spec)


def test_bad_run_arguments_are_refused():
    with pytest.raises(SpecError):
        render_quick("en", sheets=0)
    with pytest.raises(SpecError):
        render_quick("en", first_serial=0)
    with pytest.raises(SpecError):
        render(sample_spec("en"))


def test_spec_round_trips_through_a_dict():
    spec = sample_spec("pa", variant="easy")
    assert type(spec).from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_new_form_ids_are_valid_and_differ():
    ids = {new_form_id() for _ in range(50)}
    assert len(ids) == 50
    for form_id in ids:
        dataclasses.replace(sample_spec("en"), form_id=form_id).validate()


def test_a_failed_run_leaves_the_previous_pdf_and_layout_alone(tmp_path):
    pdf = tmp_path / "forms.pdf"
    render(sample_spec("en"), out_pdf=pdf)
    before = pdf.read_bytes(), layout_path(pdf).read_bytes()
    with pytest.raises(MissingGlyph):
        render(dataclasses.replace(sample_spec("en"), title="健康服务"), out_pdf=pdf)
    assert (pdf.read_bytes(), layout_path(pdf).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forms.layout.json", "forms.pdf"]
