"""`Client` and `AsyncClient`: the one object most users touch.

::

    import msgkit

    client = msgkit.Client()                       # ./msgkit.db, the local simulator
    members = client.import_list("members.csv", phone="Mobile", region="TW")
    campaign = client.create_campaign(
        "Spring sale",
        msgkit.Template(body="Hi ${name}, 20% off this week"),
        audience=members.id,
    )
    client.start(campaign)                         # plan the audience into the outbox
    client.run()                                   # send until nothing is due
    print(client.progress(campaign))

The client ties the layers together: it imports lists into the store, plans campaigns
with the pure planner (through `CampaignRunner`), runs the dispatcher, and checks every
operation against a permission policy and writes it to the audit log. `Client` is
synchronous and works from a plain script and inside Jupyter's running event loop;
`AsyncClient` is the same with ``await``.

The package, by responsibility: `Client` (``_client``), `AsyncClient` (``_async``),
`load_config` and the setup of providers, prices and dispatcher settings from the
configuration (``_config``), the providers that run in this process (``_inprocess``),
and the progress bar (``_progress``).
"""

from __future__ import annotations

from msgkit.client._async import AsyncClient
from msgkit.client._client import Client, ImportedList
from msgkit.client._config import load_config

__all__ = ["AsyncClient", "Client", "ImportedList", "load_config"]
