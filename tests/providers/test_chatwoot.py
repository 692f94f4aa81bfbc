"""Tests of msgkit.providers.chatwoot: find or create the conversation, assign, attach, post."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from msgkit import ConfigError, RejectedError
from msgkit.providers.base import Outcome
from msgkit.providers.chatwoot import ChatwootWebChat, from_config
from tests.providers.support import SECRET, chatwoot, send, web_message

API = "https://chat.example.com/api/v1/accounts/7"
FIND = f"{API}/contacts/42/conversations"
CREATE = f"{API}/conversations"


def _posted(id_: int = 555) -> httpx.Response:
    return httpx.Response(200, json={"id": id_, "content": "x", "message_type": 1})


@respx.mock
def test_creates_a_conversation_when_none_is_open_in_the_inbox() -> None:
    """Find (other inbox, resolved) → create with assignee and team → post: accepted."""
    respx.get(FIND).mock(
        return_value=httpx.Response(
            200,
            json={
                "payload": [
                    {"id": 1, "inbox_id": 9, "status": "open"},
                    {"id": 2, "inbox_id": 3, "status": "resolved"},
                ]
            },
        )
    )
    create = respx.post(CREATE).mock(return_value=httpx.Response(200, json={"id": 77}))
    post = respx.post(f"{API}/conversations/77/messages").mock(return_value=_posted())
    (result,) = send(chatwoot(assignee_id=5, team_id=2), [web_message(1)])
    assert (result.outcome, result.provider_message_id) == (Outcome.ACCEPTED, "555")
    assert result.follow_up is None
    assert json.loads(create.calls.last.request.content) == {
        "inbox_id": 3,
        "contact_id": 42,
        "status": "open",
        "assignee_id": 5,
        "team_id": 2,
    }
    sent = post.calls.last.request
    assert sent.headers["api_access_token"] == SECRET
    assert json.loads(sent.content) == {
        "content": "Hello 👋 see our offer 🎉",
        "message_type": "outgoing",
        "private": False,
        "content_type": "text",
        "content_attributes": {},
    }


@respx.mock
def test_reuses_an_open_conversation_and_reassigns_it() -> None:
    """The newest open conversation of the inbox is used; agent and team are set on it."""
    respx.get(FIND).mock(
        return_value=httpx.Response(
            200,
            json={
                "payload": [
                    {"id": 10, "inbox_id": 3, "status": "open", "meta": {"assignee": {"id": 9}}},
                    {"id": 12, "inbox_id": 3, "status": "pending", "meta": {"assignee": {"id": 9}}},
                ]
            },
        )
    )
    assign = respx.post(f"{API}/conversations/12/assignments").mock(
        return_value=httpx.Response(200, json={})
    )
    respx.post(f"{API}/conversations/12/messages").mock(return_value=_posted())
    (result,) = send(chatwoot(assignee_id=5, team_id=2), [web_message(1)])
    assert result.outcome is Outcome.ACCEPTED
    bodies = [json.loads(call.request.content) for call in assign.calls]
    assert bodies == [{"assignee_id": 5}, {"team_id": 2}]


@respx.mock
def test_a_refused_assignment_does_not_stop_the_message() -> None:
    """Assignment is best effort."""
    respx.get(FIND).mock(
        return_value=httpx.Response(200, json={"payload": [{"id": 12, "inbox_id": 3}]})
    )
    respx.post(f"{API}/conversations/12/assignments").mock(return_value=httpx.Response(403))
    respx.post(f"{API}/conversations/12/messages").mock(return_value=_posted())
    (result,) = send(chatwoot(assignee_id=5), [web_message(1)])
    assert result.outcome is Outcome.ACCEPTED


@respx.mock
def test_a_known_conversation_is_posted_to_at_once() -> None:
    """options['conversation_id'] skips the lookup: one request."""
    post = respx.post(f"{API}/conversations/88/messages").mock(return_value=_posted(9))
    (result,) = send(chatwoot(), [web_message(1, options={"conversation_id": 88})])
    assert (result.outcome, result.provider_message_id) == (Outcome.ACCEPTED, "9")
    assert post.call_count == 1


@respx.mock
def test_images_are_fetched_and_attached() -> None:
    """Each media URL is fetched and posted as attachments[] in a multipart message."""
    respx.get("https://img.example/promo/banner.png").mock(
        return_value=httpx.Response(
            200, content=b"\x89PNG...", headers={"content-type": "image/png"}
        )
    )
    post = respx.post(f"{API}/conversations/88/messages").mock(return_value=_posted())
    msg = web_message(
        1,
        media=("https://img.example/promo/banner.png",),
        options={"conversation_id": 88, "attachments": [("a.txt", b"hello", "text/plain")]},
    )
    (result,) = send(chatwoot(), [msg])
    assert result.outcome is Outcome.ACCEPTED
    request = post.calls.last.request
    assert request.headers["content-type"].startswith("multipart/form-data")
    body = request.content
    assert b'name="attachments[]"; filename="banner.png"' in body
    assert b'name="attachments[]"; filename="a.txt"' in body
    assert b"\x89PNG..." in body
    assert "Hello 👋".encode() in body
    assert b'name="message_type"' in body


@pytest.mark.parametrize(
    ("route", "response", "outcome"),
    [
        ("find", httpx.Response(404, json={"error": "not found"}), Outcome.FAILED),
        ("find", httpx.Response(500), Outcome.RETRY),
        ("find", httpx.Response(200, text="garbage"), Outcome.RETRY),
        ("find", httpx.Response(401), Outcome.ACCOUNT),
        ("create", httpx.Response(422, json={"message": "invalid"}), Outcome.FAILED),
        ("create", httpx.Response(200, json={}), Outcome.RETRY),
        ("post", httpx.Response(500), Outcome.UNKNOWN),
        ("post", httpx.Response(200, text="garbage"), Outcome.UNKNOWN),
        ("post", httpx.Response(404), Outcome.FAILED),
        ("post", httpx.Response(429), Outcome.RETRY),
    ],
)
@respx.mock
def test_step_failures(route: str, response: httpx.Response, outcome: Outcome) -> None:
    """Steps before the post retry (nothing sent); a broken post is unknown."""
    routes = {
        "find": respx.get(FIND).mock(return_value=httpx.Response(200, json={"payload": []})),
        "create": respx.post(CREATE).mock(return_value=httpx.Response(200, json={"id": 77})),
        "post": respx.post(f"{API}/conversations/77/messages").mock(return_value=_posted()),
    }
    routes[route].mock(return_value=response)
    (result,) = send(chatwoot(), [web_message(1)])
    assert result.outcome is outcome
    assert result.error is not None
    assert result.follow_up is None


@pytest.mark.parametrize(
    ("route", "outcome"),
    [("find", Outcome.RETRY), ("create", Outcome.RETRY), ("post", Outcome.UNKNOWN)],
)
@respx.mock
def test_step_timeouts(route: str, outcome: Outcome) -> None:
    """Steps that send nothing to the visitor are retried after a timeout; a post is unknown."""
    routes = {
        "find": respx.get(FIND).mock(return_value=httpx.Response(200, json={"payload": []})),
        "create": respx.post(CREATE).mock(return_value=httpx.Response(200, json={"id": 77})),
        "post": respx.post(f"{API}/conversations/77/messages").mock(return_value=_posted()),
    }
    routes[route].mock(side_effect=httpx.ReadTimeout("slow"))
    (result,) = send(chatwoot(), [web_message(1)])
    assert result.outcome is outcome


@respx.mock
def test_messages_are_sent_as_the_chosen_agent() -> None:
    """The sender names the agent whose token posts the message."""
    post = respx.post(f"{API}/conversations/88/messages").mock(return_value=_posted())
    provider = chatwoot(agent_tokens={"alice": "alice-token"})
    send(provider, [web_message(1, sender="alice", options={"conversation_id": 88})])
    assert post.calls.last.request.headers["api_access_token"] == "alice-token"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"to": "+886912345678"}, "contact id"),
        ({"sender": "bob"}, "unknown agent"),
        ({"options": {"inbox_id": "web"}}, "inbox"),
    ],
)
def test_unsendable_messages_are_refused(change: dict[str, object], words: str) -> None:
    """A to that is not a contact id, or an unknown agent, raises RejectedError."""
    with pytest.raises(RejectedError, match=words):
        chatwoot().build_send([web_message(1, **change)])


def test_steps_carry_their_state() -> None:
    """The first request is a safe lookup; its context carries the message."""
    (sent,) = chatwoot().build_send([web_message(1)])
    assert (sent.step, sent.safe) == ("find", True)
    assert sent.context["message"].id == "web-0000000000000001"
    assert SECRET not in repr(sent)


def test_from_config_and_capabilities() -> None:
    """from_config reads the tokens; a web message is final once sent (no receipts)."""
    provider = from_config(
        "chat",
        {"type": "webchat", "account_id": 7, "inbox_id": 3, "agent_token_envs": {"alice": "ALICE"}},
        {"CHATWOOT_API_ACCESS_TOKEN": SECRET, "ALICE": "a"},
    )
    assert isinstance(provider, ChatwootWebChat)
    assert SECRET not in repr(provider)
    assert not provider.capabilities.delivery_receipts
    with pytest.raises(ConfigError, match="ALICE"):
        from_config(
            "chat",
            {
                "type": "webchat",
                "account_id": 7,
                "inbox_id": 3,
                "agent_token_envs": {"alice": "ALICE"},
            },
            {"CHATWOOT_API_ACCESS_TOKEN": SECRET},
        )
