"""Phone numbers and email addresses checked and normalised at the door, by one rule everywhere.

Phone numbers are read by phonenumbers (Google's libphonenumber), must be valid numbers for their
country, and are kept in E.164; a number
written without a country code is read as BELLHOP_DEFAULT_PHONE_REGION's, and refused when no
region is set. Email addresses are checked for syntax by email-validator, with no DNS lookups.
"""

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context


class AddressError(ValueError):
    """A phone number or email address that cannot be used; the message says why."""


def default_region() -> str | None:
    """The region numbers without a country code belong to, if one is configured."""
    return current_app.config.get("DEFAULT_PHONE_REGION") if has_app_context() else None


def normalise_phone(value: str, field: str | None = None) -> str:
    """The number in E.164 (+4915112345678); raise AddressError naming the field when it cannot be placed."""
    region = default_region()
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            hint = "" if region else " (or set BELLHOP_DEFAULT_PHONE_REGION)"
            raise AddressError(
                named(field, f"{value[:40]!r} has no country code: write it as +<country><number>{hint}")
            ) from None
        raise AddressError(named(field, f"{value[:40]!r} is not a phone number")) from None
    # Valid, not merely possible: German numbers may be 3 digits long by length alone. The lock pins
    # phonenumbers, whose metadata is released monthly; keep it current so new number ranges pass.
    if not phonenumbers.is_valid_number(number):
        raise AddressError(named(field, f"{value[:40]!r} is not a valid number for its country"))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str, field: str | None = None) -> str:
    """The address with its domain lower-cased; raise AddressError naming the field when its syntax is wrong."""
    try:
        return normalised_email(value)
    except EmailNotValidError as error:
        raise AddressError(named(field, f"{value[:80]!r} is not an email address: {error}")) from None


# The same people's addresses arrive with event after event, and email-validator checks each character
# of the domain against IDNA's tables: about 70 us an address, a fifth of an accept. A pure function of
# its argument, so a bounded cache of the answers (refusals are not cached) is exact.
@lru_cache(maxsize=8192)
def normalised_email(value: str) -> str:
    """email-validator's normalised form of a syntactically valid address."""
    return validate_email(value, check_deliverability=False).normalized


def named(field: str | None, problem: str) -> str:
    """The problem, after the field's name when there is one."""
    return f"{field}: {problem}" if field else problem
