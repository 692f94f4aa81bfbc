"""Short links: each recipient's text carries their own tracking parameter, and clicks
(from the simulator, or through the inbound app's redirect) are attributed to them."""

from __future__ import annotations

import asyncio
import re

import httpx

import msgkit
from msgkit.inbound import InboundApp, StoreSink
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, WriteCsv, tw_e164, tw_numbers

SECRET = "a-link-secret-of-32-characters!!"
LINKS = msgkit.ShortLinks(base_url="https://go.example.com/l", secret=SECRET)
SHORT = re.compile(r"https://go\.example\.com/l/(\w+)\?p=(\w+)")


def _campaign(client: msgkit.Client, write_csv: WriteCsv, count: int = 5) -> msgkit.Campaign:
    numbers = tw_numbers(count)
    members = client.import_list(
        write_csv([(n, f"Member {i}") for i, n in enumerate(numbers)]),
        phone="Mobile",
        variables={"name": "Name"},
        region="TW",
    )
    return client.create_campaign(
        "Spring sale",
        msgkit.Template(
            body="Hi ${name}, the sale is on: ${link:shop}",
            links={"shop": "https://shop.example.com/spring"},
            kind="promotional",
        ),
        audience=members.id,
        policy=msgkit.SendPolicy(links=LINKS),
    )


def test_each_recipient_gets_their_own_tracking_parameter(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """The link is shortened on the campaign's domain; one code, a distinct param each."""
    campaign = _campaign(client, write_csv)
    client.start(campaign)
    client.run(progress=False)
    texts = {m.to: m.text for m in sim.messages.values()}
    assert set(texts) == {tw_e164(n) for n in tw_numbers(5)}
    found = {to: SHORT.search(text) for to, text in texts.items()}
    assert all(found.values()), texts
    codes = {m.group(1) for m in found.values() if m}
    params = [m.group(2) for m in found.values() if m]
    assert len(codes) == 1
    assert len(set(params)) == 5
    assert all(len(p) == 8 for p in params)
    for to, text in texts.items():
        assert "shop.example.com" not in text
        assert text.startswith("Hi Member ")
        assert found[to] is not None
        assert text.endswith(found[to].group(0))  # type: ignore[union-attr]


def test_simulated_clicks_are_attributed_to_each_recipient(
    make_client: MakeClient, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """With every message clicked, each click is attributed to the message it came in."""
    server = Simulator(clock=clock.now, click_rate=1.0)
    client = make_client(providers={"sms": SimulatorProvider("sms", server=server)})
    campaign = _campaign(client, write_csv)
    client.start(campaign)
    client.run(progress=False)
    clicks = client.clicks(campaign)
    sent = {m.id: m for m in client.messages(campaign)}
    assert len(clicks) == 5
    assert {c["message_id"] for c in clicks} == set(sent)
    for click in clicks:
        message = sent[click["message_id"]]
        assert click["recipient"] == message.recipient
        assert click["link"] == "shop"
        assert f"?p={click['param']}" in message.text


def test_a_click_through_the_redirect_is_recorded_for_its_recipient(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """GET /l/CODE?p=PARAM on the inbound app redirects to the target and credits its sender."""
    campaign = _campaign(client, write_csv, count=3)
    client.start(campaign)
    client.run(progress=False)
    amy = tw_e164(tw_numbers(3)[1])
    [text] = [m.text for m in sim.messages.values() if m.to == amy]
    match = SHORT.search(text)
    assert match is not None
    app = InboundApp(StoreSink(client.store, clock=client.clock.now), [])

    async def click(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://go.example.com") as web:
            return await web.get(path)

    answer = asyncio.run(click(f"/l/{match.group(1)}?p={match.group(2)}"))
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://shop.example.com/spring"
    [recorded] = client.clicks(campaign)
    assert (recorded["recipient"], recorded["param"]) == (amy, match.group(2))
    unknown = asyncio.run(click("/l/NoSuchCode?p=x"))
    assert unknown.status_code == 404
    assert len(client.clicks(campaign)) == 1


def test_links_without_params_when_the_campaign_turns_them_off(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """link_params=False gives everyone the same short link, with no parameter."""
    campaign = _campaign(client, write_csv)
    client.edit(campaign, policy=msgkit.SendPolicy(links=LINKS, link_params=False))
    client.start(campaign)
    client.run(progress=False)
    urls = {re.search(r"https://\S+", m.text).group(0) for m in sim.messages.values()}  # type: ignore[union-attr]
    assert len(urls) == 1
    assert urls.pop().startswith("https://go.example.com/l/")
    assert all("?p=" not in m.text for m in sim.messages.values())
