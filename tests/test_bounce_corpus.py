"""Bounce reasons against sisimai's public corpus: real notices from 70 mail systems, read as sisimai reads them.

tests/corpora/sisimai holds sisimai's set-of-emails samples and, per sample, the reason and hard-bounce verdict
sisimai's own tests expect (imported by scripts/import_sisimai.py). Bellhop must suppress what sisimai calls a
hard bounce and leave alone what it does not.
"""

import json
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path

from webapp.domain.after_sending.bounces import read

CORPUS = Path(__file__).parent / "corpora" / "sisimai"
# Complaints and auto-replies are other tests' business; every other sample is a bounce.
NOT_BOUNCES = ("arf-", "rfc3834-")


@dataclass
class Verdicts:
    """How Bellhop's readings compare with sisimai's over the corpus."""

    hard: int = 0
    hard_found: int = 0
    not_hard: int = 0
    suppressed_wrongly: int = 0
    # User-unknown replies that sisimai files as "filtered" (refused after DATA) and so not hard.
    after_data: int = 0
    same_reason: int = 0
    samples: int = 0


def verdicts() -> tuple[Verdicts, list[str]]:
    """Read every bounce in the corpus; return the tallies and the samples Bellhop suppresses wrongly."""
    expected = json.loads((CORPUS / "expected.json").read_text())
    tally, wrong = Verdicts(), []
    for name, rows in sorted(expected.items()):
        if name.startswith(NOT_BOUNCES):
            continue
        reading = read(message_from_bytes((CORPUS / "mail" / f"{name}.eml").read_bytes()))
        hard, reasons = any(row[3] for row in rows), {row[2] for row in rows}
        tally.samples += 1
        tally.same_reason += reading.reason in reasons
        if hard:
            tally.hard += 1
            tally.hard_found += reading.kind == "hard"
        else:
            tally.not_hard += 1
            if reading.kind == "hard":
                tally.suppressed_wrongly += 1
                tally.after_data += reasons == {"filtered"}
                wrong.append(f"{name}: sisimai {sorted(reasons)}, Bellhop {reading.reason}")
    return tally, wrong


def test_the_corpus_is_read_with_sisimais_verdicts():
    tally, wrong = verdicts()
    print(
        f"\n{tally.samples} bounces; hard-bounce recall {tally.hard_found}/{tally.hard}; "
        f"over-suppression {tally.suppressed_wrongly}/{tally.not_hard}, of which {tally.after_data} after DATA; "
        f"same reason as sisimai {tally.same_reason}/{tally.samples}"
    )
    assert tally.samples >= 500
    assert tally.hard_found / tally.hard >= 0.90
    # Beyond user-unknown replies refused after DATA, at most 3 % of what is not hard suppresses an address.
    assert (tally.suppressed_wrongly - tally.after_data) / tally.not_hard <= 0.03, wrong
    assert tally.same_reason / tally.samples >= 0.65


def test_every_sample_reads_without_an_error_and_fits_the_columns():
    for path in sorted((CORPUS / "mail").glob("*.eml")):
        reading = read(message_from_bytes(path.read_bytes()))
        assert reading.kind in ("hard", "soft", "failed", "complaint", "none"), path.name
        assert len(reading.status or "") <= 32 and len(reading.diagnostic or "") <= 1000
        (reading.diagnostic or "").encode("utf-8")  # storable: no lone surrogates from 8-bit headers
