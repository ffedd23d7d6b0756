"""Why a bounce happened, read the way sisimai (the field's reference classifier) reads it.

A bounce's reason comes from its diagnostic text first, in sisimai's order of precedence, and from
its RFC 3463 status where the text says nothing known. Only a reason that means the address can never
receive (no such user, no such domain, moved without forwarding, a domain that takes no mail at all)
is a hard bounce that suppresses the address; every other failure leaves the address alone.
"""

from webapp.domain.after_sending.bounce_phrases import REASONS, STATUS_REASONS

# sisimai's two passes: the reasons its text may prove outright, then those it tries when the status is vague.
FIRST_PASS = (
    "mailboxfull mesgtoobig exceedlimit suspend hasmoved norelaying authfailure userunknown filtered requireptr "
    "notcompliantrfc badreputation rejected hostunknown spamdetected speeding toomanyconn blocked"
).split()
SECOND_PASS = (
    "mailboxfull authfailure badreputation speeding spamdetected virusdetected policyviolation norelaying "
    "systemerror networkerror suspend contenterror systemfull notaccept expired securityerror mailererror"
).split()
# A status that names one of these is only a guess: the text decides when it can.
VAGUE_STATUS = {"undefined", "onhold", "systemerror", "securityerror", "expired", "suspend", "networkerror"}
# Reasons whose words, beside a "no such user" or "no such domain" status, say the refusal was something else
# (a block, a full mailbox, our rate, ...): the status alone then suppresses nothing. Not the vague ones.
OTHER_REFUSALS = (
    "mailboxfull mesgtoobig exceedlimit suspend norelaying authfailure filtered requireptr notcompliantrfc "
    "badreputation spamdetected speeding toomanyconn blocked virusdetected policyviolation networkerror "
    "systemfull notaccept expired"
).split()

HARD = {"userunknown", "hostunknown", "hasmoved"}
# The statuses that alone say an address is dead (RFC 3463 bad mailbox, bad system, moved; RFC 7505 null MX).
DEAD_BY_STATUS = {"5.1.1": "userunknown", "5.1.2": "hostunknown", "5.1.6": "hasmoved", "5.1.10": "notaccept"}
# A refusal of our envelope sender, not of the recipient (sisimai's "rejected").
SENDER_REFUSALS = ("after mail from", "sender rejected", "sender address rejected", "in reply to mail from")
# Our own mail's authentication (SPF, DKIM, DMARC) or our reverse DNS: an operator problem, not the recipient's.
SENDER_SIDE = {"authfailure", "requireptr"}
# A recipient's mailbox that cannot take mail now; repeated over days it may count as dead (a setting).
RECIPIENT_SOFT = {"mailboxfull", "suspend", "exceedlimit"}


def matches(reason: str, text: str) -> bool:
    """Whether text (lower case, spaces squeezed) carries one of the reason's phrases."""
    phrases = REASONS.get(reason)
    if not phrases:
        return False
    return any(phrase in text for phrase in phrases["index"]) or any(
        in_order(text, pieces) for pieces in phrases["pairs"]
    )


def in_order(text: str, pieces: list[str]) -> bool:
    """Whether each piece appears in text after the one before it (sisimai's "aligned")."""
    position = 0
    for piece in pieces:
        found = text.find(piece.lower(), position)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def reason_for(status: str | None, text: str | None, delayed: bool = False) -> str:
    """The reason a bounce gives: sisimai's name for it (userunknown, mailboxfull, blocked, ...)."""
    status, text = status or "", " ".join((text or "").lower().split())
    if status.startswith("2."):
        return "delivered"
    if refuses_our_sender(text):
        return "rejected"
    by_status = STATUS_REASONS.get(status, "")
    if DEAD_BY_STATUS.get(status) and not stated_otherwise(DEAD_BY_STATUS[status], text):
        return DEAD_BY_STATUS[status]
    for reason in FIRST_PASS:
        if matches(reason, text) or (by_status == reason and not stated_otherwise(reason, text)):
            return reason
    if by_status and by_status not in VAGUE_STATUS:
        return by_status
    for reason in SECOND_PASS:
        if matches(reason, text):
            return reason
    return by_status or by_class(status, text, delayed)


def refuses_our_sender(text: str) -> bool:
    """Whether the server refused our MAIL FROM, whatever it said of the recipient."""
    return any(phrase in text for phrase in SENDER_REFUSALS)


def stated_otherwise(reason: str, text: str) -> bool:
    """A status naming a dead address whose text names another refusal (a block, a full mailbox, our rate, ...)."""
    return reason in HARD and not matches(reason, text) and any(matches(other, text) for other in OTHER_REFUSALS)


def by_class(status: str, text: str, delayed: bool) -> str:
    """The reason when no phrase and no exact status is known: from the status's class, else undefined."""
    if status[:3] in ("5.6", "4.6"):
        return "contenterror"
    if status[:3] in ("5.7", "4.7"):
        return "securityerror"
    if delayed:
        return "expired"
    if matches("vacation", text):
        return "vacation"
    return "onhold" if text else "undefined"


def is_hard(reason: str, status: str | None) -> bool:
    """Whether the address can never receive: a missing user or domain, a move, or a domain that takes no mail."""
    if reason in HARD:
        return True
    return reason == "notaccept" and not (status or "").startswith("4.")


def is_temporary(status: str | None, text: str | None) -> bool:
    """Whether the failure says it may pass: a 4.x.x status, or words to that effect."""
    if status:
        return status.startswith("4.")
    lowered = (text or "").lower()
    return " temporar" in lowered or " persistent" in lowered or "retry timeout" in lowered
