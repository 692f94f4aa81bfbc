"""``msgkit send``, ``campaigns``, the lifecycle commands, ``status`` and ``report``."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from msgkit.cli._app import State, console, console_err, pass_state
from msgkit.cli._lists import existing_file, parse_variables, print_import
from msgkit.client import Client
from msgkit.core.campaigns import Campaign, CampaignStatus
from msgkit.core.durations import parse_duration, parse_speed
from msgkit.core.planning import PlanSummary
from msgkit.core.policy import SendPolicy, SendSpeed
from msgkit.core.segments import Audience, ControlGroup
from msgkit.core.templates import Template
from msgkit.core.windows import ContactSchedule
from msgkit.exceptions import ConfigError, NotFoundError, ProviderError

__all__ = ["print_estimate", "register", "run_with_progress"]


def _option(key: str, parse: Any, value: Any, example: str) -> Any:
    """``parse(value)``; a ValueError becomes a ConfigError naming the option."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(str(exc), key=key, hint=f"e.g. {key} {example}") from None


def _template(text: str) -> str:
    """The template text: inline, or ``@FILE`` for a file's content."""
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise ConfigError(
                f"no template file {path}", key="--template", hint="give @PATH of a text file"
            )
        return path.read_text(encoding="utf-8").rstrip("\n")
    return text


def _hours(text: str) -> ContactSchedule:
    """``"09:00-20:00"`` (every day) or windows such as ``"Mon-Fri 09:00-20:00"``."""
    if text[:1].isdigit():
        text = f"Mon-Sun {text}"
    return ContactSchedule.parse(text)


def print_estimate(summary: PlanSummary) -> None:
    """Who receives it, who is skipped and why, segments, cost."""
    table = Table("", "count", title="estimate", title_justify="left")
    table.add_row("will receive", str(summary.planned))
    if summary.deferred:
        table.add_row("  of whom later (outside sending hours)", str(summary.deferred))
    for reason, count in sorted(summary.skipped.items(), key=lambda kv: -kv[1]):
        table.add_row(f"skipped: {getattr(reason, 'value', reason)}", str(count))
    table.add_row("segments", str(summary.segments))
    if summary.fallback is not None:
        table.add_row("fallback messages (at most)", str(summary.fallback.planned))
    cost = summary.cost
    unpriced = ", ".join(sorted(summary.unpriced))
    if cost is None:
        table.add_row("cost", f"unpriced ({unpriced})" if unpriced else "no prices configured")
    else:
        table.add_row("cost", str(cost))
    console.print(table)


def run_with_progress(
    state: State, campaigns: Sequence[Campaign], *, until_idle: bool = True
) -> Any:
    """Send what is due, with a rich progress bar per campaign (read from a second
    connection, so the engine keeps the main thread and its Ctrl-C/SIGTERM handling)."""
    client = state.client()
    done = threading.Event()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console_err,
        transient=False,
    ) as bar:
        tasks = {c.id: bar.add_task(c.name, total=None, detail="") for c in campaigns}

        def watch() -> None:
            with state.reader() as reader:
                finished = False
                while not finished:
                    finished = done.wait(0.2)
                    for campaign_id, task in tasks.items():
                        counts = reader.progress(campaign_id)
                        bar.update(
                            task,
                            total=max(counts.sendable, 1),
                            completed=counts.done,
                            detail=f"{counts.sent} sent",
                        )

        watcher = threading.Thread(target=watch, name="msgkit-progress", daemon=True)
        watcher.start()
        try:
            stats = client.run(until_idle=until_idle, progress=False)
        finally:
            done.set()
            watcher.join()
    return stats


def _find(state: State, ident: str) -> Campaign:
    campaign: Campaign = state.client().campaign(ident)
    return campaign


@click.command("send")
@click.argument("file")
@click.option("--template", "-t", required=True, help="the text, or @FILE")
@click.option("--name", help="the campaign's name (default: the file name); the same resumes")
@click.option("--channel", type=click.Choice(["sms", "line", "webchat"]), default="sms")
@click.option("--provider", help="a configured provider (default: the default one)")
@click.option("--sender", help="SMS signature or from-number")
@click.option("--phone", metavar="COLUMN", default="phone", show_default=True)
@click.option("--var", "variables", metavar="NAME=COLUMN", multiple=True, help="a variable")
@click.option("--region", help="region of national numbers, e.g. TW")
@click.option("--hours", help='sending hours in local time, e.g. "09:00-20:00"')
@click.option("--speed", help="at most N/s or N/min")
@click.option("--validity", help="how long messages may still go, e.g. 2h")
@click.option("--control", type=click.FloatRange(0, 100), help="percent held out")
@click.option("--tag", "tags", multiple=True, help="a tag (repeatable)")
@click.option("--dry-run", is_flag=True, help="estimate only: send nothing")
@click.option("--test-to", metavar="NUMBER", multiple=True, help="send a test to NUMBER only")
@click.option(
    "--over-balance", is_flag=True, help="start even if the cost exceeds the provider's balance"
)
@pass_state
def send_command(
    state: State,
    *,
    file: str,
    template: str,
    name: str | None,
    channel: str,
    provider: str | None,
    sender: str | None,
    phone: str,
    variables: tuple[str, ...],
    region: str | None,
    hours: str | None,
    speed: str | None,
    validity: str | None,
    control: float | None,
    tags: tuple[str, ...],
    dry_run: bool,
    test_to: tuple[str, ...],
    over_balance: bool,
) -> None:
    """Send a campaign to the recipients of FILE (run it again to resume)."""
    path = existing_file(file)
    name = name or path.name
    client = state.client()
    try:
        campaign = client.campaign(name)
        console.print(f"campaign {name!r} exists: resuming it")
    except NotFoundError:
        rules: dict[str, Any] = {"test_numbers": test_to}
        if hours is not None:
            rules["schedule"] = _option("--hours", _hours, hours, '"09:00-20:00"')
        if speed is not None:
            count, per = _option("--speed", parse_speed, speed, "10/s")
            rules["send_speed"] = SendSpeed(messages=count, per=per)
        if validity is not None:
            rules["validity"] = _option("--validity", parse_duration, validity, "2h")
        policy = SendPolicy(**rules)
        body = Template(body=_template(template))
        imported = client.import_list(
            path, phone=phone, variables=parse_variables(variables), region=region
        )
        print_import(imported.summary)
        audience = Audience(
            lists=(imported.id,),
            control=None if control is None else ControlGroup(percent=control, salt=imported.id),
        )
        campaign = client.create_campaign(
            name,
            body,
            audience=audience,
            channel=channel,
            provider=provider,
            sender=sender,
            tags=tags,
            policy=policy,
        )
    if dry_run:
        print_estimate(client.estimate(campaign))
        console.print("dry run: nothing sent (the draft is saved; run without --dry-run)")
        return
    if test_to:
        client.send_test(campaign)
        run_with_progress(state, [campaign])
        console.print(f"test sent to {', '.join(test_to)}")
        return
    status = client.campaign(campaign.id).status
    if status is CampaignStatus.FINISHED:
        console.print(f"campaign {name!r} is finished: nothing left to send")
        _print_status(state, [client.campaign(campaign.id)])
        return
    if status is not CampaignStatus.RUNNING:
        print_estimate(client.start(campaign, over_balance=over_balance).summary)
    run_with_progress(state, [campaign])
    _print_status(state, [client.campaign(campaign.id)])


def _created(state: State, campaign: Campaign) -> str:
    for entry in state.client().audit_log(campaign):
        if entry["action"] == "campaign.create":
            at: datetime = entry["at"]
            return at.astimezone().strftime("%Y-%m-%d %H:%M")
    return "-"


@click.command("campaigns")
@pass_state
def campaigns_command(state: State) -> None:
    """Every campaign: name, template, status, progress, enabled, created."""
    client = state.client()
    table = Table("name", "template", "status", "progress", "enabled", "created")
    for campaign in client.campaigns():
        body = campaign.template.body if campaign.template is not None else ""
        shown = body if len(body) <= 40 else body[:39] + "…"
        percent = client.progress(campaign).percent
        table.add_row(
            campaign.name,
            shown,
            campaign.status.value,
            f"{percent:.0f}%",
            "yes" if campaign.enabled else "no",
            _created(state, campaign),
        )
    console.print(table)


def _print_status(state: State, campaigns: Sequence[Campaign]) -> None:
    client = state.client()
    table = Table("campaign", "status", "done", "sent", "pending", "by state")
    for campaign in campaigns:
        counts = client.progress(campaign)
        states = ", ".join(
            f"{getattr(s, 'value', s)} {n}" for s, n in sorted(counts.by_state.items()) if n
        )
        table.add_row(
            campaign.name,
            campaign.status.value,
            f"{counts.percent:.0f}%",
            str(counts.sent),
            str(counts.pending),
            states or "-",
        )
    console.print(table)


def _print_balances(state: State, providers: Sequence[str]) -> None:
    """One line per provider that reports its balance (or could not be asked)."""
    client = state.client()
    for name in providers:
        try:
            balance = client.balance(name)
        except ProviderError as exc:
            console.print(f"balance of {name}: unavailable ({exc})")
            continue
        if balance is not None:
            console.print(f"balance of {name}: {balance}")


@click.command("status")
@click.argument("campaign", required=False)
@pass_state
def status_command(state: State, campaign: str | None) -> None:
    """Progress of CAMPAIGN (or of every campaign): counts by state; the balance of the
    providers that report one."""
    client = state.client()
    campaigns = [_find(state, campaign)] if campaign else client.campaigns()
    _print_status(state, campaigns)
    if campaign:
        providers = [p for c in campaigns for p in _providers(client, c)]
    else:
        providers = sorted(client.providers)
    _print_balances(state, list(dict.fromkeys(providers)))


def _providers(client: Client, campaign: Campaign) -> list[str]:
    """The configured providers a campaign sends through (its fallback's too)."""
    names = [campaign.provider or client.default_provider]
    if campaign.fallback is not None:
        names.append(campaign.fallback.provider or client.default_provider)
    return [n for n in names if n is not None and n in client.providers]


def _lifecycle(name: str, method: str, summary: str) -> click.Command:
    sends = method in ("start", "resume")

    @click.command(name, help=f"{summary} CAMPAIGN (its id or name).")
    @click.argument("campaign")
    @click.option(
        "--send/--no-send",
        default=sends,
        hidden=not sends,
        help="then send what is due, with a progress bar (or leave it to `msgkit worker`)",
    )
    @click.option(
        "--over-balance",
        is_flag=True,
        hidden=not sends,
        help="start even if the estimated cost exceeds the provider's balance",
    )
    @pass_state
    def command(state: State, campaign: str, send: bool, over_balance: bool) -> None:
        found = _find(state, campaign)
        client = state.client()
        if sends:
            getattr(client, method)(found, over_balance=over_balance)
        elif over_balance:
            raise click.UsageError(f"--over-balance is for start and resume, not {name}")
        else:
            getattr(client, method)(found)
        if sends and send:
            run_with_progress(state, [found])
        now = state.client().campaign(found.id)
        console.print(f"{now.name}: {now.status.value}{'' if now.enabled else ' (disabled)'}")

    return command


def _when(key: str, text: str) -> datetime:
    """An ISO time as an aware datetime (a time without offset is local time)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a time", key=key, hint="write e.g. 2026-08-04T09:00+08:00"
        ) from None
    return when.astimezone() if when.tzinfo is None else when


@click.command("schedule")
@click.argument("campaign")
@click.argument("at")
@pass_state
def schedule_command(state: State, campaign: str, at: str) -> None:
    """Start CAMPAIGN at AT (ISO time, e.g. 2026-08-04T09:00+08:00); a worker starts it."""
    when = _when("AT", at)
    found = state.client().schedule(_find(state, campaign), when.astimezone(timezone.utc))
    console.print(f"{found.name}: scheduled for {when.isoformat()}")


@click.command("report")
@click.argument("campaign")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--chart", metavar="FILE.png", help="save the delivery funnel chart")
@click.option("--since", help="from this time (ISO)")
@click.option("--until", help="until this time (ISO)")
@pass_state
def report_command(
    state: State,
    *,
    campaign: str,
    fmt: str,
    chart: str | None,
    since: str | None,
    until: str | None,
) -> None:
    """The report of CAMPAIGN: delivery, fallback, clicks, replies, cost."""
    times = {}
    for key, value in (("since", since), ("until", until)):
        if value is not None:
            times[key] = _when(f"--{key}", value)
    found = _find(state, campaign)
    report = state.client().report(found, **times)
    if fmt == "csv":
        click.echo(report.to_csv(), nl=False)
    elif fmt == "json":
        click.echo(report.to_json())
    else:
        console.print(report)
    if chart is not None:
        report.save_chart(chart)
        console_err.print(f"chart saved to {chart}")


def register(group: click.Group) -> None:
    """Add these commands to ``group``."""
    group.add_command(send_command)
    group.add_command(campaigns_command)
    group.add_command(status_command)
    group.add_command(schedule_command)
    group.add_command(report_command)
    for name, method, summary in (
        ("start", "start", "Start"),
        ("stop", "stop", "Stop (requests in flight finish)"),
        ("resume", "resume", "Resume"),
        ("unschedule", "unschedule", "Take back to a draft the scheduled"),
        ("enable", "enable", "Enable"),
        ("disable", "disable", "Disable"),
        ("delete", "delete", "Delete"),
    ):
        group.add_command(_lifecycle(name, method, summary))
