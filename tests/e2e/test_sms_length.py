"""SMS length, parts and encodings: what `msgkit.sms.measure` predicts and what a
campaign counts and sends."""

from __future__ import annotations

import msgkit
from msgkit import sms
from msgkit.testing import Simulator
from tests.e2e.conftest import WriteCsv, tw_e164, tw_numbers


def test_measure_gives_the_reference_parts() -> None:
    """measure() gives the encoding and units of each part the reference table lists."""
    assert sms.measure("a" * 161).part_units == [153, 8]
    assert sms.measure("a" * 159 + "€").part_units == [153, 8]
    assert sms.measure("{" * 81).part_units == [152, 10]
    assert sms.measure("中" * 71).part_units == [67, 4]
    assert sms.measure("😀" * 36).part_units == [66, 6]
    assert sms.measure("é" * 70).encoding == "GSM-7"
    assert sms.measure("ç").encoding == "UCS-2"


def test_gsm7_crlf_across_a_boundary_is_split_like_the_carriers() -> None:
    """A GSM-7 CR LF across the 153 boundary is cut on septets: two parts, not three."""
    text = "a" * 152 + "\r\n" + "a" * 152
    length = sms.measure(text)
    assert length.encoding == "GSM-7"
    assert length.parts == ["a" * 152 + "\r", "\n" + "a" * 152]
    assert length.part_units == [153, 153]
    assert length.segments == 2


def test_gsm7_escape_pair_is_never_split() -> None:
    """An escape pair (€) across the 153 boundary moves whole to the next part."""
    length = sms.measure("a" * 152 + "€" + "a" * 10)
    assert length.parts == ["a" * 152, "€" + "a" * 10]
    assert length.part_units == [152, 12]


def test_ucs2_keeps_emoji_and_accents_whole() -> None:
    """UCS-2 never cuts an emoji, a flag or a letter from its accent across parts."""
    assert sms.measure("a" * 66 + "😀" + "a" * 10).part_units == [66, 12]
    flagged = sms.measure("中" * 66 + "🇹🇼" + "中")
    assert flagged.parts == ["中" * 66, "🇹🇼中"]
    accented = sms.measure("中" * 66 + "e\u0301" + "中" * 10)
    assert accented.parts == ["中" * 66, "e\u0301" + "中" * 10]


def test_cn_scheme_cuts_on_characters() -> None:
    """Mainland China counts and cuts characters: 67 per part, clusters included."""
    length = sms.measure("中" * 66 + "e\u0301" + "中" * 66, scheme="cn")
    assert length.part_units == [67, 67]
    assert length.parts[0].endswith("e")
    signed = sms.measure("x" * 63, scheme="cn", signature="华为云")
    assert signed.units == 68
    assert signed.segments == 1


def _send(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv, template: str, count: int
) -> tuple[str, int]:
    numbers = tw_numbers(count)
    path = write_csv([(n, "Ann") for n in numbers])
    members = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    campaign = client.create_campaign("Long one", template, audience=members.id)
    estimated = client.estimate(campaign).segments
    client.start(campaign)
    client.run(progress=False)
    assert {m.to for m in sim.messages.values()} == {tw_e164(n) for n in numbers}
    assert client.progress(campaign).count(msgkit.MessageState.DELIVERED) == count
    return campaign.id, estimated


def test_gsm7_campaign_counts_the_carriers_segments(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A GSM-7 campaign of 306 septets with CR LF at 153 is estimated and stored as 2 parts."""
    template = "Hi ${name}," + "x" * 145 + "\r\n" + "y" * 152
    campaign, estimated = _send(client, sim, write_csv, template, 3)
    rendered = "Hi Ann," + "x" * 145 + "\r\n" + "y" * 152
    assert {m.text for m in sim.messages.values()} == {rendered}
    assert estimated == 3 * 2
    rows = client.messages(campaign)
    assert [row.segments for row in rows] == [2, 2, 2]
    assert sum(row.segments for row in rows) == estimated


def test_ucs2_campaign_counts_67_unit_parts(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A UCS-2 campaign is counted in parts of 67 units, an emoji never cut."""
    template = "${name}" + "您" * 63 + "😀" + "好" * 10  # 66 units, then the emoji
    campaign, estimated = _send(client, sim, write_csv, template, 2)
    rendered = "Ann" + "您" * 63 + "😀" + "好" * 10
    assert sms.measure(rendered).part_units == [66, 12]
    assert {m.text for m in sim.messages.values()} == {rendered}
    assert estimated == 2 * 2
    assert [row.segments for row in client.messages(campaign)] == [2, 2]
