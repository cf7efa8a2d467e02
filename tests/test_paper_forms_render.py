"""Printed forms read back as a scanner and a person would: real PDFs, rasterised by
pdfium, codes decoded by zxing-cpp, text extracted by pdfium."""

from __future__ import annotations

import threading

import pypdfium2 as pdfium
import pytest
import uharfbuzz as hb
from paper_support import (
    SAMPLES,
    decode_qr,
    drawn_glyphs,
    normalise,
    outline,
    page_images,
    page_texts,
    sample_spec,
)

from paper_forms import encode_payload, render
from paper_forms.fonts import kurinto_path

LANGUAGES = ("en", "pl", "ur", "ar", "bn", "pa")


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """Two sheets of the full form in each language, serials 41 and 42."""
    folder = tmp_path_factory.mktemp("printed")
    runs = {}
    for language in LANGUAGES:
        pdf = folder / f"{language}.pdf"
        runs[language] = (
            pdf,
            render(sample_spec(language), sheets=2, out_pdf=pdf, first_serial=41),
        )
    return runs


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_code_names_form_serial_and_page(printed, language):
    pdf, layout = printed[language]
    expected = [
        [encode_payload("AHP2025", sheet.serial, page.page)]
        for sheet in layout.sheets
        for page in sheet.pages
    ]
    assert [decode_qr(image) for image in page_images(pdf, dpi=150)] == expected
    assert [sheet.serial for sheet in layout.sheets] == [41, 42]


@pytest.mark.parametrize("language", LANGUAGES)
def test_printed_text_can_be_extracted(printed, language):
    pdf, layout = printed[language]
    texts = page_texts(pdf)
    sample = SAMPLES[language]
    first_sheet = normalise(" ".join(texts[: len(layout.sheets[0].pages)]))
    for text in (sample["title"], sample["consent"], *sample["prompts"], *sample["ideas"]):
        assert normalise(text) in first_sheet
    for text in (sample["demo_intro"], sample["prefer"], sample["questions"][0][0]):
        assert normalise(text) in first_sheet
    # the serial and page are printed for a person, on every page
    pages = len(layout.sheets[0].pages)
    for number, text in enumerate(texts[pages:], 1):
        assert f"AHP2025 · 42 · {number}/{pages}" in text


@pytest.mark.parametrize("language", ["ar", "ur", "bn", "pa"])
def test_glyphs_drawn_are_harfbuzz_shaping_not_character_lookups(printed, language):
    """Joined Arabic and Urdu letters and Indic conjuncts are glyphs of their own; drawing
    characters one by one through the cmap (shaping silently off) cannot pass this."""
    pdf, _ = printed[language]
    text = SAMPLES[language]["title"]  # one line, in the bold face
    font = hb.Font(hb.Face(hb.Blob.from_file_path(str(kurinto_path("bold")))))
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    buffer.language = language
    hb.shape(font, buffer, {})
    shaped = [outline(font, info.codepoint) for info in buffer.glyph_infos]
    characters = reversed(text) if buffer.direction == "rtl" else text
    unshaped = [outline(font, font.get_nominal_glyph(ord(c))) for c in characters]
    assert shaped != unshaped
    drawn = [key for _, _, key in drawn_glyphs(pdf.read_bytes())]
    assert _contains(drawn, shaped), "the title is not drawn with HarfBuzz's glyphs"
    assert not _contains(drawn, unshaped)


def _contains(sequence: list, part: list) -> bool:
    return any(sequence[i : i + len(part)] == part for i in range(len(sequence) - len(part) + 1))


def test_pdfs_built_from_many_threads_at_once(tmp_path):
    errors = []

    def build(n: int) -> None:
        language = LANGUAGES[n % len(LANGUAGES)]
        try:
            render(
                sample_spec(language),
                sheets=3,
                out_pdf=tmp_path / f"{n}.pdf",
                first_serial=1 + 10 * n,
                shuffle_ideas=True,
                seed=n,
            )
        except Exception as error:  # any failure fails the assertion below
            errors.append(error)

    threads = [threading.Thread(target=build, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for n in range(8):
        pdf = pdfium.PdfDocument(str(tmp_path / f"{n}.pdf"))
        assert len(pdf) == 6
        pdf.close()
        first = page_images(tmp_path / f"{n}.pdf", dpi=100)[0]
        assert decode_qr(first) == [encode_payload("AHP2025", 1 + 10 * n, 1)]


def test_untranslated_english_on_a_right_to_left_form_reads_left_to_right():
    from paper_forms.shaping import has_rtl_letters

    assert has_rtl_letters("کیا آپ متفق ہیں؟") and not has_rtl_letters("What should change first?")
    import io

    import pypdfium2

    from paper_forms import AnswerLabels, FormSpec, Idea, render

    spec = FormSpec(form_id="RTLFALLBK", language="ur", title="What should change first?",
                    instruction="ہر خیال کے لیے ایک خانے پر نشان لگائیں۔", consent="میں متفق ہوں۔",
                    ideas=(Idea("i1", "Appointments at weekends."),),
                    answer_labels=AnswerLabels("متفق", "غیر متفق", "یقین نہیں"))
    buffer = io.BytesIO()
    render(spec, 1, buffer)
    text = pypdfium2.PdfDocument(buffer.getvalue())[0].get_textpage().get_text_range()
    assert "What should change first?" in text
    assert "Appointments at weekends." in text
