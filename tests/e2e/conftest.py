"""Browser tests reuse the whole-call fixtures: a live server on the local models and a signed-up client."""

from tests.voice.conftest import http, live  # noqa: F401  (re-exported so pytest finds them here)
