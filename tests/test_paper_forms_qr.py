"""The page code's payload: one spelling per page, anything else refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paper_forms import Payload, PayloadError, encode_payload, parse_payload
from paper_forms.qr import MAX_PAGE, MAX_SERIAL, MODULES, qr_modules

form_ids = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)
serials = st.integers(min_value=1, max_value=MAX_SERIAL)
pages = st.integers(min_value=1, max_value=MAX_PAGE)


@given(form_ids, serials, pages)
def test_payload_round_trip(form_id, serial, page):
    text = encode_payload(form_id, serial, page)
    assert parse_payload(text) == Payload(form_id, serial, page)
    assert len(text) <= 29  # always fits QR version 2 at level Q


@given(st.text(max_size=40))
def test_any_text_is_refused_or_is_the_one_spelling(text):
    try:
        payload = parse_payload(text)
    except PayloadError:
        return
    assert encode_payload(payload.form_id, payload.serial, payload.page) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "EG1:AHP2025:1",
        "EG1:AHP2025:1:1:1",
        "EG2:AHP2025:1:1",
        "eg1:AHP2025:1:1",
        "EG1:ahp2025:1:1",
        "EG1:AHP2025:01:1",
        "EG1:AHP2025:1:0",
        "EG1:AHP2025:0:1",
        "EG1:AHP2025:1:100",
        "EG1:AHP2025:1000000000:1",
        "EG1:ABCDEFGHIJKLM:1:1",
        "EG1::1:1",
        " EG1:AHP2025:1:1",
        "EG1:AHP2025:1:1\n",
        "EG1:AHP-2025:1:1",
        "EG1:AHP2025:١:1",  # Arabic-Indic digit one
        "https://example.org/EG1:AHP2025:1:1",
    ],
)
def test_malformed_payloads_are_refused(text):
    with pytest.raises(PayloadError):
        parse_payload(text)


def test_parse_refuses_what_is_not_text():
    with pytest.raises(PayloadError):
        parse_payload(b"EG1:AHP2025:1:1")


@pytest.mark.parametrize(
    "form_id, serial, page",
    [
        ("ahp", 1, 1),
        ("", 1, 1),
        ("AHP", 0, 1),
        ("AHP", 1, 0),
        ("AHP", MAX_SERIAL + 1, 1),
        ("AHP", 1, MAX_PAGE + 1),
        ("AHP", "1", 1),
        ("ABCDEFGHIJKLM", 1, 1),
    ],
)
def test_encode_refuses_values_it_cannot_carry(form_id, serial, page):
    with pytest.raises(PayloadError):
        encode_payload(form_id, serial, page)


def test_longest_payload_still_fits_version_2():
    longest = encode_payload("Z" * 12, MAX_SERIAL, MAX_PAGE)
    assert [len(row) for row in qr_modules(longest)] == [MODULES] * MODULES
    assert MODULES == 25
    assert len(qr_modules("EG1:A:1:1")) == MODULES
