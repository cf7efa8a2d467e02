"""The request class engage's app uses: Flask's, with small forms read directly.

Every save on the capture page is a small URL-encoded form. Werkzeug reads one through
a general parser (a parser object, a limited stream read in 64 KB pieces, the limits
looked up through the app each time), which cost several times the decoding itself.
Such a body is read here in one piece and decoded exactly as werkzeug decodes it, with
the same limits and the same answers to a body that breaks them. Anything else (a file
upload, a body without a length, one read already) goes the usual way.
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
        if (
            length is None
            or length > SMALL_FORM_BYTES
            or self.mimetype != URLENCODED
            or "stream" in self.__dict__
            or getattr(self, "_cached_data", None) is not None
        ):
            super()._load_form_data()
            return
        for limit in (self.max_content_length, self.max_form_memory_size):
            if limit is not None and length > limit:
                raise RequestEntityTooLarge()
        body = self.environ["wsgi.input"].read(length)
        if len(body) < length:
            raise ClientDisconnected()  # as werkzeug's stream says of a short body
        try:
            items = parse_qsl(body.decode(), keep_blank_values=True,
                              errors="werkzeug.url_quote")
        except ValueError:  # not UTF-8: werkzeug's parser gives an empty form
            items = []
        storage = self.parameter_storage_class
        self.__dict__.update(stream=BytesIO(), form=storage(items), files=storage())
