"""static/openapi.json is generated from the event models; a change to them must regenerate it."""

from webapp.web import openapi


def test_the_openapi_document_is_up_to_date():
    assert openapi.PATH.read_text() == openapi.render(), "run: python -m webapp.web.openapi"
