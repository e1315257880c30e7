"""An SMTP server (aiosmtpd) that accepts every message and prints each as one JSON line:
{"from", "to", "subject", "body"}. It prints its port first.

  smtp_sink.py
"""
import asyncio
import email
import email.policy
import json
import socket

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        print(json.dumps({
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "header_from": str(message["From"]),
            "subject": str(message["Subject"]),
            "body": body.get_content() if body else "",
        }), flush=True)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main():
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    await asyncio.get_running_loop().create_future()


asyncio.run(main())
