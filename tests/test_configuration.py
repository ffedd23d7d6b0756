"""docs/configuration.md lists every environment variable Bellhop reads, and nothing else."""

import re

from tests.support.docs import variables_documented
from webapp.flask_config import PROJECT_ROOT
from webapp.settings import Settings

# Where Bellhop's processes read the environment: the code they run and the Procfile that starts them.
SOURCES = [*PROJECT_ROOT.glob("webapp/**/*.py"), *PROJECT_ROOT.glob("workers/**/*.py"), PROJECT_ROOT / "wsgi.py"]
READ_IN_CODE = re.compile(r"""(?:environ\.get|environ\[|getenv|env_int|envvar=)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
READ_IN_PROCFILE = re.compile(r"\$\{?([A-Z][A-Z0-9_]+)")


def variables_read() -> set[str]:
    """Every variable name the settings, the rest of the code or the Procfile reads."""
    names = {name for path in SOURCES for name in READ_IN_CODE.findall(path.read_text())}
    return names | settings_variables() | set(READ_IN_PROCFILE.findall((PROJECT_ROOT / "Procfile").read_text()))


def settings_variables() -> set[str]:
    """The variables the settings read: each field's name, or its aliases (a renamed variable's old name too)."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names |= {name} if alias is None else {alias} if isinstance(alias, str) else set(alias.choices)
    return names


def test_every_variable_read_is_documented():
    assert variables_read() - variables_documented() == set()


def test_every_variable_documented_is_read():
    assert variables_documented() - variables_read() == set()


def test_the_scan_finds_variables_in_each_place_they_are_read():
    # A scan that found nothing would pass the two tests above vacuously.
    expected = {"DATABASE_URL", "BELLHOP_STAFF_PASSWORD", "LOG_LEVEL", "PORT", "SMTP_PORT", "SMTP_TIMEOUT"}
    assert expected <= variables_read()
