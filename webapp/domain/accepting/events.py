"""The platform's event envelope and payloads, validated before anything is stored."""

import json
import re
from datetime import datetime, timedelta
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from babel.numbers import list_currencies
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from webapp.domain.people import addresses, preferences, quiet_hours

ID = Field(min_length=1, max_length=64)
CURRENCIES = frozenset(list_currencies())
# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators: in a name or an id they
# would break an email header (Python's email refuses them) or forge a log line.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FIRST_YEAR, LAST_YEAR = 1970, 9998


@cache
def known_zones() -> frozenset[str]:
    """The IANA zone names, read once on first use: scanning the zone files costs every process start 70 ms."""
    return frozenset(available_timezones())


def iso_text(value):
    """Take a date-time only as ISO 8601 text, in years Bellhop can plan around."""
    # pydantic would read a bare number as Unix time: {"timestamp": 0} would be a 1970 event that loses to all.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with an offset, like 2026-12-24T18:00:00+01:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an ISO 8601 date-time") from None
    # Planning reaches a day or more either side (the 24-hour reminder, quiet hours, retries): near year 1 or
    # 9999 that arithmetic overflows, and no booking is that far off anyway.
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"{value[:40]!r} is out of range: years {FIRST_YEAR} to {LAST_YEAR}")
    return moment


Moment = Annotated[AwareDatetime, BeforeValidator(iso_text)]
# NUL as JSON escapes it: "\u0000" after an even number of backslashes ("\\u0000" is a backslash, then text).
NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class InvalidEvent(ValueError):
    """An event that cannot be accepted; the message names the field that is wrong."""


class Contact(BaseModel):
    """Contact details a booking or user event may carry inline."""

    model_config = ConfigDict(extra="ignore")

    id: str = ID
    name: str | None = Field(default=None, max_length=200)
    # Checked by email-validator (syntax only) and phonenumbers, and kept normalised: see domain/addresses.py.
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    # A number or text in the JSON (Telegram ids are numbers); kept as text (chat_id_as_text).
    telegram_chat_id: str | int | None = Field(default=None, max_length=64)
    webhook_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")
    timezone: str | None = None
    locale: str | None = Field(default=None, max_length=16)
    quiet_hours: str | None = Field(default=None, description="'22:00-07:00' in the person's zone; '' clears it")
    # Opt in (true) or out (false), e.g. {"email:reminders": false, "sms": true}; see domain/people/preferences.py.
    preferences: dict[str, bool] | None = Field(default=None, max_length=50)

    @field_validator("preferences")
    @classmethod
    def known_scopes(cls, value: dict[str, bool] | None) -> dict[str, bool] | None:
        """Accept only channels and categories Bellhop knows."""
        for key in value or {}:
            preferences.parse_scope(key)
        return value

    @field_validator("email")
    @classmethod
    def email_address(cls, value: str | None) -> str | None:
        """A syntactically valid address, domain lower-cased; '' clears it."""
        return addresses.normalise_email(value) if value else value

    @field_validator("phone")
    @classmethod
    def phone_number(cls, value: str | None) -> str | None:
        """A number phonenumbers can place, in E.164; '' clears it."""
        return addresses.normalise_phone(value) if value else value

    @field_validator("quiet_hours")
    @classmethod
    def quiet_window(cls, value: str | None) -> str | None:
        """Accept 'HH:MM-HH:MM' or '' (no quiet hours)."""
        quiet_hours.parse_window(value)
        return value

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str | None) -> str | None:
        """Accept only IANA zone names."""
        if value is not None and value not in known_zones():
            raise ValueError(f"unknown IANA timezone {value!r}")
        return value

    @field_validator("telegram_chat_id", mode="before")
    @classmethod
    def chat_id_as_text(cls, value):
        """Telegram chat ids arrive as numbers or strings; keep them as text (true and false are neither)."""
        if isinstance(value, bool):
            raise ValueError("must be a number or text")
        return str(value) if isinstance(value, int) else value


class BookingPayload(BaseModel):
    """A booking event's payload: the platform's fields plus optional end and contacts."""

    model_config = ConfigDict(extra="ignore")

    booking_id: str = ID
    client_id: str | None = Field(default=None, min_length=1, max_length=64)
    expert_id: str | None = Field(default=None, min_length=1, max_length=64)
    scheduled_time: Moment | None = None
    end_time: Moment | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=24 * 60)
    service_name: str | None = Field(default=None, max_length=200)
    client: Contact | None = None
    expert: Contact | None = None

    @model_validator(mode="after")
    def consistent(self):
        """Refuse an end before the start and contacts that contradict the ids."""
        if self.end_time and self.scheduled_time and self.end_time <= self.scheduled_time:
            raise ValueError("end_time must be after scheduled_time")
        for role in ("client", "expert"):
            contact, given_id = getattr(self, role), getattr(self, f"{role}_id")
            if contact and given_id and contact.id != given_id:
                raise ValueError(f"{role}.id does not match {role}_id")
        return self

    def end(self, default_minutes: int) -> datetime | None:
        """Return the end: end_time, else start plus the duration or the default."""
        if self.end_time or not self.scheduled_time:
            return self.end_time
        minutes = self.duration_minutes or default_minutes
        return self.scheduled_time + timedelta(minutes=minutes)


class NewBookingPayload(BookingPayload):
    """booking.created needs the parties and the time."""

    client_id: str = ID
    expert_id: str = ID
    scheduled_time: Moment


class RescheduledPayload(BookingPayload):
    """booking.rescheduled needs the new start."""

    scheduled_time: Moment


class PaymentPayload(BaseModel):
    """A payment event's payload: who paid, how much, for what."""

    model_config = ConfigDict(extra="ignore")

    payment_id: str = ID
    user_id: str = ID
    booking_id: str | None = Field(default=None, max_length=64)
    # Finite, and small enough for any locale to format: NaN, Infinity or 1e308 cannot be shown to anyone.
    amount: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    reason: str | None = Field(default=None, max_length=500)
    user: Contact | None = None

    @field_validator("currency")
    @classmethod
    def iso_currency(cls, code: str | None) -> str | None:
        """An ISO 4217 code, as CLDR knows them (what Babel needs to format the amount); 'usd' is read as USD."""
        if code is not None and code.upper() not in CURRENCIES:
            raise ValueError(f"{code!r} is not an ISO 4217 currency code, like EUR or USD")
        return code.upper() if code else code

    @model_validator(mode="after")
    def consistent(self):
        """Refuse user details that contradict user_id (found by schemathesis: they made two recipients)."""
        if self.user and self.user.id != self.user_id:
            raise ValueError("user.id does not match user_id")
        return self


class UserPayload(Contact):
    """A user event's payload: the user and their contact details."""

    id: str | None = Field(default=None, max_length=64)
    user_id: str = ID
    reset_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")

    def contact(self) -> Contact:
        """Return the contact details this event carries."""
        fields = self.model_dump(exclude={"id", "user_id", "reset_url"})
        return Contact(id=self.user_id, **fields)


def contacts_carried(payload: BaseModel) -> list[Contact]:
    """The contact details a payload carries, for whichever people it names."""
    if isinstance(payload, UserPayload):
        found = [payload.contact()]
    elif isinstance(payload, PaymentPayload):
        found = [payload.user]
    else:
        found = [payload.client, payload.expert]
    return [contact for contact in found if contact is not None]


PAYLOADS: dict[str, type[BaseModel]] = {
    "booking.created": NewBookingPayload,
    "booking.accepted": BookingPayload,
    "booking.cancelled": BookingPayload,
    "booking.rescheduled": RescheduledPayload,
    "booking.reminder.24hr": BookingPayload,
    "payment.successful": PaymentPayload,
    "payment.failed": PaymentPayload,
    "payment.refunded": PaymentPayload,
    "user.welcome": UserPayload,
    "user.profile_updated": UserPayload,
    "user.password_reset": UserPayload,
}


class Envelope(BaseModel):
    """The message shape every source uses: {"event_type", "timestamp", "payload"}."""

    event_type: str
    timestamp: Moment
    payload: dict

    @field_validator("event_type")
    @classmethod
    def known_type(cls, value: str) -> str:
        """Accept only the event types Bellhop handles."""
        if value not in PAYLOADS:
            raise ValueError(f"unknown event type {value!r}; expected one of {sorted(PAYLOADS)}")
        return value


class Event(BaseModel):
    """A validated event: its type, when it happened, and its typed payload."""

    event_type: str
    timestamp: datetime
    payload: BaseModel


def describe(error: ValidationError, prefix: str = "") -> str:
    """Name the first wrong field and why, e.g. 'payload.scheduled_time: ...'."""
    first = error.errors()[0]
    path = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    message = first["msg"].removeprefix("Value error, ")
    return f"{path}: {message}" if path else message


def screen_json(raw: bytes | str) -> None:
    """Refuse an object that names a key twice (the parser would keep the last, the stored body shows both),
    and text holding control characters, wherever they are."""
    try:
        parsed = json.loads(raw, object_pairs_hook=unique_keys)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return  # not JSON the standard parser takes: the model's parser says what is wrong, in its own words
    if may_hold_control_characters(raw):
        refuse_control_characters(parsed, "")


def may_hold_control_characters(raw: bytes | str) -> bool:
    """Whether the parsed text could hold one: JSON escapes C0 controls, so only an escape or a raw one can."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return "\\" in text or CONTROL_CHARACTERS.search(text) is not None


def refuse_control_characters(value, path: str) -> None:
    """Walk a parsed event; InvalidEvent naming the first key or text with a control character."""
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else key
            if CONTROL_CHARACTERS.search(key):
                raise InvalidEvent(f"{inner[:80]!r}: a key must not contain control characters")
            refuse_control_characters(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_control_characters(item, f"{path}[{index}]")
    elif isinstance(value, str) and CONTROL_CHARACTERS.search(value):
        found = CONTROL_CHARACTERS.search(value)[0]
        raise InvalidEvent(f"{path}: must not contain control characters (found {found!r})")


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object's dict, or InvalidEvent naming a key it gives twice."""
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise InvalidEvent(f"{twice[:40]!r}: the key appears twice in one object")
    return found


def parse_event(raw: bytes | str) -> Event:
    """Validate a raw event body, raising InvalidEvent that names the field."""
    if NUL.search(raw if isinstance(raw, str) else raw.decode("utf-8", "replace")):
        # PostgreSQL text cannot hold NUL; say so here rather than fail at the database.
        raise InvalidEvent("text must not contain NUL characters (\\u0000)")
    screen_json(raw)
    try:
        # Strict: a JSON true is not the number 1, nor 12 the text "12", as the documented types say.
        envelope = Envelope.model_validate_json(raw, strict=True)
    except ValidationError as error:
        raise InvalidEvent(describe(error)) from None
    try:
        payload = PAYLOADS[envelope.event_type].model_validate(envelope.payload, strict=True)
    except ValidationError as error:
        raise InvalidEvent(describe(error, "payload")) from None
    return Event(event_type=envelope.event_type, timestamp=envelope.timestamp, payload=payload)
