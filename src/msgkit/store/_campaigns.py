"""Campaigns, scenarios and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgkit.core.campaigns import Campaign, CampaignStatus
from msgkit.exceptions import NotFoundError
from msgkit.store._base import SQLBase, instant, ms
from msgkit.store.base import AuditEntry


class CampaignTables(SQLBase):
    """Campaigns (their spec and lifecycle columns), scenarios, the audit log."""

    # --- campaigns ----------------------------------------------------------------

    def save_campaign(self, campaign: Campaign, *, now: datetime) -> Campaign:
        """Insert or update a campaign; a bulk campaign entering the run queue gets its place.

        Returns:
            The campaign as saved.
        """
        with self._tx() as cur:
            # The queue and creation numbers are MAX + 1: one such transaction at a time.
            self._exclusive(cur, "msgkit.campaigns")
            row = self._q(
                cur, "SELECT status, queue_seq FROM campaigns WHERE id = ?", (campaign.id,)
            ).fetchone()
            queue_seq = row[1] if row else None
            starting = campaign.status is CampaignStatus.INITIALIZING and (
                row is None or row[0] != CampaignStatus.INITIALIZING.value
            )
            if starting and (queue_seq is None or row is None or row[0] != "stopped"):
                top = self._q(cur, "SELECT MAX(queue_seq) FROM campaigns").fetchone()[0]
                queue_seq = (top or 0) + 1
            values = (
                campaign.name,
                campaign.kind.value,
                campaign.status.value,
                int(campaign.enabled),
                queue_seq,
                ms(campaign.send_at),
                campaign.stop_reason,
                self._dump_spec(campaign),
                ms(now),
            )
            if row is None:
                self._q(
                    cur,
                    "INSERT INTO campaigns (name, kind, status, enabled, queue_seq, send_at, "
                    "stop_reason, spec, updated_at, id, created_at, created_seq) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "(SELECT COALESCE(MAX(created_seq), 0) + 1 FROM campaigns))",
                    (*values, campaign.id, ms(now)),
                )
            else:
                self._q(
                    cur,
                    "UPDATE campaigns SET name = ?, kind = ?, status = ?, enabled = ?, "
                    "queue_seq = ?, send_at = ?, stop_reason = ?, spec = ?, updated_at = ? "
                    "WHERE id = ?",
                    (*values, campaign.id),
                )
        return campaign

    def get_campaign(self, campaign_id: str) -> Campaign:
        """The campaign with this id.

        Raises:
            NotFoundError: When there is none.
        """
        rows = self._read("SELECT spec FROM campaigns WHERE id = ?", (campaign_id,))
        if not rows:
            raise NotFoundError("campaign", campaign_id)
        campaign: Campaign = self._load_spec(rows[0][0])
        return campaign

    def find_campaign(self, ident: str) -> Campaign:
        """A campaign by id, or by name when exactly one campaign has that name.

        Raises:
            NotFoundError: When none (or several, by name) match.
        """
        rows = self._read(
            "SELECT spec FROM campaigns WHERE id = ? OR (name = ? AND status <> 'deleted')",
            (ident, ident),
        )
        if len(rows) != 1:
            hint = "several campaigns have that name: use the id" if rows else None
            raise NotFoundError("campaign", ident, hint=hint)
        campaign: Campaign = self._load_spec(rows[0][0])
        return campaign

    def list_campaigns(self, *, include_deleted: bool = False) -> list[Campaign]:
        """Every campaign, oldest first."""
        where = "" if include_deleted else "WHERE status <> 'deleted'"
        rows = self._read(f"SELECT spec FROM campaigns {where} ORDER BY created_seq, id")
        return [self._load_spec(r[0]) for r in rows]

    def due_campaigns(self, *, now: datetime, stale_before: datetime) -> list[Campaign]:
        """Scheduled campaigns whose time has come, and initializations left stale."""
        rows = self._read(
            "SELECT spec FROM campaigns WHERE (status = 'scheduled' AND enabled = 1 "
            "AND send_at <= ?) OR (status = 'initializing' AND updated_at < ?) "
            "ORDER BY send_at, created_at",
            (ms(now), ms(stale_before)),
        )
        return [self._load_spec(r[0]) for r in rows]

    def running_campaigns(self) -> list[Campaign]:
        """Campaigns that are initializing or running."""
        rows = self._read(
            "SELECT spec FROM campaigns WHERE status IN ('initializing', 'running') "
            "ORDER BY queue_seq"
        )
        return [self._load_spec(r[0]) for r in rows]

    def audit(
        self,
        *,
        actor: str | None,
        action: str,
        target: str | None,
        detail: str | None,
        now: datetime,
    ) -> None:
        """Append to the audit log."""
        with self._tx() as cur:
            self._q(
                cur,
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (ms(now), actor, action, target, detail),
            )

    def audit_log(self, *, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The audit log, oldest first."""
        where, params = ("WHERE target = ?", (target,)) if target else ("", ())
        rows = self._read(
            f"SELECT at, actor, action, target, detail FROM audit {where} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [
            AuditEntry(at=instant(r[0]), actor=r[1], action=r[2], target=r[3], detail=r[4])
            for r in rows
        ]

    def save_scenario(self, name: str, campaign_id: str, spec: Any, *, now: datetime) -> None:
        """Insert or replace a named scenario."""
        with self._tx() as cur:
            self._q(
                cur,
                "INSERT INTO scenarios (name, campaign_id, spec, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET campaign_id = excluded.campaign_id, "
                "spec = excluded.spec, updated_at = excluded.updated_at",
                (name, campaign_id, self._dump_spec(spec), ms(now)),
            )

    def get_scenario(self, name: str) -> tuple[str, Any]:
        """``(campaign id, spec)`` of a scenario.

        Raises:
            NotFoundError: When there is none.
        """
        rows = self._read("SELECT campaign_id, spec FROM scenarios WHERE name = ?", (name,))
        if not rows:
            known = self.scenarios()
            raise NotFoundError(
                "scenario",
                name,
                hint=("defined: " + ", ".join(known) if known else "none is defined yet")
                + f"; define it first with define_scenario({name!r}, template)",
            )
        return rows[0][0], self._load_spec(rows[0][1])

    def scenarios(self) -> list[str]:
        """Scenario names, sorted."""
        return [r[0] for r in self._read("SELECT name FROM scenarios ORDER BY name")]
