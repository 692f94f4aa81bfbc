"""A Twilio-shaped server that misbehaves on cue, for the fault tests.

``POST .../Messages.json`` takes a message unless the recipient's next scripted fault
says otherwise; ``GET .../Messages.json?To=...`` lists what it took for that number,
newest first, as Twilio's list does (``status`` ``queued``: it never sends receipts, and
no ``date_sent``, so a ``DateSent`` filter leaves them out, as Twilio's does).

Faults, scripted per recipient (``FaultyTwilio(faults={"+1...": ["500", "ok"]})``),
one consumed per POST to that number; once the script is used up, posts succeed:

- ``"500"``, ``"502"``, ``"503"``: that status, the message NOT taken;
- ``"500+"``: the message taken, then 500 (the provider failed after taking it);
- ``"429"``: rate limited with ``Retry-After: 1``; ``"429-"``: without Retry-After;
- ``"timeout"``: taken, then the answer comes ``hang`` seconds later (after the
  client gave up);
- ``"drop"``: taken, then the connection is closed in the middle of the answer;
- ``"garbage"``: taken, answered 201 with a body that is not JSON;
- ``"nosid"``: taken, answered 201 with JSON that has no ``sid``;
- ``"slow"``: taken and answered normally, ``slow`` seconds late.

``taken`` counts the messages the provider has, per recipient: the invariant the tests
check is that it is exactly one for everybody (nobody lost, nobody twice).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.asgi import read_body

Message = MutableMapping[str, Any]
FAULTS = ("500", "502", "503", "500+", "429", "429-", "timeout", "drop", "garbage", "nosid", "slow")


class FaultyTwilio:
    """See the module."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        faults: dict[str, list[str]] | None = None,
        hang: float = 2.0,
        slow: float = 0.2,
    ) -> None:
        unknown = {f for script in (faults or {}).values() for f in script} - {*FAULTS, "ok"}
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        self.clock = clock
        self.faults = {to: list(script) for to, script in (faults or {}).items()}
        self.hang = hang
        self.slow = slow
        self.records: list[dict[str, Any]] = []
        self.posts: Counter[str] = Counter()
        self.queries = 0

    @property
    def taken(self) -> Counter[str]:
        """Messages the provider has, per recipient."""
        return Counter(r["to"] for r in self.records)

    def _take(self, form: dict[str, str]) -> dict[str, Any]:
        record = {
            "sid": "SM" + uuid.uuid4().hex,
            "to": form.get("To", ""),
            "from": form.get("From", ""),
            "body": form.get("Body", ""),
            "status": "queued",
            "date_sent": None,
            "date_created": email.utils.format_datetime(self.clock()),
        }
        self.records.append(record)
        return record

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)

        async def answer(status: int, content: bytes, headers: list[tuple[bytes, bytes]]) -> None:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        json_type = [(b"content-type", b"application/json")]
        if scope["method"] != "POST":
            self.queries += 1
            query = parse_qs(scope.get("query_string", b"").decode())
            to = (query.get("To") or [""])[0]
            size = int((query.get("PageSize") or ["50"])[0])
            listed = [r for r in reversed(self.records) if r["to"] == to]
            if any(k.startswith("DateSent") for k in query):
                # As Twilio: a date filter is on date_sent, which a queued message lacks.
                listed = [r for r in listed if r["date_sent"] is not None]
            listed = listed[:size]
            await answer(200, json.dumps({"messages": listed}).encode(), json_type)
            return
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        to = form.get("To", "")
        self.posts[to] += 1
        script = self.faults.get(to)
        fault = script.pop(0) if script else "ok"
        if fault in ("500", "502", "503"):
            error = {"code": 20500, "message": "Internal Server Error", "status": int(fault)}
            await answer(int(fault), json.dumps(error).encode(), json_type)
            return
        if fault in ("429", "429-"):
            headers = [*json_type, (b"retry-after", b"1")] if fault == "429" else json_type
            limited = {"code": 20429, "message": "Too Many Requests", "status": 429}
            await answer(429, json.dumps(limited).encode(), headers)
            return
        if fault == "slow":
            await asyncio.sleep(self.slow)
        record = self._take(form)
        taken = json.dumps(record).encode()
        if fault == "500+":
            await answer(500, b'{"code": 20500, "message": "Internal Server Error"}', json_type)
        elif fault == "timeout":
            await asyncio.sleep(self.hang)
            await answer(201, taken, json_type)
        elif fault == "drop":
            headers = [*json_type, (b"content-length", str(len(taken)).encode())]
            await send({"type": "http.response.start", "status": 201, "headers": headers})
            await send({"type": "http.response.body", "body": taken[:10], "more_body": True})
            raise ConnectionAbortedError("closed in the middle of the answer (scripted)")
        elif fault == "garbage":
            html = [(b"content-type", b"text/html")]
            await answer(201, b"<html>Service Unavailable</html>", html)
        elif fault == "nosid":
            await answer(201, b'{"status": "queued"}', json_type)
        else:
            await answer(201, taken, json_type)
