"""Web chat through the Chatwoot API, sans-IO, as a small state machine.

A message is addressed to a Chatwoot contact (``to`` = the contact id) and lands in a
conversation of the configured inbox. Sending takes several requests, each a `SendRequest`
whose ``step`` and ``context`` carry what was learned so far, each answered by a result
whose ``follow_up`` is the next request (`msgkit.providers.transport.perform` drives it):

1. ``find`` — ``GET /api/v1/accounts/{account}/contacts/{contact}/conversations``: the
   newest conversation of the contact in the inbox that is not resolved. Skipped when
   ``options["conversation_id"]`` is given.
2. ``create`` — when there is none: ``POST /api/v1/accounts/{account}/conversations``
   with ``inbox_id``, ``contact_id``, ``assignee_id``, ``team_id`` (and ``source_id`` if
   ``options`` has one), so the visitor's reply goes to the chosen agent or team.
3. ``assign`` — for a conversation found with another assignee or team:
   ``POST .../conversations/{id}/assignments`` (one for the agent, one for the team).
   Best effort: a refused assignment does not stop the message.
4. ``fetch`` — one ``GET`` per image URL in ``media``, to attach its bytes
   (``options["attachments"]`` may give ``(filename, bytes, content type)`` directly).
5. ``message`` — ``POST .../conversations/{id}/messages``: JSON ``{"content",
   "message_type": "outgoing", "private": false, "content_type": "text",
   "content_attributes": {}}``, or multipart with ``attachments[]`` when there are images.
   Emojis are plain UTF-8.

The message is posted as the agent whose API token is used: the provider's token, or
the token of the agent named by the message's ``sender`` (``agent_token_envs``). Steps
before ``message`` send nothing, so their failures are retried; the ``message`` step
cannot be repeated safely (a 5xx or a timeout there is unknown). Once posted, a web
message is final: Chatwoot reports no delivery, and it cannot be recalled.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from msgkit.core.delivery import Channel
from msgkit.exceptions import RejectedError
from msgkit.providers import content
from msgkit.providers.base import (
    Capabilities,
    OutboundMessage,
    Outcome,
    SendRequest,
    SendResult,
)
from msgkit.providers.common import (
    NoStatusQuery,
    dig,
    error_for,
    error_results,
    http_failure,
    json_body,
    results,
    text_or_none,
)

__all__ = ["DEFAULT_BASE_URL", "ChatwootWebChat"]

DEFAULT_BASE_URL = "https://app.chatwoot.com"
MAX_ATTACHMENT = 40 * 1024 * 1024

Attachment = tuple[str, bytes, str]


class ChatwootWebChat(NoStatusQuery):
    """The Chatwoot web-chat adapter.

    Args:
        name: The configured provider name.
        account_id: The Chatwoot account.
        inbox_id: The inbox (the website widget) conversations go to.
        api_access_token: The token of the default agent (never shown).
        agent_tokens: Tokens of other agents, by the name a message's ``sender`` uses.
        assignee_id: The agent who receives the replies.
        team_id: The team that receives the replies.
        base_url: Where Chatwoot runs.
    """

    def __init__(
        self,
        name: str = "webchat",
        *,
        account_id: int,
        inbox_id: int,
        api_access_token: str,
        agent_tokens: Mapping[str, str] | None = None,
        assignee_id: int | None = None,
        team_id: int | None = None,
        base_url: str = DEFAULT_BASE_URL,
    ) -> None:
        self.name = name
        self.capabilities = Capabilities(
            channel=Channel.WEBCHAT,
            max_batch=1,
            content=content.WEBCHAT,
            idempotent=False,
            status_query=False,
            delivery_receipts=False,
        )
        self._account = f"{base_url.rstrip('/')}/api/v1/accounts/{account_id}"
        self._inbox = inbox_id
        self._token = api_access_token
        self._agents = dict(agent_tokens or {})
        self._assignee = assignee_id
        self._team = team_id

    def __repr__(self) -> str:
        return (
            f"ChatwootWebChat(name={self.name!r}, inbox_id={self._inbox!r}, "
            f"agents={sorted(self._agents)!r}, tokens=***)"
        )

    # -- the steps --------------------------------------------------------------------

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        """The first request of each message's send.

        Raises:
            RejectedError: A ``to`` that is not a contact id, or an unknown agent.
        """
        return [self._advance(self._start(message)) for message in batch]

    def _start(self, message: OutboundMessage) -> dict[str, Any]:
        if not message.to.isdigit():
            raise RejectedError(
                f"message {message.id} is not addressed to a Chatwoot contact id",
                provider=self.name,
                hint="web chat messages go to contact ids",
            )
        if message.sender and message.sender not in self._agents:
            raise RejectedError(
                f"message {message.id} is sent as unknown agent {message.sender!r}",
                provider=self.name,
                hint="add the agent to agent_token_envs, or leave the sender empty",
            )
        options = message.options
        conversation = options.get("conversation_id")
        inbox = str(options.get("inbox_id", self._inbox))
        if not inbox.isdigit():
            raise RejectedError(
                f"message {message.id} names inbox {inbox!r}",
                provider=self.name,
                hint="options['inbox_id'] is a Chatwoot inbox id (a number)",
            )
        return {
            "message": message,
            "conversation_id": None if conversation is None else str(conversation),
            "searched": False,
            "inbox_id": int(inbox),
            "assignee_id": options.get("assignee_id", self._assignee),
            "team_id": options.get("team_id", self._team),
            "assign": [],
            "media": list(message.media),
            "attachments": [tuple(a) for a in options.get("attachments", ())],
        }

    def _headers(self, state: Mapping[str, Any]) -> dict[str, str]:
        sender = state["message"].sender
        return {"api_access_token": self._agents[sender] if sender else self._token}

    def _advance(self, state: dict[str, Any]) -> SendRequest:
        step, request = self._next_step(state)
        return SendRequest(
            request=request,
            message_ids=(state["message"].id,),
            step=step,
            context=state,
            safe=step != "message",  # every step before the message itself sends nothing
        )

    def _next_step(self, state: dict[str, Any]) -> tuple[str, httpx.Request]:
        """The next step of a send (find, create, assign, fetch, message) and its request."""
        message: OutboundMessage = state["message"]
        headers = self._headers(state)
        if state["conversation_id"] is None and not state["searched"]:
            request = httpx.Request(
                "GET", f"{self._account}/contacts/{message.to}/conversations", headers=headers
            )
            return "find", request
        if state["conversation_id"] is None:
            body: dict[str, Any] = {
                "inbox_id": state["inbox_id"],
                "contact_id": int(message.to),
                "status": "open",
            }
            for key in ("assignee_id", "team_id"):
                if state[key] is not None:
                    body[key] = state[key]
            if message.options.get("source_id"):
                body["source_id"] = str(message.options["source_id"])
            return "create", self._json("POST", f"{self._account}/conversations", body, headers)
        conversation = f"{self._account}/conversations/{state['conversation_id']}"
        if state["assign"]:
            key, value = state["assign"][0]
            return "assign", self._json(
                "POST", f"{conversation}/assignments", {key: value}, headers
            )
        if state["media"]:
            return "fetch", httpx.Request("GET", state["media"][0])
        url = f"{conversation}/messages"
        if state["attachments"]:
            request = httpx.Request(
                "POST",
                url,
                headers=headers,
                data={
                    "content": message.text,
                    "message_type": "outgoing",
                    "private": "false",
                },
                files=[("attachments[]", tuple(a)) for a in state["attachments"]],
            )
        else:
            request = self._json(
                "POST",
                url,
                {
                    "content": message.text,
                    "message_type": "outgoing",
                    "private": False,
                    "content_type": "text",
                    "content_attributes": {},
                },
                headers,
            )
        return "message", request

    @staticmethod
    def _json(method: str, url: str, body: Any, headers: Mapping[str, str]) -> httpx.Request:
        return httpx.Request(
            method,
            url,
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json", **headers},
        )

    # -- the answers ------------------------------------------------------------------

    def parse_send(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        """The message's result, or the next step as its ``follow_up``; never raises."""
        if not {"message", "conversation_id"} <= set(sent.context):
            return http_failure(
                sent, response, provider=self.name, idempotent=False, what="web chat send"
            )
        state = dict(sent.context)
        step = sent.step
        if step == "message":
            return self._posted(sent, response)
        if step == "assign":
            state["assign"] = state["assign"][1:]
            return self._next(sent, state)
        if not response.is_success:
            if step == "find" and response.status_code == 404:
                return error_results(
                    sent,
                    Outcome.FAILED,
                    "the Chatwoot contact does not exist",
                    provider=self.name,
                    status=404,
                    hint="check the contact ids of the audience",
                )
            return http_failure(
                sent, response, provider=self.name, idempotent=True, what=f"web chat {step}"
            )
        body = json_body(response)
        if step == "find":
            if not isinstance(dig(body, "payload"), list):
                return http_failure(
                    sent, response, provider=self.name, idempotent=True, what="web chat find"
                )
            state["searched"] = True
            found = self._pick(dig(body, "payload"), state["inbox_id"])
            if found is not None:
                state["conversation_id"] = text_or_none(found.get("id"))
                state["assign"] = self._reassign(found, state)
            return self._next(sent, state)
        if step == "create":
            conversation = text_or_none(dig(body, "id"))
            if conversation is None:
                return http_failure(
                    sent, response, provider=self.name, idempotent=True, what="web chat create"
                )
            state["conversation_id"] = conversation
            return self._next(sent, state)
        # fetch
        if len(response.content) > MAX_ATTACHMENT:
            return error_results(
                sent, Outcome.FAILED, "the image is larger than 40 MB", provider=self.name
            )
        url = state["media"][0]
        filename = posixpath.basename(urlsplit(url).path) or "image"
        kind = response.headers.get("content-type", "application/octet-stream").split(";")[0]
        state["attachments"] = [*state["attachments"], (filename, response.content, kind)]
        state["media"] = state["media"][1:]
        return self._next(sent, state)

    def _next(self, sent: SendRequest, state: dict[str, Any]) -> list[SendResult]:
        follow = self._advance(state)
        error = error_for(
            Outcome.RETRY,
            f"the web chat send stopped before its {follow.step} step",
            provider=self.name,
        )
        return [
            SendResult(
                message_id=sent.message_ids[0],
                outcome=Outcome.RETRY,
                error=error,
                follow_up=follow,
            )
        ]

    def _posted(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        body = json_body(response)
        message_id = text_or_none(dig(body, "id"))
        if response.is_success and message_id is not None:
            return results(sent, Outcome.ACCEPTED, provider_ids={sent.message_ids[0]: message_id})
        if response.status_code == 404:
            return error_results(
                sent,
                Outcome.FAILED,
                "the Chatwoot conversation does not exist",
                provider=self.name,
                status=404,
                hint="drop options['conversation_id'] to find or create one",
            )
        return http_failure(
            sent, response, provider=self.name, idempotent=False, what="web chat message"
        )

    @staticmethod
    def _pick(conversations: list[Any], inbox_id: int) -> Mapping[str, Any] | None:
        usable = [
            c
            for c in conversations
            if isinstance(c, Mapping)
            and text_or_none(c.get("inbox_id")) == str(inbox_id)
            and c.get("status") != "resolved"
            and text_or_none(c.get("id")) is not None
        ]
        if not usable:
            return None
        return max(usable, key=lambda c: int(str(c.get("id"))) if str(c.get("id")).isdigit() else 0)

    @staticmethod
    def _reassign(found: Mapping[str, Any], state: Mapping[str, Any]) -> list[tuple[str, Any]]:
        todo: list[tuple[str, Any]] = []
        assignee = text_or_none(dig(found, "meta.assignee.id")) or text_or_none(
            found.get("assignee_id")
        )
        team = text_or_none(dig(found, "meta.team.id")) or text_or_none(found.get("team_id"))
        if state["assignee_id"] is not None and assignee != str(state["assignee_id"]):
            todo.append(("assignee_id", state["assignee_id"]))
        if state["team_id"] is not None and team != str(state["team_id"]):
            todo.append(("team_id", state["team_id"]))
        return todo
