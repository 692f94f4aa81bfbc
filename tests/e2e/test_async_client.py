"""A whole campaign driven through `msgkit.AsyncClient`, inside the caller's event loop."""

from __future__ import annotations

import asyncio

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import WriteCsv, tw_e164, tw_numbers


def test_async_client_runs_a_campaign_in_the_callers_loop(
    db: str, clock: FakeClock, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Import, create, estimate, start, stop, resume, arun and read back, all awaited in
    one event loop: nothing leaves while stopped, then each member gets their text once."""
    numbers = tw_numbers(5)
    path = write_csv([(n, f"Member {i}") for i, n in enumerate(numbers)])

    async def main() -> None:
        providers = {"sms": SimulatorProvider("sms", server=sim)}
        async with msgkit.AsyncClient(db, providers, clock=clock) as client:
            members = await client.import_list(
                path, phone="Mobile", variables={"name": "Name"}, region="TW"
            )
            assert [x["id"] for x in await client.lists()] == [members.id]
            campaign = await client.create_campaign(
                "Spring sale", "Hi ${name}, 20% off this week", audience=members.id
            )
            assert [c.name for c in await client.campaigns()] == ["Spring sale"]
            assert (await client.estimate(campaign)).planned == 5
            await client.start(campaign)
            stopped = await client.stop(campaign, reason="wrong day")
            assert stopped.status is msgkit.CampaignStatus.STOPPED
            await client.arun()
            assert sim.messages == {}
            assert (await client.progress(campaign)).pending == 5

            await client.resume(campaign)
            stats = await client.arun()
            assert stats.sent == 5
            assert (await client.campaign(campaign)).status is msgkit.CampaignStatus.FINISHED
            assert (await client.progress(campaign)).count(msgkit.MessageState.DELIVERED) == 5
            rows = await client.messages(campaign)
            assert {r.state for r in rows} == {msgkit.MessageState.DELIVERED}
            actions = [e["action"] for e in await client.audit_log(campaign)]
            assert "campaign.stop" in actions

    asyncio.run(main())
    got = {m.to: m.text for m in sim.messages.values()}
    assert got == {tw_e164(n): f"Hi Member {i}, 20% off this week" for i, n in enumerate(numbers)}
    assert sim.recipients.most_common(1)[0][1] == 1
