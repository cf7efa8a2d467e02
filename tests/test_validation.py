"""Postcode districts and free text, checked the way people will type them."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engage.validation import InvalidInput, postcode_district

districts = st.from_regex(r"\A[A-Z]{1,2}[0-9][0-9A-Z]?\Z")
inward = st.from_regex(r"\A[0-9][A-Z]{2}\Z")


@given(districts)
def test_any_district_is_kept_in_capitals(district):
    assert postcode_district(f"  {district.lower()} ", required=True) == district


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # app is read-only here
@given(districts, inward, st.sampled_from(["", " ", "  "]))
def test_any_full_postcode_is_refused_naming_its_district(app, district, unit, gap):
    with app.test_request_context(), pytest.raises(InvalidInput) as refused:
        postcode_district(f"{district}{gap}{unit}", required=True)
    assert refused.value.field == "postcode_district"
    assert f"enter {district} instead" in str(refused.value.message)


@pytest.mark.parametrize("junk", ["LS", "123", "L$6", "LS6 1A", "not a postcode"])
def test_other_text_is_refused(app, junk):
    with app.test_request_context(), pytest.raises(InvalidInput):
        postcode_district(junk, required=True)


def test_empty_is_allowed_only_when_optional():
    assert postcode_district("", required=False) is None
    with pytest.raises(InvalidInput):
        postcode_district(" ", required=True)
