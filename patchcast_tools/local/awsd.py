"""The local AWS process: moto in server mode, plus the outbox of every email SES accepted.

Runs in its own process so moto does not share a GIL with the code under test. Its SES refuses what SES
refuses and stamps what SES stamps (``strict_ses``). The outbox is read straight from moto's SES backend
(same process), written to ``<dir>/<n>.eml`` and served over HTTP (``patchcast_tools/outbox.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from patchcast_tools import outbox as outbox_web

ACCOUNT = "123456789012"


def _sent_messages() -> list[Any]:
    from moto.ses.models import ses_backends

    found: list[Any] = []
    for regions in ses_backends.values():
        for backend in regions.values():
            found.extend(getattr(backend, "sent_messages", []))
    return found


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.eml"):
            old.unlink()
        self._written = 0
        self._lock = threading.Lock()

    def drain(self) -> None:
        with self._lock:
            messages = _sent_messages()
            for message in messages[self._written :]:
                self._written += 1
                raw = getattr(message, "raw_data", None)
                if raw is None:  # a Simple send: keep it readable all the same
                    raw = f"From: {message.source}\nTo: {', '.join(message.destinations.get('ToAddresses', []))}\nSubject: {message.subject}\n\n{message.body}"
                tmp = self.dir / f".{self._written}.tmp"
                tmp.write_text(raw, encoding="utf-8")
                tmp.rename(self.dir / f"{self._written}.eml")  # readers never see half a message


def realistic_ses_feedback() -> None:
    """moto publishes simulator feedback (bounce@, complaint@simulator.amazonses.com) naming canned
    example.com recipients; SES names the address that bounced or complained. Publish that instead, so
    the feedback handler sees locally what it sees in AWS."""
    import copy
    from email.utils import parseaddr

    from moto.ses.feedback import BOUNCE, COMMON_MAIL, COMPLAINT
    from moto.ses.models import SESBackend
    from moto.sns.models import sns_backends

    def process(self: SESBackend, source: str, destinations: object) -> None:
        kind = self.__type_of_message__(destinations)
        topic = self.sns_topics.get(str(source).rpartition("@")[2], {}).get(kind or "")
        if topic is None or kind not in ("Bounce", "Complaint"):
            return
        listed = destinations if isinstance(destinations, list) else destinations.get("ToAddresses", [])  # type: ignore[attr-defined]
        to = [parseaddr(a)[1] for a in listed]
        msg: dict[str, Any] = copy.deepcopy({**COMMON_MAIL, "notificationType": kind})
        msg["mail"].update(source=source, destination=to, sendingAccountId=self.account_id)
        if kind == "Bounce":
            msg["bounce"] = {
                **copy.deepcopy(BOUNCE),
                "bouncedRecipients": [
                    {
                        "emailAddress": a,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    }
                    for a in to
                ],
            }
        else:
            msg["complaint"] = {**copy.deepcopy(COMPLAINT), "complainedRecipients": [{"emailAddress": a} for a in to]}
        # moto's raw delivery to SQS (the feedback queue) iterates the attributes: None would fail the send
        sns_backends[self.account_id][self.region_name].publish(json.dumps(msg), arn=topic, message_attributes={})

    SESBackend.__process_sns_feedback__ = process  # type: ignore[method-assign]


def lean_server() -> None:
    """moto's server logs every request line and lists its own package directory on every request to
    find the service; at bench rates that is a quarter of the local AWS's CPU. Log warnings only, and
    list the (unchanging) directory once."""
    import logging

    from moto import backends

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    lean_sqs()


def lean_sqs() -> None:
    """moto's SQS checks each message it receives against the queue's retention period by building every
    attribute of the queue (its approximate counts walk all its messages), and reads the clock through two
    naive datetimes: at bench rates a sixth of the local SES/SQS process's CPU. Read the one attribute, and
    the clock as ``time.time()`` (the same seconds since the epoch)."""
    from moto.sqs import models

    def retained(self: models.SQSBackend, queue_name: str, message: models.Message) -> bool:
        queue: Any = self.get_queue(queue_name)  # message_retention_period: set from its attributes
        retention = int(queue.message_retention_period)
        return retention + message.sent_timestamp / 1000 > time.time()  # type: ignore[operator]

    models.SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]
    of = models.unix_time  # for a given datetime
    models.unix_time = lambda dt=None: time.time() if dt is None else of(dt)  # type: ignore[assignment]
    models.unix_time_millis = lambda dt=None: models.unix_time(dt) * 1000.0  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--outbox-port", type=int, default=8025, help="0: no outbox (a process serving DynamoDB alone)")
    parser.add_argument("--outbox-dir", type=Path, default=Path(".local/outbox"))
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    from patchcast_tools.local import dynamodb_fidelity, strict_s3, strict_ses

    strict_ses.install()  # the local SES refuses what SES refuses (before the server serves)
    strict_s3.install()  # S3's ETags under SSE-KMS, and its Content-MD5 check of a part
    realistic_ses_feedback()
    lean_server()
    dynamodb_fidelity.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    outbox, web = None, None
    if args.outbox_port:
        outbox = Outbox(args.outbox_dir)
        web = ThreadingHTTPServer(("127.0.0.1", args.outbox_port), outbox_web.handler(outbox.dir, outbox.drain))
        threading.Thread(target=web.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"local AWS ready on 127.0.0.1:{args.port}, outbox on 127.0.0.1:{args.outbox_port or '-'}", flush=True)
    parent = os.getppid()
    while not stop.is_set():
        if outbox is not None:
            outbox.drain()
        time.sleep(0.1)
        if os.getppid() != parent:  # the stack that started us died without stopping us: do not linger
            break
    if web is not None:
        web.shutdown()
    server.stop()


if __name__ == "__main__":
    main()
