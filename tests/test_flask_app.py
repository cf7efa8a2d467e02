"""The app's Flask class: its own request class, and hooks and views checked for
``async def`` once, with the same answer Flask gives and nothing kept alive for it."""

from __future__ import annotations

import gc

from flask import Flask

from engage.flask_app import EngageFlask
from engage.request import EngageRequest


def test_the_app_is_engages_flask_reading_requests_its_way(app):
    assert isinstance(app, EngageFlask) and app.request_class is EngageRequest


def test_a_plain_function_is_run_as_it_is_and_the_answer_remembered(app):
    def hook():
        return None

    assert app.ensure_sync(hook) is hook
    assert app._is_async[hook] is False
    assert app.ensure_sync(hook) is hook


def test_an_async_function_is_still_wrapped_as_flask_wraps_it(app, monkeypatch):
    async def view():
        return "hello"

    wrapped = []
    monkeypatch.setattr(app, "async_to_sync", lambda func: wrapped.append(func) or "sync")
    for _ in range(2):
        assert app.ensure_sync(view) == "sync"
    assert wrapped == [view, view]
    plain = Flask(__name__)
    monkeypatch.setattr(plain, "async_to_sync", lambda func: "sync")
    assert plain.ensure_sync(view) == "sync"  # what Flask itself answers


def test_a_function_made_for_one_request_is_not_kept(app):
    def make():
        def after(response):
            return response

        return after

    made = make()
    app.ensure_sync(made)
    assert len(app._is_async) >= 1
    before = len(app._is_async)
    del made
    gc.collect()
    assert len(app._is_async) == before - 1


def test_a_callable_that_cannot_be_remembered_is_still_answered(app):
    class Unhashable:
        __hash__ = None

        def __call__(self):
            return None

    thing = Unhashable()
    assert app.ensure_sync(thing) is thing
