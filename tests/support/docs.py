"""What the manual says: the environment variables docs/configuration.md documents."""

import re

from webapp.flask_config import PROJECT_ROOT

DOCUMENTED = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def variables_documented() -> set[str]:
    """Every variable named in the first column of the page's tables."""
    rows = (PROJECT_ROOT / "docs" / "configuration.md").read_text().splitlines()
    first_cells = [row.split("|")[1] for row in rows if row.startswith("| `")]
    return {name for cell in first_cells for name in DOCUMENTED.findall(cell)}
