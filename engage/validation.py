"""Checks on what people type, each failing with a message for the person."""

from __future__ import annotations

import re

from flask import current_app
from flask_babel import lazy_gettext as _l


class InvalidInput(ValueError):
    """Input that is refused; ``message`` is shown to the user, ``field`` names the box."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


class NotFound(LookupError):
    """A record that does not exist, or that this user may not see."""


_DISTRICT = re.compile(r"^(GIR|[A-Z]{1,2}[0-9][0-9A-Z]?)$")
_FULL_POSTCODE = re.compile(r"^(GIR\s*0AA|[A-Z]{1,2}[0-9][0-9A-Z]?\s*[0-9][A-Z]{2})$")


def postcode_district(value: str | None, *, required: bool, field: str = "postcode_district"):
    """Normalise a UK postcode district (outward code), refusing full postcodes.

    Only the district is kept: a full postcode can point at a handful of homes.
    """
    cleaned = re.sub(r"\s+", " ", (value or "").strip().upper())
    if not cleaned:
        if required:
            raise InvalidInput(_l("Enter a postcode district, such as LS6 or E1."), field)
        return None
    if _FULL_POSTCODE.match(cleaned):
        district = cleaned.replace(" ", "")[:-3]
        raise InvalidInput(
            _l(
                "That is a full postcode. To keep people anonymous only the first part "
                "is kept: enter %(district)s instead.",
                district=district,
            ),
            field,
        )
    if not _DISTRICT.match(cleaned):
        raise InvalidInput(_l("Enter the first part of a UK postcode, such as LS6 or E1."), field)
    return cleaned


def text(value: str | None, *, field: str, required: bool = True, max_length: int | None = None):
    """Trim a piece of free text and check it is neither empty nor too long."""
    cleaned = (value or "").strip()
    limit = max_length or current_app.config["MAX_TEXT_LENGTH"]
    if not cleaned:
        if required:
            raise InvalidInput(_l("This box is empty. Type the words, then save."), field)
        return None
    if len(cleaned) > limit:
        raise InvalidInput(
            _l(
                "This is too long: %(count)s characters, and the most is %(limit)s.",
                count=len(cleaned),
                limit=limit,
            ),
            field,
        )
    return cleaned


def choice(value: str | None, allowed, *, field: str, required: bool = False):
    """Accept only one of the offered options; anything else was not on the form."""
    if value in (None, ""):
        if required:
            raise InvalidInput(_l("Choose one of the options."), field)
        return None
    if value not in allowed:
        raise InvalidInput(_l("That choice is not one of the options offered."), field)
    return value
