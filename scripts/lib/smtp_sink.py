#!/usr/bin/python3
"""Development SMTP sink for Herald.

Accepts every message and stores each one as a readable file DIR/<UTC timestamp>-<counter>.eml holding the raw message as received,
preceded by two envelope lines that tests can assert on:

    X-Herald-Sink-Mail-From: <MAIL FROM address>
    X-Herald-Sink-Rcpt-To: <RCPT TO addresses, comma separated>

It speaks SMTP the way Postfix does where Herald's client depends on it: EHLO offers
PIPELINING (commands sent in groups are answered in order), and a transaction is kept as
state: a MAIL FROM while one is open is "503 Error: nested MAIL command" until RSET or the
end of DATA closes it; RCPT TO before MAIL FROM and DATA before RCPT TO are 503 too; a
recipient that is not an address (e.g. <a,b@example.com>) is a 501. AUTH accepts any
user and password.

Files are written under a hidden temporary name and renamed, so a reader globbing
*.eml never sees half a message. No fsync: this is a sink for development and tests.

Run it with Debian's /usr/bin/python3 (package python3-aiosmtpd); another python3 on
PATH (pyenv, venv) usually cannot import aiosmtpd.

    /usr/bin/python3 smtp_sink.py --host 127.0.0.1 --port 1025 --dir .run/mail
"""

import argparse
import asyncio
import datetime
import itertools
import logging
import os
import signal
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit(
        "smtp_sink: cannot import aiosmtpd; install python3-aiosmtpd and run with "
        "/usr/bin/python3 (this is %s)" % sys.executable
    )


class MaildirHandler:
    """aiosmtpd handler: one file per accepted message."""

    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        """Offers PIPELINING, as Postfix does (aiosmtpd answers pipelined commands in order)."""
        session.host_name = hostname
        return responses[:-1] + ["250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
        name = "%s-%06d.eml" % (stamp, n)

        # original_content is the message exactly as the client sent it (bytes).
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        # Keep the message's own line ending style for the added header lines.
        eol = b"\r\n" if b"\r\n" in raw[:4096] or not raw else b"\n"
        mail_from = envelope.mail_from or ""
        rcpt_to = ", ".join(envelope.rcpt_tos)
        head = (
            b"X-Herald-Sink-Mail-From: " + mail_from.encode("utf-8", "replace") + eol
            + b"X-Herald-Sink-Rcpt-To: " + rcpt_to.encode("utf-8", "replace") + eol
        )

        tmp = os.path.join(self.directory, ".tmp-%d-%s" % (os.getpid(), name))
        final = os.path.join(self.directory, name)
        with open(tmp, "wb") as f:
            f.write(head)
            f.write(raw)
        os.rename(tmp, final)  # atomic within one directory

        print(
            "%s from=<%s> to=<%s> bytes=%d file=%s"
            % (now.strftime("%H:%M:%S.%f")[:-3], mail_from, rcpt_to, len(raw), name),
            flush=True,
        )
        return "250 OK: queued as %s" % name


def accept_any_login(server, session, envelope, mechanism, auth_data):
    """Any user/password is fine: clients configured with smtp://user:pass@ must work."""
    return AuthResult(success=True)


def parse_args():
    p = argparse.ArgumentParser(description="Herald development SMTP sink")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1025)
    p.add_argument("--dir", required=True, help="directory receiving one .eml per message")
    return p.parse_args()


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    handler = MaildirHandler(args.dir)

    def factory():
        # hostname given explicitly: the default calls socket.getfqdn() for every
        # connection, which can stall on DNS.
        return SMTP(
            handler,
            hostname="herald-smtp-sink",
            enable_SMTPUTF8=True,
            authenticator=accept_any_login,
            auth_require_tls=False,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host=args.host, port=args.port)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    print(
        "smtp_sink: ready on %s:%d, writing messages to %s (pid %d)"
        % (args.host, args.port, os.path.abspath(args.dir), os.getpid()),
        flush=True,
    )
    await stop.wait()
    server.close()
    await server.wait_closed()
    print("smtp_sink: stopped", flush=True)


def main():
    args = parse_args()
    # aiosmtpd logs a deprecation warning on every AUTH from its own internals; the
    # sink's output should be one line per message.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    try:
        asyncio.run(serve(args))
    except OSError as e:  # typically: address already in use
        sys.exit("smtp_sink: cannot listen on %s:%d: %s" % (args.host, args.port, e))


if __name__ == "__main__":
    main()
