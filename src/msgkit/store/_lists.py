"""Imported recipient lists: lists, contacts, rejected rows."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from msgkit.core.contacts import Contact, Phone
from msgkit.exceptions import NotFoundError
from msgkit.store import codec
from msgkit.store._base import BULK_BATCH, SQLBase, chunks, instant, ms
from msgkit.store.base import InsertResult, ListInfo


class ListTables(SQLBase):
    """Recipient lists, their contacts (in import order) and rejected rows."""

    # --- lists and contacts ----------------------------------------------------

    def create_list(
        self,
        name: str,
        columns: Sequence[str],
        *,
        now: datetime,
        importer: str | None = None,
        variables: Iterable[str] | None = None,
    ) -> str:
        """A new, empty recipient list; returns its id.

        Args:
            name: Its name.
            columns: The columns of its file, as they were.
            now: The time of creation.
            importer: Who is writing it (``host:pid:random``): the list stays hidden —
                not listed, not found, no contacts read from it — until `finish_list`,
                so a failed or killed import never leaves a partial list to send to.
            variables: The attribute names its contacts carry (the template variables
                it provides), or None when not known (see `set_list_variables`).
        """
        list_id = uuid.uuid4().hex
        with self._tx() as cur:
            self._exclusive(cur, "msgkit.lists")  # created_seq is MAX + 1
            self._q(
                cur,
                "INSERT INTO lists (id, name, columns, created_at, importer, variables, "
                "created_seq) VALUES (?, ?, ?, ?, ?, ?, "
                "(SELECT COALESCE(MAX(created_seq), 0) + 1 FROM lists))",
                (
                    list_id,
                    name,
                    json.dumps(list(columns), ensure_ascii=False),
                    ms(now),
                    importer,
                    _names(variables),
                ),
            )
        return list_id

    def finish_list(self, list_id: str) -> None:
        """Show a list written with an ``importer``: its import is complete.

        Raises:
            NotFoundError: When there is no such list (say, removed as abandoned).
        """
        with self._tx() as cur:
            if (
                self._q(cur, "UPDATE lists SET importer = NULL WHERE id = ?", (list_id,)).rowcount
                == 0
            ):
                raise NotFoundError("list", list_id)

    def unfinished_lists(self) -> list[tuple[str, str]]:
        """Lists still being imported (or abandoned by a crash): ``(list id, importer)``."""
        return [
            (r[0], r[1])
            for r in self._read(
                "SELECT id, importer FROM lists WHERE importer IS NOT NULL ORDER BY created_seq, id"
            )
        ]

    def set_list_variables(self, list_id: str, variables: Iterable[str] | None) -> None:
        """Declare the attribute names a list's contacts carry (None: not known).

        Raises:
            NotFoundError: When there is no such list.
        """
        with self._tx() as cur:
            done = self._q(
                cur, "UPDATE lists SET variables = ? WHERE id = ?", (_names(variables), list_id)
            )
            if done.rowcount == 0:
                raise NotFoundError("list", list_id)

    def add_contacts(self, list_id: str, contacts: Iterable[Contact]) -> InsertResult:
        """Append contacts to a list, one transaction per batch; a key already there is kept."""
        total = InsertResult()
        for chunk in chunks(contacts, BULK_BATCH):
            with self._tx() as cur:
                self._exclusive(cur, f"msgkit.contacts.{list_id}")  # seq is MAX + 1
                top = self._q(
                    cur, "SELECT COALESCE(MAX(seq), 0) FROM contacts WHERE list_id = ?", (list_id,)
                ).fetchone()[0]
                ix = self._seal(cur, (a for c in chunk for a in (c.key, c.phone and c.phone.e164)))
                rows = [
                    (
                        list_id,
                        top + i + 1,
                        ix(c.key),
                        ix(c.phone.e164) if c.phone else None,
                        _phone_info(c.phone),
                        codec.dumps(dict(c.attributes)),
                        c.time_zone,
                        c.locale,
                    )
                    for i, c in enumerate(chunk)
                ]
                written = self._many(
                    cur,
                    "INSERT INTO contacts (list_id, seq, key, phone, phone_info, attributes, "
                    "time_zone, locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (list_id, key) DO NOTHING",
                    rows,
                )
                self._q(
                    cur,
                    "UPDATE lists SET row_count = row_count + ? WHERE id = ?",
                    (written, list_id),
                )
            total = total + InsertResult(inserted=written, duplicates=len(chunk) - written)
        return total

    def add_rejections(
        self, list_id: str, rejections: Iterable[tuple[int, str | None, str, str]]
    ) -> int:
        """Record rejected rows ``(row_number, column, reason, detail)`` of an import."""
        count = 0
        for chunk in chunks(rejections):
            with self._tx() as cur:
                self._many(
                    cur,
                    "INSERT INTO rejections (list_id, row_number, column_name, reason, detail) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(list_id, *r) for r in chunk],
                )
                self._q(
                    cur,
                    "UPDATE lists SET rejected_count = rejected_count + ? WHERE id = ?",
                    (len(chunk), list_id),
                )
            count += len(chunk)
        return count

    def get_list(self, list_id: str) -> ListInfo:
        """Name, columns, variables, row and rejection counts of a (complete) list.

        ``variables`` are the attribute names its contacts carry (the template variables
        it provides: mapped columns under their variable names, the others under their
        own), or None when the list does not declare them.

        Raises:
            NotFoundError: When there is none.
        """
        rows = self._read(
            "SELECT id, name, columns, row_count, rejected_count, created_at, variables "
            "FROM lists WHERE (id = ? OR name = ?) AND importer IS NULL",
            (list_id, list_id),
        )
        if len(rows) != 1:
            raise NotFoundError("list", list_id)
        r = rows[0]
        return ListInfo(
            id=r[0],
            name=r[1],
            columns=json.loads(r[2]),
            rows=r[3],
            rejected=r[4],
            created_at=instant(r[5]),
            variables=None if r[6] is None else json.loads(r[6]),
        )

    def list_lists(self) -> list[ListInfo]:
        """Every recipient list, oldest first."""
        ids = self._read("SELECT id FROM lists WHERE importer IS NULL ORDER BY created_seq, id")
        return [self.get_list(r[0]) for r in ids]

    def iter_contacts(self, list_id: str, *, chunk: int = 1000) -> Iterator[list[Contact]]:
        """The contacts of a complete list in import order, a chunk at a time (keyset
        paging); none of a list still being imported."""
        if self._read("SELECT 1 FROM lists WHERE id = ? AND importer IS NOT NULL", (list_id,)):
            return
        last = 0
        while True:
            rows = self._read(
                "SELECT seq, key, phone, phone_info, attributes, time_zone, locale FROM contacts "
                "WHERE list_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (list_id, last, chunk),
            )
            if not rows:
                return
            last = rows[-1][0]
            opened = self._open(v for r in rows for v in (r[1], r[2]))
            yield [
                Contact(
                    key=opened[r[1]],
                    phone=_phone_from(r[2] and opened[r[2]], r[3]),
                    attributes=codec.loads(r[4]),
                    time_zone=r[5],
                    locale=r[6],
                )
                for r in rows
            ]

    def rejections(self, list_id: str) -> list[tuple[int, str | None, str, str]]:
        """The rejected rows of a list, in file order."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self._read(
                "SELECT row_number, column_name, reason, detail FROM rejections "
                "WHERE list_id = ? ORDER BY row_number",
                (list_id,),
            )
        ]

    def delete_list(self, list_id: str) -> None:
        """Remove a list with its contacts and rejections (one being imported too).

        Raises:
            NotFoundError: When there is none.
        """
        with self._tx() as cur:
            for table in ("contacts", "rejections"):
                self._q(cur, f"DELETE FROM {table} WHERE list_id = ?", (list_id,))
            if self._q(cur, "DELETE FROM lists WHERE id = ?", (list_id,)).rowcount == 0:
                raise NotFoundError("list", list_id)


def _names(variables: Iterable[str] | None) -> str | None:
    if variables is None:
        return None
    return json.dumps(sorted(set(variables)), ensure_ascii=False)


def _phone_info(phone: Phone | None) -> str | None:
    if phone is None:
        return None
    return _phone_info_text(
        phone.region, phone.country_code, phone.number_type, tuple(phone.time_zones)
    )


@functools.lru_cache(maxsize=1024)
def _phone_info_text(
    region: str, country_code: int, number_type: str, zones: tuple[str, ...]
) -> str:
    """The ``phone_info`` column of a number's facts, written once per distinct value."""
    return json.dumps([region, country_code, number_type, list(zones)])


def _phone_from(e164: str | None, info: str | None) -> Phone | None:
    if e164 is None or info is None:
        return None
    region, country_code, number_type, zones = _phone_fields(info)
    return Phone(
        e164=e164,
        region=region,
        country_code=country_code,
        number_type=number_type,
        time_zones=zones,
    )


@functools.lru_cache(maxsize=1024)
def _phone_fields(info: str) -> tuple[str, int, str, tuple[str, ...]]:
    """The decoded ``phone_info`` column: a list shares a handful of distinct values
    (region, type, zones), so each is parsed once, not once per contact."""
    region, country_code, number_type, zones = json.loads(info)
    return region, country_code, number_type, tuple(zones)
