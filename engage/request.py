"""The request class engage's app uses: Flask's, with small forms read directly.

Every save on the capture page is a small URL-encoded form. Werkzeug reads one through
a general parser (a parser object, a limited stream read in 64 KB pieces, the limits
looked up through the app each time), which cost several times the decoding itself.
Such a body is read here in one piece and decoded exactly as werkzeug decodes it, with
the same limit and the same answers to a body that breaks it. Anything else (a file
upload, a body without a length, one read already, one over the form memory limit) goes
the usual way.
"""

from __future__ import annotations

from io import BytesIO
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" decoding errors
from flask import Request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

URLENCODED = "application/x-www-form-urlencoded"
#: Bodies up to this size are read in one piece (a save is a few hundred bytes).
SMALL_FORM_BYTES = 64 * 1024


class EngageRequest(Request):
    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        length = self.content_length
        # A body over MAX_FORM_MEMORY_SIZE goes werkzeug's way: werkzeug 3.1.8 refuses
        # it, 3.1.9 reads it, and this reads as whichever is installed does.
        memory = self.max_form_memory_size
        if (
            length is None
            or length > SMALL_FORM_BYTES
            or (memory is not None and length > memory)
            or self.mimetype != URLENCODED
            or "stream" in self.__dict__
            or getattr(self, "_cached_data", None) is not None
        ):
            super()._load_form_data()
            return
        limit = self.max_content_length
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        body = _read_exactly(self.environ["wsgi.input"], length)
        try:
            items = parse_qsl(body.decode(), keep_blank_values=True,
                              errors="werkzeug.url_quote")
        except ValueError:  # not UTF-8: werkzeug's parser gives an empty form
            items = []
        storage = self.parameter_storage_class
        self.__dict__.update(stream=BytesIO(), form=storage(items), files=storage())


def _read_exactly(stream, length: int) -> bytes:
    """``length`` bytes of the body, however many reads a server's stream takes to give
    them; one that ends sooner is a client that went away, as werkzeug's stream says."""
    parts, wanted = [], length
    while wanted:
        part = stream.read(wanted)
        if not part:
            raise ClientDisconnected()
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)
