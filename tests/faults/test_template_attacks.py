"""Template attacks: refused by the sandbox or the render limits, failing that message while the worker goes on."""

import time

import pytest

from tests.support.factories import envelope, notifications, post_and_plan
from webapp.domain.sending.templates import rendering

ATTACKS = {
    "class walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "attr filter": "{{ (recipient|attr('__class__')).__init__.__globals__ }}",
    "format attribute": "{{ '{0.__class__.__mro__}'.format(recipient) }}",
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "repetition": "{{ 'x' * 100000000 }}",
    "power": "{{ 10 ** 100000000 }}",
    "printf width": "{{ '%100000000s' % 'x' }}",
    "format width": "{{ '{:>100000000}'.format('x') }}",
    "center width": "{{ 'x'|center(100000000) }}",
    "lipsum": "{{ lipsum(1000000) }}",
    "output size": "{% for i in range(60) %}{{ 'y' * 9000 }}{% endfor %}",
}


@pytest.fixture
def templates(tmp_path, monkeypatch):
    """A folder of message templates the test writes; the real ones come back afterwards."""
    monkeypatch.setattr(rendering, "TEMPLATE_ROOT", tmp_path)
    rendering.environment.cache_clear()
    yield tmp_path
    rendering.environment.cache_clear()


def write(root, kind: str, subject: str, body: str) -> None:
    folder = root / "en" / kind
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "subject.txt").write_text(subject)
    (folder / "default.txt").write_text(body)


@pytest.mark.parametrize("attack", ATTACKS)
def test_each_attack_fails_its_message_and_the_next_message_still_goes(client, run_jobs, templates, attack):
    write(templates, "user_welcome", "Welcome", ATTACKS[attack])
    write(templates, "user_password_reset", "Reset", "Reset your password, {{ recipient.name }}.")
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "name": "Lin"}))
    post_and_plan(client, envelope("user.password_reset", {"user_id": "u-1", "reset_url": "https://example.com/r"}))
    started = time.monotonic()
    run_jobs()
    assert time.monotonic() - started < 10  # the worker was not held
    rows = {row.type.value: row for row in notifications()}
    welcome = rows["user_welcome"]
    assert welcome.status.value == "failed" and "template for user_welcome/log failed" in welcome.last_error
    assert "__subclasses__" not in (welcome.body or "") and "<class" not in (welcome.body or "")
    assert rows["user_password_reset"].status.value == "sent"  # same batch, same worker, still working


def test_template_syntax_in_data_staff_can_edit_is_shown_not_run(client, run_jobs, templates):
    write(templates, "user_welcome", "Welcome {{ recipient.name }}", "Hello {{ recipient.name }}.")
    name = "{{ ''.__class__.__mro__ }}{% for i in range(10**9) %}x{% endfor %}"
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "name": name}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "sent" and row.body == f"Hello {name}."  # the name is text, never a template
