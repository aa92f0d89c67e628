"""The Fleet overview read model (analytics.views.fleet) on the lived hub and on a hand-built one.

Every answer of :func:`fleet_overview` is checked against the stored tables read independently
(``read_health``, the AlertBook, a full scan of the readings, the registry) or against an order
worked out by hand. The lived hub (tests/conftest.py) is shared read-only; tests that change it work
on ``lived_copy``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analytics.errors import InvalidIdentifierError, NotFoundError
from analytics.ingest.pipeline import ingest_file
from analytics.schemas import MachineSpec, SensorSpec
from analytics.solutions.alerts import SEVERITIES, AlertBook, AlertCandidate, AlertSettings
from analytics.solutions.health import HEALTH_SCHEMA
from analytics.solutions.solve import read_health, solution_store
from analytics.store.hub import Hub
from analytics.store.reader import FactoryReader
from analytics.views import RELIABILITY_SCHEMA, TILE_SCHEMA, FleetOverview, fleet_overview
from analytics.views.fleet import URGENCY_ORDER, solved_day, urgency_tiles
from analytics.views.reliability import monthly_reliability
from tests.conftest import LIVED_FACTORIES, NOW

HANBIT, DAEYANG = LIVED_FACTORIES
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def lived(lived_dir: Path) -> Hub:
    """The shared lived hub, only read here."""
    return Hub.open(data_dir=lived_dir)


def latest_reading(hub: Hub, factory_id: str) -> datetime:
    value = FactoryReader(hub, factory_id).readings().select(pl.col("ts").max()).collect().item()
    assert isinstance(value, datetime)
    return value


def urgency_key(tile: dict[str, Any]) -> tuple:
    """The documented order, written out independently: status, probability desc, health asc, id."""
    inf = float("inf")
    probability = tile["probability"]
    health = tile["health_index"]
    return (
        URGENCY_ORDER.index(tile["status"]),
        -probability if probability is not None else inf,
        health if health is not None else inf,
        tile["machine_id"],
    )


def expected_alerts(hub: Hub, factory_id: str) -> tuple[dict[str, int], dict[str, int]]:
    alerts = AlertBook(hub, factory_id).alerts(status=("open", "acknowledged"))
    counts: dict[str, int] = {s: sum(a.severity == s for a in alerts) for s in SEVERITIES}
    counts["acknowledged"] = sum(a.status == "acknowledged" for a in alerts)
    return counts, dict(Counter(a.machine_id for a in alerts))


def check_overview(hub: Hub, overview: FleetOverview) -> None:
    """What every overview must satisfy, whatever the day."""
    factory_id = overview.factory_id
    tiles = overview.tiles
    assert tiles.schema == pl.Schema(TILE_SCHEMA)
    assert overview.reliability.schema == pl.Schema(RELIABILITY_SCHEMA)
    registered = {m.machine_id: m.machine_type for m in hub.registry.machines(factory_id)}
    assert dict(tiles.select("machine_id", "machine_type").iter_rows()) == registered
    rows = tiles.to_dicts()
    assert rows == sorted(rows, key=urgency_key)
    assert tiles.get_column("urgency_rank").to_list() == list(range(1, tiles.height + 1))
    assert set(tiles.get_column("status")) <= set(URGENCY_ORDER)
    assert overview.status_counts == {s: sum(r["status"] == s for r in rows) for s in URGENCY_ORDER}
    counts, per_machine = expected_alerts(hub, factory_id)
    assert overview.open_alerts == counts
    assert {r["machine_id"]: r["open_alerts"] for r in rows} == {m: per_machine.get(m, 0) for m in registered}
    assert set(overview.reliability.get_column("machine_id").drop_nulls()) == set(registered)


# --- the lived hub ------------------------------------------------------------------------------------
@pytest.mark.parametrize("factory_id", LIVED_FACTORIES)
def test_tiles_are_the_health_rows_of_each_day(lived: Hub, factory_id: str) -> None:
    days = solution_store(lived, factory_id).dates()
    assert len(days) == 24
    seen_statuses: set[str] = set()
    for day in days:
        overview = fleet_overview(lived, factory_id, day=day)
        assert overview.day == day
        check_overview(lived, overview)
        health = read_health(lived, factory_id, day, day).collect()
        assert health.height == overview.tiles.height
        joined = overview.tiles.join(health, on="machine_id", how="inner", suffix="_h")
        assert joined.height == health.height
        for column in [c for c in TILE_SCHEMA if c in HEALTH_SCHEMA and c != "machine_id"]:
            other = f"{column}_h"
            assert joined.select(pl.col(column).eq_missing(pl.col(other)).all()).item(), (day, column)
        seen_statuses |= set(overview.tiles.get_column("status"))
    assert {"critical", "warning", "normal"} <= seen_statuses  # the lived days cover the orders that matter


def test_urgency_order_on_a_lived_day(lived: Hub) -> None:
    # 2026-09-17 at hanbit: PMP-01 critical (clogging, fails the next night), CMP-01 warning (one
    # alarmed hour but 4 h above the threshold: the late-rise rule; the simulator's bearing wear
    # began on 09-14 and reaches critical on 09-23), the others normal (by id).
    overview = fleet_overview(lived, HANBIT, day=date(2026, 9, 17))
    assert overview.tiles.select("machine_id", "status").rows() == [("PMP-01", "critical"), ("CMP-01", "warning"), ("CNC-01", "normal"), ("CNC-02", "normal")]
    assert overview.status_counts == {"critical": 1, "warning": 1, "watch": 0, "normal": 2, "unknown": 0}


def test_day_is_the_newest_solved_at_or_before(lived: Hub) -> None:
    days = solution_store(lived, HANBIT).dates()
    assert fleet_overview(lived, HANBIT).day == days[-1]
    assert fleet_overview(lived, HANBIT, day=date(2027, 1, 1)).day == days[-1]
    before = fleet_overview(lived, HANBIT, day=days[0] - timedelta(days=1))
    assert before.day is None
    assert set(before.tiles.get_column("status")) == {"unknown"}
    assert before.tiles.get_column("health_index").is_null().all()
    check_overview(lived, before)
    assert solved_day([date(2026, 1, 1), date(2026, 1, 3)], date(2026, 1, 2)) == date(2026, 1, 1)
    assert solved_day([], None) is None


def test_freshness_of_the_lived_hub(lived: Hub) -> None:
    latest = latest_reading(lived, HANBIT)
    overview = fleet_overview(lived, HANBIT, now=latest + H)
    fresh = overview.freshness
    assert fresh.latest_reading == latest
    assert fresh.lag_hours == pytest.approx(1.0)
    assert fresh.stale_machines == []
    runs = [r for r in lived.registry.ingest_runs(HANBIT, limit=10_000) if r.status == "ok" and r.finished_at]
    assert fresh.last_ingest == max(datetime.fromisoformat(r.finished_at or "") for r in runs)
    # The wall clock far ahead: the whole factory lags, but no machine lags the rest of it.
    later = fleet_overview(lived, HANBIT, now=latest + timedelta(days=30)).freshness
    assert later.stale_machines == [] and later.lag_hours == pytest.approx(30 * 24)


def test_reliability_is_monthly_as_of_the_day(lived: Hub) -> None:
    overview = fleet_overview(lived, DAEYANG, day=date(2026, 9, 20))
    assert overview.reliability.equals(monthly_reliability(lived, DAEYANG, date(2026, 9, 20)))
    assert overview.reliability.get_column("period").unique(maintain_order=True).to_list() == ["this_month", "last_month"]
    factory = overview.reliability.filter(pl.col("machine_id").is_null() & (pl.col("period") == "this_month")).row(0, named=True)
    failures = FactoryReader(lived, DAEYANG).events().filter(pl.col("kind") == "failure").collect()
    assert factory["failures"] == failures.filter(pl.col("ts") < datetime(2026, 9, 20, 15, tzinfo=UTC)).height  # to the end of 20 Sep, Seoul
    assert 0 < factory["availability"] < 1


def test_tenancy(lived: Hub) -> None:
    ours, theirs = fleet_overview(lived, HANBIT), fleet_overview(lived, DAEYANG)
    for overview, other in ((ours, DAEYANG), (theirs, HANBIT)):
        own = {m.machine_id for m in lived.registry.machines(overview.factory_id)}
        foreign = {m.machine_id for m in lived.registry.machines(other)} - own
        assert foreign, "the factories have machines of their own"
        assert not foreign & set(overview.tiles.get_column("machine_id"))
        assert not foreign & set(overview.reliability.get_column("machine_id").drop_nulls())
        check_overview(lived, overview)
    assert ours.open_alerts != theirs.open_alerts  # each its own book (hanbit has open alerts, daeyang none)
    with pytest.raises(NotFoundError):
        fleet_overview(lived, "nowhere")
    for bad in ("../hanbit-01", "Hanbit-01", ""):
        with pytest.raises(InvalidIdentifierError):
            fleet_overview(lived, bad)
    with pytest.raises(ValueError):
        fleet_overview(lived, HANBIT, stale_after=timedelta(0))


# --- the lived hub, changed ---------------------------------------------------------------------------
def test_alert_counts_follow_the_book(lived_copy: Hub) -> None:
    book = AlertBook(lived_copy, HANBIT)
    before = fleet_overview(lived_copy, HANBIT)
    check_overview(lived_copy, before)
    unresolved = book.open_alerts()
    assert len(unresolved) >= 2 and before.open_alerts["acknowledged"] == 0
    book.acknowledge(unresolved[0].alert_id, "kim")
    acked = fleet_overview(lived_copy, HANBIT)
    check_overview(lived_copy, acked)
    assert acked.open_alerts["acknowledged"] == 1
    assert sum(v for k, v in acked.open_alerts.items() if k != "acknowledged") == len(unresolved)  # acknowledged is still open
    book.resolve(unresolved[1].alert_id, "kim", "fixed")
    resolved = fleet_overview(lived_copy, HANBIT)
    check_overview(lived_copy, resolved)
    assert sum(v for k, v in resolved.open_alerts.items() if k != "acknowledged") == len(unresolved) - 1


def test_machine_added_without_data(lived_copy: Hub) -> None:
    spec = MachineSpec(
        id="NEW-01", type="centrifugal_pump", sensors=[SensorSpec.model_validate({"name": "flow", "unit": "m3/h", "min": 0, "max": 500, "interval": "20min"})]
    )
    lived_copy.registry.add_machine(HANBIT, spec)
    latest = latest_reading(lived_copy, HANBIT)
    overview = fleet_overview(lived_copy, HANBIT, now=latest)
    check_overview(lived_copy, overview)
    tile = overview.tiles.row(-1, named=True)
    assert (tile["machine_id"], tile["status"], tile["urgency_rank"]) == ("NEW-01", "unknown", overview.tiles.height)
    assert tile["health_index"] is None and tile["action_en"] is None and tile["open_alerts"] == 0
    assert overview.status_counts["unknown"] == 1
    assert overview.freshness.stale_machines == ["NEW-01"]  # no reading at all
    new = overview.reliability.filter(pl.col("machine_id") == "NEW-01")
    assert new.get_column("failures").to_list() == [0, 0]


def test_stale_machine_with_a_crafted_now(lived_copy: Hub, write_file: Callable[..., Path]) -> None:
    latest = latest_reading(lived_copy, HANBIT)  # every machine's last reading (2026-09-24 14:40 UTC)
    # CNC-01 keeps sending for 10 more hours, into the next local day; the others stop.
    stamps = [latest + timedelta(hours=h) for h in range(1, 11)]
    csv = "machine_id,sensor,ts,value\n" + "".join(f"CNC-01,bearing_temp,{t.strftime('%Y-%m-%dT%H:%M:%SZ')},40.0\n" for t in stamps)
    assert ingest_file(lived_copy, HANBIT, write_file("late.csv", csv), now=NOW).accepted == 10
    newest = stamps[-1]

    fresh = fleet_overview(lived_copy, HANBIT, now=newest + H).freshness
    assert fresh.latest_reading == newest and fresh.lag_hours == pytest.approx(1.0)
    assert fresh.stale_machines == ["CMP-01", "CNC-02", "PMP-01"]  # 10 h behind CNC-01 with 6 h allowed
    # A longer allowance reaches back into the previous day's partition, where the others are.
    assert fleet_overview(lived_copy, HANBIT, now=newest + H, stale_after=timedelta(hours=12)).freshness.stale_machines == []
    assert fleet_overview(lived_copy, HANBIT, now=newest + H, stale_after=timedelta(hours=30)).freshness.stale_machines == []
    # Just under the gap: still stale; just over it: fresh.
    assert fleet_overview(lived_copy, HANBIT, now=newest, stale_after=timedelta(hours=9, minutes=59)).freshness.stale_machines == ["CMP-01", "CNC-02", "PMP-01"]
    assert fleet_overview(lived_copy, HANBIT, now=newest, stale_after=timedelta(hours=10)).freshness.stale_machines == []
    # As of a now before CNC-01's late readings, nobody was stale yet; the lag is never negative.
    early = fleet_overview(lived_copy, HANBIT, now=latest + 2 * H).freshness
    assert early.stale_machines == [] and early.lag_hours == 0.0
    # The other factory is untouched.
    assert fleet_overview(lived_copy, DAEYANG, now=newest + H).freshness.stale_machines == []


# --- a hand-built factory -----------------------------------------------------------------------------
D1, D3 = date(2026, 11, 1), date(2026, 11, 3)
HAND_HEALTH = [
    # machine, status, probability, health_index, failure_mode, action_en
    ("CNC-01", "warning", 0.4, 30.0, "bearing_wear", "check the bearing"),
    ("PUMP-02", "warning", 0.7, 50.0, "clogging", "clean the strainer"),
    ("A-1", "warning", 0.7, 20.0, "clogging", "clean the strainer"),
    ("A-2", "critical", None, 5.0, "unknown", None),
    ("A-3", "normal", 0.05, 100.0, None, None),
    ("A-5", "warning", None, 10.0, "unknown", None),
    ("GHOST", "critical", 0.99, 0.0, "unknown", None),  # not registered: never a tile
]
HAND_ORDER = ["A-2", "A-1", "PUMP-02", "CNC-01", "A-5", "A-3", "A-4"]


def health_frame(day: date, rows: list[tuple]) -> pl.DataFrame:
    base = {k: None for k in HEALTH_SCHEMA}
    records = [
        {
            **base,
            "day": day,
            "machine_id": m,
            "machine_type": "pump",
            "status": s,
            "probability": p,
            "health_index": hi,
            "failure_mode": fm,
            "action_en": a,
            "horizon_hours": 72.0,
        }
        for m, s, p, hi, fm, a in rows
    ]
    return pl.DataFrame(records, schema=HEALTH_SCHEMA)


@pytest.fixture
def hand(acme: Hub) -> Hub:
    """acme (CNC-01, PUMP-02) plus pumps A-1 .. A-5, health stored for 1 and 3 Nov, three alerts."""
    for machine in ("A-1", "A-2", "A-3", "A-4", "A-5"):
        acme.registry.add_machine("acme", MachineSpec(id=machine, type="pump"))
    store = solution_store(acme, "acme")
    store.write(D1, {"health": health_frame(D1, HAND_HEALTH), "priority": pl.DataFrame({"machine_id": ["A-2"]})})
    store.write(D3, {"health": health_frame(D3, [("A-3", "watch", 0.6, 80.0, "unknown", None)]), "priority": pl.DataFrame({"machine_id": ["A-3"]})})
    book = AlertBook(acme, "acme")
    candidates = [
        AlertCandidate(machine_id="A-2", mode="unknown", severity="critical", day=D1),
        AlertCandidate(machine_id="PUMP-02", mode="clogging", severity="warning", day=D1),
        AlertCandidate(machine_id="CNC-01", mode="bearing_wear", severity="watch", day=D1),
    ]
    book.apply_day(D1, candidates, settings=AlertSettings())
    return acme


def test_hand_built_order_and_counts(hand: Hub) -> None:
    overview = fleet_overview(hand, "acme", day=date(2026, 11, 2))
    assert overview.day == D1
    check_overview(hand, overview)
    tiles = overview.tiles
    assert tiles.get_column("machine_id").to_list() == HAND_ORDER
    assert tiles.get_column("status").to_list() == ["critical", "warning", "warning", "warning", "warning", "normal", "unknown"]
    assert tiles.filter(pl.col("machine_id") == "PUMP-02").select("failure_mode", "action_en", "horizon_hours", "open_alerts").row(0) == (
        "clogging",
        "clean the strainer",
        72.0,
        1,
    )
    assert overview.status_counts == {"critical": 1, "warning": 4, "watch": 0, "normal": 1, "unknown": 1}
    assert overview.open_alerts == {"watch": 1, "warning": 1, "critical": 1, "acknowledged": 0}
    assert dict(tiles.select("machine_id", "open_alerts").iter_rows()) == {"A-2": 1, "A-1": 0, "PUMP-02": 1, "CNC-01": 1, "A-5": 0, "A-3": 0, "A-4": 0}
    # No readings at all: every machine stale, no latest reading, nothing observed.
    fresh = overview.freshness
    assert (fresh.latest_reading, fresh.lag_hours, fresh.last_ingest) == (None, None, None)
    assert fresh.stale_machines == sorted(HAND_ORDER)
    assert overview.reliability.get_column("observed_h").sum() == 0.0
    assert overview.reliability.get_column("period_start").unique().sort().to_list() == [date(2026, 10, 1), date(2026, 11, 1)]  # as of the day shown

    newest = fleet_overview(hand, "acme")
    assert newest.day == D3
    assert newest.tiles.row(0, named=True)["machine_id"] == "A-3" and newest.tiles.row(0, named=True)["status"] == "watch"
    assert newest.status_counts["unknown"] == 6

    book = AlertBook(hand, "acme")
    by_machine = {a.machine_id: a for a in book.open_alerts()}
    book.acknowledge(by_machine["PUMP-02"].alert_id, "kim")
    book.resolve(by_machine["CNC-01"].alert_id, "kim")
    after = fleet_overview(hand, "acme", day=D1)
    assert after.open_alerts == {"watch": 0, "warning": 1, "critical": 1, "acknowledged": 1}
    assert after.tiles.filter(pl.col("machine_id") == "CNC-01").get_column("open_alerts").item() == 0


def test_urgency_tiles_frame() -> None:
    machines = pl.DataFrame({"machine_id": ["b", "a", "c", "d"], "machine_type": ["pump"] * 4})
    health = health_frame(
        D1,
        [
            ("a", "watch", None, None, None, None),
            ("b", "watch", 0.2, 90.0, None, None),
            ("c", "mystery", 0.9, 1.0, None, None),
            ("z", "critical", 1.0, 0.0, None, None),
        ],
    )
    tiles = urgency_tiles(machines, health, pl.DataFrame({"machine_id": ["a", "a", "z"], "open_alerts": [2, 2, 1]}).unique())
    # Watch with a probability before watch without; a status outside the vocabulary after every known one.
    assert tiles.select("machine_id", "status", "urgency_rank").rows() == [("b", "watch", 1), ("a", "watch", 2), ("d", "unknown", 3), ("c", "mystery", 4)]
    assert tiles.get_column("open_alerts").to_list() == [0, 2, 0, 0]
