"""SMS facts the channel and the preview share: E.164 numbers and how many segments a text costs."""

import re

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# GSM 03.38: texts made only of these use 7-bit encoding; anything else forces UCS-2.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")  # each takes two septets (an escape, then the character)
MAX_BODY = 1600  # Twilio refuses longer bodies


def is_e164(number: str | None) -> bool:
    """True for a number in international E.164 form, e.g. +4915112345678."""
    return bool(number and E164.match(number))


def encoding(text: str) -> str:
    """'GSM-7' when every character fits the GSM alphabet, else 'UCS-2'."""
    return "GSM-7" if all(char in GSM_BASIC or char in GSM_EXTENDED for char in text) else "UCS-2"


def length(text: str) -> int:
    """The text's length in its encoding's units: septets for GSM-7, UTF-16 code units for UCS-2."""
    if encoding(text) == "GSM-7":
        return sum(2 if char in GSM_EXTENDED else 1 for char in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """How many SMS segments the text is sent as (160/153 for GSM-7, 70/67 for UCS-2)."""
    single, multi = (160, 153) if encoding(text) == "GSM-7" else (70, 67)
    units = length(text)
    return 1 if units <= single else -(-units // multi)
