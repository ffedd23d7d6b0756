"""Bounce and complaint messages as mail servers write them, built around a message Bellhop sent.

Each is what arrives at Bellhop's bounce address: addressed to the message's own Return-Path
(VERP), with the shape of the sender named: RFC 3464 reports from Postfix, Gmail and Outlook,
Exim's plain-text notice, a delayed-delivery warning, and an RFC 5965 (ARF) abuse report.
"""

from email.parser import BytesHeaderParser
from pathlib import Path

BOUNDARY = "=_report_boundary"


def headers_of(original: bytes) -> str:
    """The original message's header block, as reports that return only headers include it."""
    return original.split(b"\r\n\r\n", 1)[0].decode().replace("\r\n", "\n") + "\n"


def report(return_path: str, sender: str, subject: str, report_type: str, parts: list[tuple[str, str]]) -> bytes:
    """A multipart/report message made of (content type, body) parts."""
    head = (
        f"Return-Path: <>\nDelivered-To: {return_path}\nFrom: {sender}\nTo: {return_path}\nSubject: {subject}\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="{BOUNDARY}"\n\n'
    )
    body = "".join(f"--{BOUNDARY}\nContent-Type: {kind}\n\n{text}\n" for kind, text in parts)
    return (head + body + f"--{BOUNDARY}--\n").encode()


def postfix(original: bytes, return_path: str, address: str) -> bytes:
    return report(
        return_path,
        "MAILER-DAEMON@mx.example.com (Mail Delivery System)",
        "Undelivered Mail Returned to Sender",
        "delivery-status",
        [
            ("text/plain", f"This is the mail system at host mx.example.com.\n\n<{address}>: host said: 550 5.1.1"),
            (
                "message/delivery-status",
                "Reporting-MTA: dns; mx.example.com\nX-Postfix-Queue-ID: 4F1A2B3C\n"
                "Arrival-Date: Tue,  1 Dec 2026 10:00:00 +0000 (UTC)\n\n"
                f"Final-Recipient: rfc822; {address}\nOriginal-Recipient: rfc822;{address}\nAction: failed\n"
                "Status: 5.1.1\nRemote-MTA: dns; in.example.net\n"
                f"Diagnostic-Code: smtp; 550 5.1.1 <{address}>: Recipient address rejected: User unknown",
            ),
            ("message/rfc822", original.decode().replace("\r\n", "\n")),
        ],
    )


def gmail(original: bytes, return_path: str, address: str) -> bytes:
    return report(
        return_path,
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Failure)",
        "delivery-status",
        [
            ("text/plain", f"Address not found\n\nYour message wasn't delivered to {address} because the address"),
            (
                "message/delivery-status",
                "Reporting-MTA: dns; googlemail.com\nArrival-Date: Tue, 01 Dec 2026 02:00:00 -0800 (PST)\n\n"
                f"Final-Recipient: rfc822; {address}\nAction: failed\nStatus: 5.1.1\n"
                "Remote-MTA: dns; gmail-smtp-in.l.google.com. (2607:f8b0::1b)\n"
                "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.",
            ),
            ("text/rfc822-headers", headers_of(original)),
        ],
    )


def outlook(original: bytes, return_path: str, address: str) -> bytes:
    return report(
        return_path,
        "Microsoft Outlook <MAILER-DAEMON@eur.prod.outlook.com>",
        "Undeliverable: Your session reminder",
        "delivery-status",
        [
            ("text/plain", f"Delivery has failed to these recipients or groups:\n\n{address}\nThe email address"),
            (
                "message/delivery-status",
                "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.outlook.com\n"
                "Received-From-MTA: dns;mail.example.com\nArrival-Date: Tue, 1 Dec 2026 10:00:00 +0000\n\n"
                f"Original-Recipient: rfc822;{address}\nFinal-Recipient: rfc822;{address}\nAction: failed\n"
                "Status: 5.1.10\nDiagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
                "Recipient not found by SMTP address lookup",
            ),
            ("text/rfc822-headers", headers_of(original)),
        ],
    )


def exim(original: bytes, return_path: str, address: str) -> bytes:
    head = (
        f"Return-Path: <>\nDelivered-To: {return_path}\nX-Failed-Recipients: {address}\n"
        f"From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nTo: {return_path}\n"
        "Subject: Mail delivery failed: returning message to sender\nAuto-Submitted: auto-replied\n\n"
    )
    body = (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {address}\n    host in.example.org [192.0.2.1]\n"
        f"    SMTP error from remote mail server after RCPT TO:<{address}>:\n    550 5.1.1 User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
    )
    return (head + body + original.decode().replace("\r\n", "\n")).encode()


def delayed(original: bytes, return_path: str, address: str) -> bytes:
    return report(
        return_path,
        "MAILER-DAEMON@mx.example.com (Mail Delivery System)",
        "Delayed Mail (still being retried)",
        "delivery-status",
        [
            ("text/plain", "This is the mail system at host mx.example.com.\n\n#### delayed ####"),
            (
                "message/delivery-status",
                "Reporting-MTA: dns; mx.example.com\n\n"
                f"Final-Recipient: rfc822; {address}\nAction: delayed\nStatus: 4.2.2\n"
                "Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\nWill-Retry-Until: Sat, 5 Dec 2026 10:00:00 +0000",
            ),
            ("text/rfc822-headers", headers_of(original)),
        ],
    )


def complaint(original: bytes, return_path: str, address: str) -> bytes:
    """An RFC 5965 abuse report, as a mailbox provider's feedback loop sends it."""
    return report(
        "fbl@example.com",
        "staff@hotmail.com",
        "complaint about message from 192.0.2.10",
        "feedback-report",
        [
            ("text/plain", "This is an email abuse report for an email message received from IP 192.0.2.10."),
            (
                "message/feedback-report",
                f"Feedback-Type: abuse\nUser-Agent: Hotmail FBL\nVersion: 1\nOriginal-Mail-From: <{return_path}>\n"
                f"Original-Rcpt-To: <{address}>\nArrival-Date: Tue, 1 Dec 2026 10:00:00 +0000\n"
                "Reported-Domain: example.com\nSource-IP: 192.0.2.10",
            ),
            ("message/rfc822", original.decode().replace("\r\n", "\n")),
        ],
    )


SHAPES = {"postfix": postfix, "gmail": gmail, "outlook": outlook, "exim": exim}


def message_id(original: bytes) -> str:
    return BytesHeaderParser().parsebytes(original)["Message-ID"]


def relayed(original: bytes, return_path: str, address: str) -> bytes:
    """A success DSN (RFC 3464 Action: relayed, Status 2.0.0): no bounce at all."""
    return report(
        return_path,
        "MAILER-DAEMON@mx.example.com (Mail Delivery System)",
        "Successful Mail Delivery Report",
        "delivery-status",
        [
            ("text/plain", "This is the mail system at host mx.example.com.\n\nYour message was relayed."),
            (
                "message/delivery-status",
                f"Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; {address}\nAction: relayed\n"
                "Status: 2.0.0\nDiagnostic-Code: smtp; 250 2.0.0 Ok: queued as 4Bx",
            ),
            ("text/rfc822-headers", headers_of(original)),
        ],
    )


CORPUS = Path(__file__).parent.parent / "corpora" / "sisimai" / "mail"


def from_corpus(name: str, return_path: str) -> bytes:
    """A real notice from sisimai's corpus, as delivered to our signed bounce address (its Delivered-To)."""
    return f"Delivered-To: {return_path}\r\n".encode() + (CORPUS / f"{name}.eml").read_bytes()
