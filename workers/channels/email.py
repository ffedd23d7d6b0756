"""The email channel: SMTP, with STARTTLS or SSL and a login when configured."""

import smtplib
import ssl
from contextlib import contextmanager
from datetime import datetime, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from html import escape

from webapp.domain.after_sending import bounces
from webapp.domain.sending.channel_contract import permanent, transient
from workers.channels.base import Channel

# Headers are folded only past RFC 5322's hard limit of 998 characters. At the default 78, Python
# folds a long List-Unsubscribe URL into RFC 2047 encoded words, which mail providers read as it
# stands, and their one-click unsubscribe stops working.
HEADERS_ON_ONE_LINE = policy.default.clone(max_line_length=998)


class EmailChannel(Channel):
    """Send each message as a multipart text and HTML email over one SMTP connection per batch."""

    name = "email"

    @contextmanager
    def opened(self):
        """Connect lazily on the first send, reuse the connection for the batch, and quit after."""
        self.connection = None
        try:
            yield self
        finally:
            self.close()

    def send(self, message):
        """Send one email; SMTP 4xx answers are transient, 5xx permanent."""
        address = message.recipient.get("email")
        if not address:
            raise permanent("recipient has no email address")
        email = self.compose(message, address)
        # A Return-Path of its own (VERP), so a bounce names the message: see webapp/domain/after_sending/bounces.py.
        sender = bounces.envelope_sender(message.notification_id, self.config) if message.notification_id else None
        try:
            refused = self.connect().send_message(email, from_addr=sender)
        except smtplib.SMTPResponseException as error:
            self.reset_after(error)
            raise classified(error.smtp_code, error.smtp_error) from None
        except smtplib.SMTPRecipientsRefused as error:
            code, reason = next(iter(error.recipients.values()))
            raise classified(code, reason) from None
        except (smtplib.SMTPException, OSError) as error:  # dropped connection, timeout, refused
            self.close()
            raise transient(f"SMTP connection failed: {error.__class__.__name__}: {error}") from None
        if refused:
            code, reason = next(iter(refused.values()))
            raise classified(code, reason)
        return f"SMTP accepted {email['Message-ID']}"

    def compose(self, message, address: str) -> EmailMessage:
        """Build the multipart email: plain text first, HTML second, with the headers mail clients expect."""
        config = self.config
        email = EmailMessage(policy=HEADERS_ON_ONE_LINE)
        email["Date"] = format_datetime(datetime.now(timezone.utc))  # RFC 5322 requires it; smtplib adds none
        email["Subject"] = message.subject
        email["From"] = config["SMTP_FROM"]
        # Address quotes or encodes the name as it needs: commas, quotes and brackets stay in the name.
        email["To"] = Address(display_name=message.recipient.get("name") or "", addr_spec=address)
        email["Message-ID"] = make_msgid(idstring=message.idempotency_key, domain=config["SMTP_MESSAGE_ID_DOMAIN"])
        unsubscribe = message.unsubscribe_url
        text = message.body
        if unsubscribe:
            # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to the link.
            email["List-Unsubscribe"] = f"<{unsubscribe}>"
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            text = f"{text}\n\n--\nUnsubscribe: {unsubscribe}"
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office replies do not answer it
        email.set_content(text)
        email.add_alternative(html_body(message.subject, message.body, unsubscribe), subtype="html")
        return email

    def connect(self) -> smtplib.SMTP:
        """Open (once per batch) and authenticate the SMTP connection."""
        if self.connection is not None:
            return self.connection
        config, timeout = self.config, self.config["SMTP_TIMEOUT_SECONDS"]
        host, port, security = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_SECURITY"]
        context = ssl.create_default_context(cafile=config.get("SMTP_CA_FILE") or None)
        if security == "ssl":
            connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            connection = smtplib.SMTP(host, port, timeout=timeout)
            if security == "starttls":
                connection.starttls(context=context)
        if config["SMTP_USERNAME"]:
            connection.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
        self.connection = connection
        return connection

    def reset_after(self, error: smtplib.SMTPResponseException) -> None:
        """After a refused message keep the connection usable for the next; after a dropped one, reconnect."""
        if error.smtp_code in (421, -1):
            self.close()
            return
        try:
            self.connection.rset()
        except (smtplib.SMTPException, OSError, AttributeError):
            self.close()

    def close(self) -> None:
        """Say goodbye politely; a connection that is already gone needs nothing."""
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                pass
        self.connection = None


def classified(code: int, reason: bytes | str):
    """SMTP reply codes: 4xx says try later, 5xx says never."""
    text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    detail = f"SMTP {code}: {text}"
    if 400 <= code < 500 or code < 0:
        return transient(detail)
    return permanent(detail, dead_address=code in (550, 551, 553) and text.lstrip().startswith(NO_SUCH_MAILBOX))


# RFC 3463 statuses for an address that does not exist: bad mailbox (5.1.0, 5.1.1), bad domain (5.1.2),
# bad syntax (5.1.3), moved (5.1.6), disabled (5.2.1); a full mailbox (5.2.2) may empty, so it is not here.
NO_SUCH_MAILBOX = ("5.1.0", "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1")


def html_body(subject: str, body: str, unsubscribe: str | None) -> str:
    """The HTML alternative: the same text, escaped, one paragraph per blank-line block."""
    paragraphs = "".join(f"<p>{escape(block).replace(chr(10), '<br>')}</p>" for block in body.split("\n\n"))
    if unsubscribe:
        paragraphs += f'<p style="font-size:small"><a href="{escape(unsubscribe)}">Unsubscribe</a></p>'
    return f"<!doctype html><html><head><title>{escape(subject)}</title></head><body>{paragraphs}</body></html>"
