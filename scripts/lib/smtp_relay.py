#!/usr/bin/python3
"""Scriptable SMTP relay for Herald's tests: answers chosen per recipient.

Speaks like scripts/lib/smtp_sink.py (PIPELINING, Postfix's transaction state: 503 for a
nested MAIL FROM, RSET clears) and stores accepted mails the same way (DIR/*.eml with
X-Herald-Sink-* envelope lines), but answers by the recipient's local part:

    reject-...      550 5.1.1 at RCPT TO (no such mailbox; the transaction stays open)
    defer-once-...  451 4.2.0 at RCPT TO the first time this address is seen, then accepted
    defer-...       451 4.2.0 at RCPT TO, every time
    datareject-...  accepted at RCPT TO, 554 5.7.1 at the end of DATA (nothing stored)
    hang-once-...   RCPT TO is not answered the first time this address is seen (the
                    connection stays open, silent, until the client hangs up), then accepted
    hang-...        RCPT TO is never answered
    badsyntax-...   501 5.1.3 at RCPT TO (a relay refusing the address's syntax; Herald's
                    users service no longer stores addresses a relay would refuse so)
    anything else   accepted and stored
    a,b@example.com and other non-addresses: 501 (aiosmtpd's syntax check, as Postfix)

Every answer to RCPT TO and to the end of DATA is appended to DIR/answers.log, one line
"<unix ms> <RCPT|DATA> <code> <address>" (code 0: "hang", not answered), so tests can
count attempts per recipient.

One process listens on any number of ports, each in its own mode:

    --listen plain:PORT                   plain SMTP
    --listen starttls:PORT:CERT:KEY       STARTTLS offered and required before MAIL FROM
    --listen smtps:PORT:CERT:KEY          implicit TLS (TLS from the first byte)

Run it with Debian's /usr/bin/python3 (package python3-aiosmtpd).

    /usr/bin/python3 smtp_relay.py --dir mail --listen plain:2525 \\
        --listen smtps:2465:relay.pem:relay.key
"""

import argparse
import asyncio
import collections
import logging
import os
import signal
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    from aiosmtpd.smtp import SMTP
    from smtp_sink import MaildirHandler, accept_any_login
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.exit("smtp_relay: %s; install python3-aiosmtpd and run with /usr/bin/python3" % e)


class ScriptedHandler(MaildirHandler):
    """MaildirHandler whose answers depend on the recipient's local part."""

    def __init__(self, directory):
        super().__init__(directory)
        self.seen = collections.Counter()
        self.answers = open(os.path.join(directory, "answers.log"), "a", buffering=1)

    def note(self, step, code, address):
        self.answers.write("%d %s %d %s\n" % (int(time.time() * 1000), step, code, address))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        self.seen[address] += 1
        first = self.seen[address] == 1
        if (local.startswith("hang-once-") and first) or (
                local.startswith("hang-") and not local.startswith("hang-once-")):
            self.note("RCPT", 0, address)
            await asyncio.Event().wait()  # never answers; cancelled when the client hangs up
        if local.startswith("reject-"):
            reply = ("550 5.1.1 <%s>: Recipient address rejected: "
                     "User unknown in local recipient table" % address)
        elif local.startswith("badsyntax-"):
            reply = "501 5.1.3 Bad recipient address syntax"
        elif (local.startswith("defer-once-") and first) or (
                local.startswith("defer-") and not local.startswith("defer-once-")):
            reply = "451 4.2.0 <%s>: Recipient address rejected: try again later" % address
        else:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            reply = "250 2.1.5 Ok"
        self.note("RCPT", int(reply[:3]), address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        if any(r.split("@", 1)[0].lower().startswith("datareject-") for r in envelope.rcpt_tos):
            for r in envelope.rcpt_tos:
                self.note("DATA", 554, r)
            return "554 5.7.1 Message rejected: content refused"
        reply = await super().handle_DATA(server, session, envelope)
        for r in envelope.rcpt_tos:
            self.note("DATA", 250, r)
        return reply


def parse_listen(text):
    parts = text.split(":")
    mode = parts[0]
    if mode == "plain" and len(parts) == 2:
        return mode, int(parts[1]), None
    if mode in ("starttls", "smtps") and len(parts) == 4:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(parts[2], parts[3])
        return mode, int(parts[1]), ctx
    raise argparse.ArgumentTypeError("--listen plain:PORT | starttls:PORT:CERT:KEY | "
                                     "smtps:PORT:CERT:KEY, not %r" % text)


def parse_args():
    p = argparse.ArgumentParser(description="Herald's scriptable SMTP relay for tests")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir", required=True, help="directory receiving one .eml per message")
    p.add_argument("--listen", type=parse_listen, action="append", required=True)
    return p.parse_args()


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    handler = ScriptedHandler(args.dir)
    loop = asyncio.get_running_loop()
    servers = []
    for mode, port, ctx in args.listen:
        def factory(mode=mode, ctx=ctx):
            return SMTP(
                handler,
                hostname="herald-smtp-relay",
                enable_SMTPUTF8=True,
                authenticator=accept_any_login,
                auth_require_tls=False,
                tls_context=ctx if mode == "starttls" else None,
                require_starttls=mode == "starttls",
            )
        servers.append(await loop.create_server(
            factory, host=args.host, port=port, ssl=ctx if mode == "smtps" else None))
        print("smtp_relay: %s on %s:%d" % (mode, args.host, port), flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("smtp_relay: ready, writing messages to %s (pid %d)"
          % (os.path.abspath(args.dir), os.getpid()), flush=True)
    await stop.wait()
    for s in servers:
        s.close()
    print("smtp_relay: stopped", flush=True)


def main():
    args = parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    try:
        asyncio.run(serve(args))
    except OSError as e:  # typically: address already in use
        sys.exit("smtp_relay: cannot listen: %s" % e)


if __name__ == "__main__":
    main()
