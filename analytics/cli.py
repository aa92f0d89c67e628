"""``factoryhub``: the hub operators' command line."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import polars as pl
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics.config import get_settings
from analytics.errors import HubError
from analytics.ingest.mapping import ImportMapping, load_mapping
from analytics.ingest.pipeline import IngestResult, ingest_file
from analytics.schemas import FactorySpec, MachineSpec, SensorSpec, load_plant
from analytics.store.hub import Hub

if TYPE_CHECKING:  # the simulator pulls in SciPy: import it only for the commands that use it
    from distributed import Client

    from analytics.models.failure.pooled import PooledResult
    from analytics.pipeline.scheduled import FactoryRun
    from analytics.simulate.plans import SimulationConfig

app = typer.Typer(help="Factory Data Hub: register factories, ingest sensor data, run the hub.", no_args_is_help=True, pretty_exceptions_enable=False)
factory_app = typer.Typer(help="Register, list, export and delete factories (tenants).", no_args_is_help=True)
machine_app = typer.Typer(help="Register machines and their sensors.", no_args_is_help=True)
lake_app = typer.Typer(help="Lake maintenance: compaction and vacuum.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks: print one JSON line of figures last.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
features_app = typer.Typer(help="Machine-health features over the lake.", no_args_is_help=True)
alert_app = typer.Typer(help="A factory's alerts: list, acknowledge, resolve, give feedback.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard accounts: add, list, change passwords, disable, remove.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate detectors on public benchmarks: print one JSON line of figures last.", no_args_is_help=True)
app.add_typer(factory_app, name="factory")
app.add_typer(machine_app, name="machine")
app.add_typer(lake_app, name="lake")
app.add_typer(bench_app, name="bench")
app.add_typer(demo_app, name="demo")
app.add_typer(features_app, name="features")
app.add_typer(eval_app, name="eval")
app.add_typer(alert_app, name="alert")
run_app = typer.Typer(help="Scheduled work: the daily run of every factory.", no_args_is_help=True)
report_app = typer.Typer(help="Daily reports: build, send, and who receives them.", no_args_is_help=True)
recipient_app = typer.Typer(help="A factory's report recipients.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(run_app, name="run")
app.add_typer(report_app, name="report")
report_app.add_typer(recipient_app, name="recipients")

console = Console()
# Errors go to stderr as plain text: no markup (file names may hold brackets) and no wrapping
# (cron and CI read stderr from a pipe, where rich would wrap at 80 columns).
err = Console(stderr=True, soft_wrap=True)


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )


def _scratch_folder(ctx: typer.Context, folder: Path | None) -> Path | None:
    """A ``--workdir`` is made when missing (its temporary folders go inside it); a file there, or
    a folder that cannot be made, is refused before any work starts."""
    if folder is None or ctx.resilient_parsing:  # shell completion parses options too: make nothing
        return folder
    if folder.exists() and not folder.is_dir():
        raise typer.BadParameter(f"{folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise typer.BadParameter(f"cannot make {folder}: {exc.strerror or exc}") from exc
    return folder


def _hub() -> Hub:
    return Hub.open()


# --- factories ---------------------------------------------------------------------------------
@factory_app.command("add")
def factory_add(
    factory_id: Annotated[str | None, typer.Argument(help="Factory id (lower case, digits, - and _).")] = None,
    name_ko: Annotated[str, typer.Option(help="Display name in Korean.")] = "",
    name_en: Annotated[str, typer.Option(help="Display name in English.")] = "",
    timezone: Annotated[str | None, typer.Option(help="IANA time zone; default from settings.")] = None,
    plant: Annotated[Path | None, typer.Option(help="Plant description (YAML/JSON): factory, machines, sensors.")] = None,
) -> None:
    """Register a factory, or a whole plant from a description file."""
    hub = _hub()
    if plant is not None:
        description = load_plant(plant)
        factory = hub.registry.register_plant(description)
        console.print(f"registered factory [bold]{factory.factory_id}[/] with {len(description.machines)} machines")
        return
    if factory_id is None:
        raise typer.BadParameter("give a FACTORY_ID or --plant FILE")
    try:
        spec = FactorySpec(id=factory_id, name_ko=name_ko, name_en=name_en, timezone=timezone or hub.settings.default_timezone)
    except ValidationError as exc:
        raise HubError(_first_error(exc)) from exc
    hub.registry.add_factory(spec)
    console.print(f"registered factory [bold]{factory_id}[/]")


@factory_app.command("list")
def factory_list() -> None:
    """List registered factories."""
    hub = _hub()
    table = Table("id", "name (ko)", "name (en)", "time zone", "machines", "registered")
    for f in hub.registry.factories():
        table.add_row(f.factory_id, f.name_ko, f.name_en, f.timezone, str(len(hub.registry.machines(f.factory_id))), f.created_at)
    console.print(table)


@factory_app.command("export")
def factory_export(
    factory_id: str,
    out: Annotated[Path, typer.Option(help="Folder to write <factory_id>/ into.")],
) -> None:
    """Export everything the hub holds for a factory as Parquet with a manifest."""
    from analytics.store.sovereignty import export_factory

    target = export_factory(_hub(), factory_id, out)
    console.print(f"exported to {target}")


@factory_app.command("delete")
def factory_delete(
    factory_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a factory and every trace of its data, including old versions."""
    from analytics.store.sovereignty import delete_factory

    hub = _hub()
    hub.registry.factory(factory_id)
    if not yes and not typer.confirm(f"Delete factory {factory_id} and all its data permanently?"):
        raise typer.Exit(1)
    delete_factory(hub, factory_id)
    console.print(f"deleted factory {factory_id}")


# --- machines ----------------------------------------------------------------------------------
def _parse_sensor(text: str) -> SensorSpec:
    """``name[:unit[:min[:max[:interval]]]]``, e.g. ``bearing_temp:°C:-20:150:10s``."""
    parts = text.split(":")
    if len(parts) > 5:
        raise typer.BadParameter(f"--sensor {text!r}: use name:unit:min:max:interval")
    names = ["name", "unit", "min", "max", "interval"]
    data = {k: v for k, v in zip(names, parts, strict=False) if v != ""}
    try:
        return SensorSpec.model_validate(data)
    except ValidationError as exc:
        raise typer.BadParameter(f"--sensor {text!r}: {_first_error(exc)}") from exc


@machine_app.command("add")
def machine_add(
    machine_id: str,
    factory: Annotated[str, typer.Option(help="Factory id.")],
    type_: Annotated[str, typer.Option("--type", help="Machine type, e.g. cnc_spindle, pump.")],
    model: Annotated[str, typer.Option(help="Make and model.")] = "",
    install_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD.")] = None,
    sensor: Annotated[list[str] | None, typer.Option(help="name:unit:min:max:interval (repeatable).")] = None,
) -> None:
    """Register a machine with its sensors."""
    try:
        spec = MachineSpec(
            id=machine_id,
            type=type_,
            model=model,
            install_date=date.fromisoformat(install_date) if install_date else None,
            sensors=[_parse_sensor(s) for s in sensor or []],
        )
    except (ValidationError, ValueError) as exc:
        raise HubError(_first_error(exc) if isinstance(exc, ValidationError) else str(exc)) from exc
    _hub().registry.add_machine(factory, spec)
    console.print(f"registered machine [bold]{machine_id}[/] in {factory} with {len(spec.sensors)} sensors")


@machine_app.command("list")
def machine_list(factory: Annotated[str, typer.Option(help="Factory id.")]) -> None:
    """List a factory's machines and sensors."""
    hub = _hub()
    table = Table("machine", "type", "model", "installed", "sensor", "unit", "valid range", "interval s")
    for m in hub.registry.machines(factory):
        for i, s in enumerate(hub.registry.sensors(factory, m.machine_id) or [None]):
            head = [m.machine_id, m.machine_type, m.model, str(m.install_date or "")] if i == 0 else ["", "", "", ""]
            if s is None:
                table.add_row(*head, "", "", "", "")
            else:
                table.add_row(*head, s.sensor, s.unit, f"[{s.min_value}, {s.max_value}]", f"{s.interval_s:g}")
    console.print(table)


# --- ingest ------------------------------------------------------------------------------------
def _summary(results: list[tuple[Path, IngestResult | None, Exception | None]]) -> Table:
    table = Table("file", "status", "rows", "accepted", "duplicate", "quarantined", "note")
    for path, result, error in results:
        # File names and messages are data: escape them so brackets are not read as rich markup.
        if result is None:
            table.add_row(escape(path.name), "[red]failed[/]", "", "", "", "", escape(str(error)))
        else:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(result.reasons.items(), key=lambda kv: -kv[1]))
            table.add_row(
                escape(result.source_file), result.status, str(result.rows_read), str(result.accepted),
                str(result.duplicate), str(result.quarantined), escape(result.message or reasons),
            )
    return table


def _quality_table(quality: pl.DataFrame) -> Table:
    table = Table("machine", "sensor", "received", "missing", "invalid", "dup", "quar.", "gaps", "longest gap", "flat", "days", "enough")
    for r in quality.iter_rows(named=True):
        table.add_row(
            str(r["machine_id"]), str(r["sensor"]), str(r["received"]),
            f"{r['share_missing']:.1%}", f"{r['share_invalid']:.1%}", f"{r['share_duplicate']:.1%}", f"{r['share_quarantined']:.1%}",
            str(r["gaps"]), "" if r["longest_gap_s"] is None else f"{r['longest_gap_s']:g} s",
            str(r["flatline_stretches"]), str(r["history_days"]), "yes" if r["enough_history"] else "[yellow]no[/]",
        )
    return table


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files to ingest (CSV, Parquet, Excel).")] = None,
    factory: Annotated[str, typer.Option(help="Factory id the data belongs to.")] = ...,  # type: ignore[assignment]
    format_: Annotated[str | None, typer.Option("--format", help="long | wide (default: from mapping, else long).")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Mapping file (YAML/JSON) for columns, time and encoding.")] = None,
    table: Annotated[str | None, typer.Option(help="readings | events.")] = None,
    encoding: Annotated[str | None, typer.Option(help="utf-8 | cp949 | euc-kr (default: detect).")] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (default: detect).")] = None,
    force: Annotated[bool, typer.Option(help="Re-process files whose content was ingested before.")] = False,
    watch_dir: Annotated[Path | None, typer.Option(help="Drop folder to watch; files move to processed/ or failed/.")] = None,
    inbox: Annotated[bool, typer.Option(help="Scan the factory's own inbox once.")] = False,
    once: Annotated[bool, typer.Option(help="With --watch-dir: scan once and exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between scans of --watch-dir.")] = 5.0,
    show_quality: Annotated[bool, typer.Option("--quality/--no-quality", help="Print the data-quality report.")] = True,
) -> None:
    """Ingest files into a factory's lake, with validation, quarantine and de-duplication."""
    hub = _hub()
    hub.registry.factory(factory)
    spec = load_mapping(mapping) if mapping else ImportMapping()
    overrides = {k: v for k, v in {"format": format_, "table": table, "encoding": encoding, "delimiter": delimiter}.items() if v is not None}
    if overrides:
        try:
            spec = ImportMapping.model_validate({**spec.model_dump(exclude_unset=True), **overrides})
        except ValidationError as exc:
            raise HubError(_first_error(exc)) from exc
    if watch_dir is not None or inbox:
        _ingest_folder(hub, factory, watch_dir, spec if (mapping or overrides) else None, once or inbox, interval)
        return
    if not paths:
        raise typer.BadParameter("give files to ingest, --watch-dir DIR or --inbox")
    outcomes: list[tuple[Path, IngestResult | None, Exception | None]] = []
    qualities = []
    with _progress() as progress:
        for path in paths:
            size = path.stat().st_size if path.is_file() else None
            task = progress.add_task(path.name, total=None)
            try:
                result = ingest_file(hub, factory, path, spec, force=force, progress=lambda n, t=task: progress.advance(t, n))
            except HubError as exc:
                outcomes.append((path, None, exc))
                err.print(f"error: {exc}", markup=False, highlight=False)
            else:
                outcomes.append((path, result, None))
                if result.quality is not None and result.quality.height:
                    qualities.append(result.quality)
            progress.update(task, total=progress.tasks[task].completed or size, completed=progress.tasks[task].completed or size)
    console.print(_summary(outcomes))
    if show_quality and qualities:
        console.print("[bold]data quality[/]")
        console.print(_quality_table(pl.concat(qualities)))
    if any(error is not None for _, _, error in outcomes):
        raise typer.Exit(1)


def _progress(unit: str = "rows") -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} " + unit), TimeElapsedColumn(), console=err, transient=True)


def _ingest_folder(hub: Hub, factory: str, folder: Path | None, spec: ImportMapping | None, once: bool, interval: float) -> None:
    from analytics.ingest.inbox import inbox_dir, watch

    target = folder or inbox_dir(hub, factory)
    console.print(f"watching {target} (processed/ and failed/ inside it)" if not once else f"scanning {target}")
    failures = 0

    def report(path: Path, result: IngestResult | None, error: Exception | None) -> None:
        nonlocal failures
        failures += error is not None
        console.print(_summary([(path, result, error)]))

    try:
        for _ in watch(hub, factory, folder, spec, interval=interval, max_polls=1 if once else None, on_result=report):
            pass
    except KeyboardInterrupt:
        console.print("stopped")
    if failures:
        raise typer.Exit(1)


@app.command()
def quality(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    last: Annotated[int, typer.Option(help="How many recent ingests to show.")] = 1,
) -> None:
    """Show the data-quality report of the most recent ingests."""
    from analytics.store.reader import FactoryReader

    reports = FactoryReader(_hub(), factory).quality().collect()
    if reports.height == 0:
        console.print("no quality reports yet")
        return
    recent = reports.select("ingest_id", "reported_at").unique().sort("reported_at", descending=True).head(last)
    for ingest_id, at in recent.iter_rows():
        console.print(f"[bold]ingest {ingest_id}[/] at {at}")
        console.print(_quality_table(reports.filter(pl.col("ingest_id") == ingest_id)))


# --- lake --------------------------------------------------------------------------------------
@lake_app.command("compact")
def lake_compact(factory: Annotated[str, typer.Option(help="Factory id.")]) -> None:
    """Rewrite small files of every partition into large ones."""
    hub = _hub()
    hub.registry.factory(factory)
    from analytics.store.lake import TABLES

    for table in TABLES:
        n = hub.lake.compact(factory, table)
        console.print(f"{table}: {n} partitions compacted")


@lake_app.command("vacuum")
def lake_vacuum(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    retention_hours: Annotated[int, typer.Option(help="Keep files any version of this age refers to.")] = 168,
) -> None:
    """Delete files no longer referenced (old versions past retention, crashed writes)."""
    hub = _hub()
    hub.registry.factory(factory)
    from analytics.store.lake import TABLES

    for table in TABLES:
        removed = hub.lake.vacuum(factory, table, retention_hours)
        console.print(f"{table}: {len(removed)} files removed")


# --- bench and demo ----------------------------------------------------------------------------
@bench_app.command("ingest")
def bench_ingest(
    rows: Annotated[int, typer.Option(help="Rows of the generated long-form CSV.")] = 5_000_000,
    workdir: Annotated[Path | None, typer.Option(help="Scratch folder (default: a temporary one).", callback=_scratch_folder)] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Alternating runs of baseline and hub; medians are reported.")] = 3,
) -> None:
    """Ingest a generated CSV with full validation and dedupe; compare with DuckDB's own COPY."""
    from analytics.bench import bench_ingest as run

    figures = run(rows, workdir, console=err, repeat=repeat)
    print(json.dumps(figures))


@bench_app.command("features")
def bench_features(
    rows: Annotated[int, typer.Option(help="Readings in the generated lake (100 machines x 10 sensors).")] = 20_000_000,
    workdir: Annotated[Path | None, typer.Option(help="Scratch folder (default: a temporary one).", callback=_scratch_folder)] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Alternating runs of each; medians are reported.")] = 3,
) -> None:
    """The 1-hour feature set over a generated lake, against DuckDB's plain scan and pandas."""
    from analytics.bench import bench_features as run

    figures = run(rows, workdir, console=err, repeat=repeat)
    print(json.dumps(figures))


@bench_app.command("score")
def bench_score(
    machines: Annotated[int, typer.Option(help="Machines in the scored fleet.")] = 1000,
    workdir: Annotated[Path | None, typer.Option(help="Scratch folder (default: a temporary one).", callback=_scratch_folder)] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Alternating runs of baseline and scoring; medians are reported.")] = 3,
) -> None:
    """A day of anomaly scoring for a fleet of fitted machines, against reading and pivoting its features."""
    from analytics.bench import bench_score as run

    figures = run(machines, workdir, console=err, repeat=repeat)
    print(json.dumps(figures))


@bench_app.command("train")
def bench_train(
    machines: Annotated[int, typer.Option(min=1, help="Machines in the trained factory.")] = 30,
    days: Annotated[int, typer.Option(min=1, help="Days of hourly features per machine.")] = 365,
    workdir: Annotated[Path | None, typer.Option(help="Scratch folder (default: a temporary one).", callback=_scratch_folder)] = None,
) -> None:
    """Training one factory's failure models, against one plain XGBoost fit of its biggest training table."""
    from analytics.bench import bench_train as run

    figures = run(machines, days, workdir, console=err)
    print(json.dumps(figures))


@bench_app.command("dashboard")
def bench_dashboard(
    machines: Annotated[int, typer.Option(min=1, help="Machines in the factory (10 sensors each).")] = 30,
    days: Annotated[int, typer.Option(min=31, help="Days of 1-minute readings (the detail view shows the last 30).")] = 365,
    workdir: Annotated[Path | None, typer.Option(help="Scratch folder (default: a temporary one; a year needs about 2 GB).", callback=_scratch_folder)] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Alternating fresh-process runs of each; medians are reported.")] = 3,
) -> None:
    """The dashboard's data calls (fleet overview; 30-day machine detail), warm and cold, against DuckDB reading the same rows."""
    from analytics.bench import bench_dashboard as run

    figures = run(machines, days, workdir, console=err, repeat=repeat)
    print(json.dumps(figures))


@bench_app.command("daily")
def bench_daily(
    factories: Annotated[int, typer.Option(min=1, help="Factories, each with one new day in its inbox.")] = 100,
    machines: Annotated[int, typer.Option(min=1, help="Machines per factory (10 sensors each, 1-minute readings).")] = 30,
    workers: Annotated[int | None, typer.Option(min=1, help="Factories at a time (default: one per core).")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Scratch folder (default: a temporary one).", callback=_scratch_folder)] = None,
) -> None:
    """The daily run (ingest, features, scores, risk, solutions, report files) of many factories' new day, against DuckDB reading the same files."""
    from analytics.bench import bench_daily as run

    figures = run(factories, machines, workers, workdir, console=err)
    print(json.dumps(figures))


@bench_app.command("scale")
def bench_scale(
    factories: Annotated[int, typer.Option(min=2, help="Factories, each with one new day in its inbox.")] = 40,
    machines: Annotated[int, typer.Option(min=1, help="Machines per factory (10 sensors each, 1-minute readings).")] = 30,
    workdir: Annotated[Path | None, typer.Option(help="Scratch folder (default: a temporary one).", callback=_scratch_folder)] = None,
) -> None:
    """The same simulated day run three ways: one process on every core (no Dask), and a local Dask cluster of 1 and of 2 single-threaded workers."""
    from analytics.bench import bench_scale as run

    figures = run(factories, machines, workdir, console=err)
    print(json.dumps(figures))


# --- eval --------------------------------------------------------------------------------------
@eval_app.command("anomaly")
def eval_anomaly(
    benchmark: Annotated[
        str | None,
        typer.Option(help="Benchmark: skab (its leaderboard's \"proposed\" protocol), nab (a NAB-layout folder, NAB's protocol) or simulator (a factoryhub simulate folder, against its truth). Or --train/--test."),
    ] = None,
    data: Annotated[Path | None, typer.Option(help="The benchmark's folder (for skab: the one holding data/ or valve1/, valve2/, other/).")] = None,
    train: Annotated[Path | None, typer.Option(help="Normal-operation CSV (wide: one row per time stamp, numeric sensor columns); with --test.")] = None,
    test: Annotated[Path | None, typer.Option(help="Labelled CSV, same form plus a 0/1 label column; with --train.")] = None,
    time_column: Annotated[str | None, typer.Option(help="Time column of --train/--test (default: datetime, timestamp, time, date or ts if present; else delays are in rows).")] = None,
    label_column: Annotated[str | None, typer.Option(help="0/1 label column of --test (default: anomaly, label or is_anomaly).")] = None,
    detector: Annotated[str | None, typer.Option(help="pca | adaptive | adaptive-rel | ecod | iforest | ensemble | any other PyOD name (copod, hbos, ...). Default: adaptive for skab (its test part continues its training part in time), pca for the simulator and --train/--test, streaming for nab (the only streaming detector).")] = None,
) -> None:
    """Run a detector through a benchmark's protocol (--benchmark, --data): pooled F1 / FAR / MAR and
    NAB changepoint scores; NAB itself (--benchmark nab: data/<category>/*.csv,
    labels/combined_windows.json, config/profiles.json) with NAB's standard / low-FP / low-FN
    scores; or on your own files (--train, --test): point-wise precision / recall / F1 / FAR and
    event-wise recall and detection delay."""
    own = train is not None or test is not None
    if benchmark is not None and own:
        raise HubError("give either --benchmark (with --data) or --train and --test, not both")
    if benchmark is None and not own:
        raise HubError("give either --benchmark skab --data FOLDER, or --train TRAIN.csv --test TEST.csv")
    if own:
        if train is None or test is None:
            raise HubError("--train and --test go together: give both")
        if data is not None:
            raise HubError("--data is for --benchmark; --train/--test name the files themselves")
        _eval_files(train, test, detector or "pca", time_column, label_column)
        return
    if time_column is not None or label_column is not None:
        raise HubError("--time-column and --label-column are for --train/--test")
    from analytics.evaluation.skab import evaluate_benchmark

    assert benchmark is not None
    if data is None:
        raise HubError("--benchmark needs --data, the benchmark's folder")
    if not data.is_dir():
        raise HubError(f"{data}: benchmark data folder not found")
    if benchmark.lower() == "nab":
        _eval_nab(data, detector or "streaming")
        return
    if benchmark.lower() == "simulator":
        _eval_simulator(data, detector or "pca")
        return
    # SKAB scores the test part as the continuation in time of the training part: the
    # drift-following adaptive reference fits that protocol (F1 0.80 / FAR 19 % against PCA's 0.75 / 49 %).
    detector = detector or "adaptive"
    with _progress("files") as bar:
        task = bar.add_task(f"{benchmark} / {detector}", total=None)
        figures = evaluate_benchmark(benchmark, data, detector, on_split=lambda _s: bar.advance(task))
    table = Table("figure", "value", title=f"{figures['benchmark']} ({figures['protocol']}), detector {figures['detector']}")
    table.add_row("files", str(figures["files"]))
    table.add_row("F1", f"{figures['f1']:.3f}")
    table.add_row("FAR, %", f"{figures['far']:.2f}")
    table.add_row("MAR, %", f"{figures['mar']:.2f}")
    if "nab_standard" in figures:
        table.add_row("NAB standard / low FP / low FN", f"{figures['nab_standard']:.2f} / {figures['nab_low_fp']:.2f} / {figures['nab_low_fn']:.2f}")
        table.add_row("NAB, SKAB's variant (leaderboard)", f"{figures['nab_skab_standard']:.2f} / {figures['nab_skab_low_fp']:.2f} / {figures['nab_skab_low_fn']:.2f}")
        table.add_row("missed changepoints / false changepoints", f"{figures['skab_missed_changepoints']} of {figures['true_changepoints']} / {figures['skab_false_changepoints']}")
    table.add_row("seconds", f"{figures['seconds']:.1f}")
    err.print(table)
    print(json.dumps(figures))


def _eval_nab(data: Path, detector: str) -> None:
    """NAB protocol on a NAB-layout folder: per-file and total scores (stderr), JSON last (stdout)."""
    from analytics.evaluation.nab_benchmark import evaluate_nab

    if detector.lower() != "streaming":
        raise HubError(f"--benchmark nab runs streaming detectors only: use --detector streaming (got {detector!r})")
    with _progress("files") as bar:
        task = bar.add_task("nab / streaming", total=None)
        figures = evaluate_nab(data, on_file=lambda _f: bar.advance(task))
    keys = ("standard", "low_fp", "low_fn")
    table = Table(title=f"NAB, detector {figures['detector']}: raw score (share of the normalised total)")
    table.add_column("file", overflow="fold")
    for header in ("win", "det", "FP", "standard", "low FP", "low FN"):
        table.add_column(header, justify="right", no_wrap=True)
    for name, f in figures["files"].items():
        std = f["standard"]
        table.add_row(escape(name), str(f["windows"]), str(std["detected_windows"]), str(std["fp"]), *(f"{f[k]['raw']:.2f} ({f[k]['contribution']:.1f})" for k in keys))
    files = figures["files"].values()
    table.add_row(
        f"total, {figures['files_scored']} files",
        str(figures["windows"]),
        str(sum(f["standard"]["detected_windows"] for f in files)),
        str(sum(f["standard"]["fp"] for f in files)),
        *(f"{figures['raw'][k]:.2f} ({figures[k]:.1f})" for k in keys),
        style="bold",
    )
    err.print(table)
    chosen = " / ".join(format(figures["thresholds"][k], ".4f") for k in keys)
    err.print(f"thresholds (standard / low FP / low FN): {chosen}; {figures['seconds']:.1f} s")
    print(json.dumps(figures))


def _eval_simulator(data: Path, detector: str) -> None:
    """Fleet evaluation on a ``factoryhub simulate`` folder against its ground truth."""
    from analytics.evaluation.fleet import evaluate_simulation
    from analytics.models.anomaly.catalog import detector_factory

    detector_factory(detector)  # an unknown name fails before minutes of ingest
    if not (data / "manifest.json").is_file():
        raise HubError(f"{data}: not a simulation folder (no manifest.json; write one with factoryhub simulate)")
    with _progress("machines") as bar:
        task = bar.add_task(f"simulator / {detector}", total=None)
        figures = evaluate_simulation(data, detector, on_machine=lambda _m: bar.advance(task))
    table = Table("figure", "value", title=f"simulated fleet, detector {figures['detector']}")
    for key in ("machines", "failures", "caught", "caught_share", "median_lead_hours", "false_alarms", "false_alarms_per_machine_month", "seconds"):
        table.add_row(key, str(figures[key]))
    err.print(table)
    print(json.dumps(figures))


def _eval_files(train: Path, test: Path, detector: str, time_column: str | None, label_column: str | None) -> None:
    from analytics.evaluation.generic import evaluate_files

    figures = evaluate_files(train, test, detector, time_column=time_column, label_column=label_column)

    def show(value: float | None, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    table = Table("figure", "value", title=f"{escape(test.name)} (trained on {escape(train.name)}), detector {figures['detector']}")
    table.add_row("rows (test / train), sensors", f"{figures['rows']} / {figures['train_rows']}, {len(figures['sensors'])}")
    table.add_row("precision / recall", f"{show(figures['precision'], '.3f')} / {show(figures['recall'], '.3f')}")
    table.add_row("F1", show(figures["f1"], ".3f"))
    table.add_row("FAR / MAR", f"{show(figures['far'], '.3f')} / {show(figures['mar'], '.3f')}")
    table.add_row("events detected (event recall)", f"{figures['detected_events']} of {figures['events']} ({show(figures['event_recall'], '.3f')})")
    delay = f"{show(figures['mean_delay_s'], '.1f')} s" if figures["time_column"] else f"{show(figures['mean_delay_rows'], '.1f')} rows"
    table.add_row("mean detection delay", delay)
    table.add_row("seconds", f"{figures['seconds']:.1f}")
    err.print(table)
    print(json.dumps(figures))


@eval_app.command("fleet")
def eval_fleet(
    factories: Annotated[int, typer.Option(help="Simulated factories.")] = 10,
    days: Annotated[int, typer.Option(help="Days to simulate and live through.")] = 90,
    seed: Annotated[int, typer.Option(help="Simulation seed (use one not tuned on).")] = 7,
    machines: Annotated[int, typer.Option(help="Machines per factory.")] = 8,
    interval: Annotated[str, typer.Option(help="Sampling interval of the simulated sensors.")] = "10min",
    failure_rate: Annotated[float, typer.Option(help="Multiplies every degradation onset rate.")] = 1.0,
    train_every: Annotated[int, typer.Option(help="Retrain the failure models every this many days (0: anomaly monitor only).")] = 7,
    feedback_days: Annotated[int, typer.Option(help="Days (after the first week) on whose alerts the truth gives feedback; only later days are judged.")] = 0,
    workdir: Annotated[Path | None, typer.Option(help="Where the scratch simulation and hub go (default: the system temp dir).", callback=_scratch_folder)] = None,
    keep: Annotated[bool, typer.Option(help="Keep the simulation and hub under WORKDIR/fleet-<seed>/ to look at what was published.")] = False,
) -> None:
    """Simulate factories, live the whole daily pipeline through them day by day (score, retrain,
    predict, solve, alerts) and judge the published statuses, actions and alerts against the truth:
    failures warned in time, lead, false alerts per machine-month, actions naming the true mode."""
    from analytics.evaluation.solutions_fleet import evaluate_fleet

    config = _simulation_config(factories=factories, machines=machines, days=days, seed=seed, interval=interval, failure_rate=failure_rate)
    with _progress("days") as bar:
        task = bar.add_task("living the days", total=days - 1)

        def step(what: object) -> None:
            if isinstance(what, date):
                bar.advance(task)

        try:
            figures = evaluate_fleet(config, workdir=workdir, train_every_days=train_every, feedback_days=feedback_days, keep=keep, on_step=step)
        except (FileExistsError, ValueError) as exc:
            raise HubError(str(exc)) from exc
    table = Table("figure", "value", "target")
    targets = {"warned_ratio": ">= 0.9", "median_lead_h": ">= 48", "false_alerts_per_machine_month": "<= 0.5", "action_matches_mode": ">= 0.8", "healthy_normal_share": ">= 0.95"}
    for key in ("failures", "failures_all", "warned", "warned_ratio", "median_lead_h", "false_alerts", "false_alerts_per_machine_month", "action_matches_mode", "healthy_normal_share"):
        table.add_row(key, str(figures[key]), targets.get(key, ""))
    err.print(table)
    print(json.dumps(figures))


@eval_app.command("rul")
def eval_rul(
    train: Annotated[Path, typer.Option(help="C-MAPSS run-to-failure file (train_FD00x.txt).")],
    test: Annotated[Path, typer.Option(help="C-MAPSS truncated trajectories (test_FD00x.txt).")],
    rul: Annotated[Path, typer.Option(help="True RUL after each test unit's last cycle (RUL_FD00x.txt).")],
    cap: Annotated[int, typer.Option(help="Piecewise-linear RUL cap, in cycles, for the training target and the capped metrics.")] = 125,
) -> None:
    """Remaining useful life on NASA C-MAPSS, standard protocol: XGBoost on per-condition-normalised
    windowed features, one prediction at each test engine's last cycle; RMSE and PHM08 score
    against the true RUL capped at --cap, uncapped RMSE, and naive baselines beside them."""
    from analytics.evaluation.cmapss import evaluate_rul

    if cap <= 0:
        raise HubError(f"--cap must be positive (got {cap})")
    with _progress("steps") as bar:
        bar.add_task(f"C-MAPSS {test.name}: training and predicting", total=None)
        figures = evaluate_rul(train, test, rul, cap=cap)
    err.print(_rul_table(figures, train, test))
    print(json.dumps(figures))


def _rul_table(figures: dict[str, object], train: Path, test: Path) -> Table:
    """The C-MAPSS figures, model beside its two naive baselines."""
    f = figures
    table = Table("figure", title=f"{escape(test.name)} (trained on {escape(train.name)}), {f['engines']} engines, cap {f['cap']}")
    for header in ("model", "train mean", "ridge"):
        table.add_column(header, justify="right")
    for key, fmt in (("rmse", ".2f"), ("score", ".1f"), ("rmse_uncapped", ".2f")):
        table.add_row(key, *(format(f[f"{p}{key}"], fmt) for p in ("", "baseline_", "linear_")))  # type: ignore[arg-type]
    table.caption = f"{f['operating_conditions']} operating condition(s), {len(f['sensors'])} sensors, {f['features']} features, {f['seconds']} s"  # type: ignore[arg-type]
    return table


@eval_app.command("failure")
def eval_failure(
    data: Annotated[Path, typer.Option(help="ai4i: an AI4I 2020-format CSV; simulator: a 'factoryhub simulate' output folder.")],
    benchmark: Annotated[str, typer.Option(help="ai4i or simulator.")] = "ai4i",
    folds: Annotated[int, typer.Option(help="ai4i: stratified cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="ai4i: random_state of the fold shuffle and the models.")] = 0,
) -> None:
    """Failure models on a benchmark. ai4i: stratified cross-validated XGBoost (threshold chosen
    inside each training fold) — precision, recall, F1, PR-AUC, failure-type accuracy — beside the
    documented HDF/PWF/OSF rules baseline. simulator: the hub's failure-risk models on simulated
    factories, validated time-ordered and machine-grouped — precision and recall of "failure within
    the horizon", warning lead time, Brier score against the base rate."""
    if benchmark == "simulator":
        _eval_failure_simulator(data)
        return
    from analytics.evaluation.ai4i import evaluate_failure

    if benchmark != "ai4i":
        raise HubError(f"--benchmark must be 'ai4i' or 'simulator' (got {benchmark!r})")
    if folds < 2:
        raise HubError(f"--folds must be at least 2 (got {folds})")
    with _progress("steps") as bar:
        bar.add_task(f"AI4I {data.name}: {folds}-fold cross-validation", total=None)
        figures = evaluate_failure(data, folds=folds, seed=seed)
    err.print(_failure_table(figures, data))
    print(json.dumps(figures))


def _eval_failure_simulator(data: Path) -> None:
    from analytics.evaluation.failure_fleet import evaluate_failure_simulation
    from analytics.simulate.output import read_manifest

    manifest = read_manifest(data)
    steps = len(manifest["factories"]) + 5
    with _progress("steps") as bar:
        task = bar.add_task(f"{data.name}: ingest, features, validation", total=steps)
        figures = evaluate_failure_simulation(data, on_step=lambda _name: bar.advance(task))
    f = figures
    bound = "brier_bound" in f  # a simulation's truth: what a forecaster knowing more than the sensors reaches
    table = Table("figure", "model", "naive baseline", *(["bound (from the truth)"] if bound else []), title=f"{escape(data.name)}: {f['machines']} machines, {f['failures']} failures in the tested blocks")
    table.add_row("precision (alarms followed by a failure)", str(f["precision"]), f"{f['precision_naive']} (max |z| >= 3)")
    table.add_row("recall (failures warned ahead)", str(f["recall"]), "")
    table.add_row(
        "recall at daily-alarm precision 0.8 (the target)", str(f["recall_at_precision_0.8"]), "", *([str(f["recall_at_precision_0.8_bound"])] if bound else [])
    )
    table.add_row("recall of failure-days", str(f["recall_days"]), f"{f['recall_naive']} (max |z| >= 3)", *([str(f["recall_days_bound"])] if bound else []))
    table.add_row("Brier score", str(f["brier"]), f"{f['brier_baseline']} (base rate)", *([str(f["brier_bound"])] if bound else []))
    table.add_row("PR-AUC", str(f["pr_auc"]), f"{f['pr_auc_naive']} (max |z|)")
    table.add_row("median warning lead (h)", str(f["median_lead_h"]), "")
    table.caption = f"{f['seconds']} s"
    err.print(table)
    def short(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    types = Table("type", "days", "warned", "ROC (max |z|)", "PR-AUC (max |z|)", "Brier (base)", "precision", title="daily decisions by machine type")
    for machine_type, t in f["by_machine_type"].items():
        types.add_row(
            escape(machine_type), str(t["machine_days"]), f"{t['failures_warned']} of {t['failures']}", f"{short(t['roc_auc'])} ({short(t['roc_auc_naive'])})",
            f"{short(t['pr_auc'])} ({short(t['pr_auc_naive'])})", f"{short(t['brier'])} ({short(t['brier_baseline'])})", short(t["precision"]),
        )  # fmt: skip
    err.print(types)
    print(json.dumps(figures))


def _failure_table(figures: dict[str, object], data: Path) -> Table:
    """The AI4I figures, model beside the documented-rules baseline."""
    f = figures
    table = Table("figure", "model", "rules", title=f"{escape(data.name)}: {f['rows']} rows, {f['failures']} failures, {f['folds']}-fold stratified CV")
    for key in ("precision", "recall", "f1"):
        table.add_row(key, format(f[key], ".3f"), format(f[f"rules_{key}"], ".3f"))  # type: ignore[arg-type]
    table.add_row("pr_auc", format(f["pr_auc"], ".3f"), "")  # type: ignore[arg-type]
    table.add_row("type_accuracy", format(f["type_accuracy"], ".3f"), f"(commonest type {format(f['type_baseline_accuracy'], '.3f')})")  # type: ignore[arg-type]
    table.caption = f"{f['seconds']} s"
    return table


# --- features ----------------------------------------------------------------------------------
def _dates(day: list[str] | None, start: str | None, end: str | None) -> list[date] | None:
    try:
        if day:
            return sorted(date.fromisoformat(d) for d in day)
        if start or end:
            if not (start and end):
                raise HubError("give both --start and --end (local dates, inclusive)")
            first, last = date.fromisoformat(start), date.fromisoformat(end)
            return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    except ValueError as exc:
        raise HubError(f"dates are YYYY-MM-DD: {exc}") from exc
    return None


@app.command()
def score(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    day: Annotated[list[str] | None, typer.Option("--date", help="Local date(s) to score (YYYY-MM-DD).")] = None,
    start: Annotated[str | None, typer.Option(help="First local date of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last local date of a range (inclusive).")] = None,
) -> None:
    """Score a factory's machines for anomalies, day by day: sensor faults found, models refitted
    where due, each window's score, alarm and driving sensors stored for the day (re-running a
    day replaces it)."""
    from analytics.models.anomaly.scoring import score_day

    hub = _hub()
    hub.registry.factory(factory)
    dates = _dates(day, start, end)
    if not dates:
        raise HubError("give --date YYYY-MM-DD (or --start and --end)")
    table = Table("date", "machines", "windows", "above threshold", "alarms", "excluded (sensor faults)", "data-quality events", "refits", "no model yet", "seconds")
    runs = []
    with _progress("days") as bar:
        task = bar.add_task(f"scoring {factory}", total=len(dates))
        for d in dates:
            run = score_day(hub, factory, d)
            runs.append(run)
            refits = ", ".join(f"{m} ({why})" for m, why in sorted(run.refitted.items())) or "-"
            table.add_row(
                d.isoformat(), str(run.machines), str(run.windows), str(run.above), str(run.alarms), str(run.excluded),
                str(run.faults), escape(refits), escape(", ".join(run.without_model) or "-"), f"{run.seconds:.1f}",
            )  # fmt: skip
            bar.advance(task)
    err.print(table)
    alarmed = sorted({m for r in runs for m in r.alarmed_machines})
    print(json.dumps({"factory": factory, "dates": [d.isoformat() for d in dates], "windows": sum(r.windows for r in runs),
                      "alarms": sum(r.alarms for r in runs), "alarmed_machines": alarmed, "refits": sum(len(r.refitted) for r in runs)}))  # fmt: skip


@app.command()
def train(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    until: Annotated[str | None, typer.Option(help="Train on data up to this local date (inclusive); default: all data.")] = None,
    machine_type: Annotated[list[str] | None, typer.Option("--type", help="Only these machine types.")] = None,
) -> None:
    """Train a factory's failure-risk and time-to-failure models (one per machine type): validate
    the factory's own recipe and, if the factory shares, the pooled one and the pooled one
    fine-tuned on the factory, on the same time-ordered, machine-grouped splits, and promote the
    best (see ``analytics.models.failure.training``)."""
    from analytics.models.anomaly.scoring import day_bounds
    from analytics.models.failure.training import train_factory

    hub = _hub()
    info = hub.registry.factory(factory)
    cutoff = None
    if until:
        try:
            cutoff = day_bounds(date.fromisoformat(until), info.timezone)[1]
        except ValueError as exc:
            raise HubError(f"--until is YYYY-MM-DD: {exc}") from exc
    with _progress("types") as bar:
        bar.add_task(f"training {factory}", total=None)
        results = train_factory(hub, factory, until=cutoff, machine_types=machine_type)
    table = Table("machine type", "status", "recipe", "own failures", "Brier (base rate)", "PR-AUC (naive)", "why", "seconds")
    for r in results:
        m = r.metrics.get(r.recipe or "", {})
        table.add_row(
            r.machine_type, r.status, r.recipe or "-", str(r.own_failures),
            f"{m.get('brier')} ({m.get('brier_baseline')})" if m else "-", f"{m.get('pr_auc')} ({m.get('pr_auc_naive')})" if m else "-",
            escape(r.reason), f"{r.seconds:.1f}",
        )  # fmt: skip
    err.print(table)
    print(json.dumps({"factory": factory, "models": {r.machine_type: {"status": r.status, "recipe": r.recipe, "model_id": r.model_id} for r in results}}))


def _print_pooled(results: list[PooledResult], title: str | None = None) -> None:
    """What each pooled training did (``train-pooled``, and the daily run's refresh)."""
    table = Table("machine type", "status", "factories", "rows", "failures", "Brier (base rate)", "PR-AUC (naive)", "why", "seconds", title=title)
    for r in results:
        m = r.metrics
        table.add_row(
            r.machine_type, r.status, str(r.factories), str(r.training.get("rows", "-")), str(r.training.get("failures", "-")),
            f"{m.get('brier')} ({m.get('brier_baseline')})" if m else "-", f"{m.get('pr_auc')} ({m.get('pr_auc_naive')})" if m else "-",
            escape(r.reason), f"{r.seconds:.1f}",
        )  # fmt: skip
    err.print(table)
    for r in results:
        for left_out in r.unavailable:
            err.print(f"{r.machine_type}: rows of {left_out.factory_id} left out: {left_out.error}", markup=False, highlight=False)


@app.command("train-pooled")
def train_pooled_command(
    machine_type: Annotated[list[str], typer.Option("--type", help="Machine type(s) to train the hub's pooled model of.")],
    until: Annotated[str | None, typer.Option(help="Train on data up to the end of this UTC date (inclusive); default: all data.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Train on a local Dask cluster of this many worker processes (xgboost.dask).")] = 1,
    scheduler: Annotated[str | None, typer.Option(help="Train on the Dask cluster of this scheduler (tcp://HOST:PORT; default: FACTORYHUB_SCHEDULER).")] = None,
) -> None:
    """Train the hub's pooled failure model of each machine type on every factory that shares
    (``factoryhub factory sharing --allow``): validated across factories, promoted when it beats
    the base rate; on a Dask cluster with --workers or --scheduler (``analytics.models.failure.pooled``)."""
    from datetime import UTC, datetime

    from analytics.models.failure.pooled import train_pooled

    hub = _hub()
    cutoff = None
    if until:
        try:
            cutoff = datetime.combine(date.fromisoformat(until) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        except ValueError as exc:
            raise HubError(f"--until is YYYY-MM-DD: {exc}") from exc
    scheduler = scheduler or hub.settings.scheduler
    with _dask_client(scheduler, workers) if scheduler or workers > 1 else nullcontext() as client, _progress("types") as bar:
        task = bar.add_task("training pooled models", total=len(machine_type))
        results = []
        for kind in machine_type:
            results.append(train_pooled(hub, kind, until=cutoff, client=client))
            bar.advance(task)
    _print_pooled(results)
    print(json.dumps({"models": {r.machine_type: {"status": r.status, "model_id": r.model_id, "brier": r.metrics.get("brier"), "brier_baseline": r.metrics.get("brier_baseline")} for r in results}}))


@app.command()
def predict(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    day: Annotated[list[str] | None, typer.Option("--date", help="Local date(s) to predict (YYYY-MM-DD).")] = None,
    start: Annotated[str | None, typer.Option(help="First local date of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last local date of a range (inclusive).")] = None,
) -> None:
    """Failure risk of a factory's machines, day by day: each window's calibrated probability of a
    failure within the horizon, the time-to-failure distribution and the reasons, stored for the
    day (re-running a day replaces it). Shows each machine's answer of the last date: the risk of
    its last window with readings of its own (its last window when it did not run), and when."""
    from analytics.models.failure.predict import latest_risk, predict_day

    hub = _hub()
    zone = hub.registry.factory(factory).timezone
    dates = _dates(day, start, end)
    if not dates:
        raise HubError("give --date YYYY-MM-DD (or --start and --end)")
    risk = None
    with _progress("days") as bar:
        task = bar.add_task(f"predicting {factory}", total=len(dates))
        for d in dates:
            risk = predict_day(hub, factory, d)
            bar.advance(task)
    last = latest_risk(risk) if risk is not None and risk.height else None
    table = Table("machine", "as of", "P(failure within horizon)", "horizon (h)", "P(within 7 d)", "median time to failure (h)", "why", "model", title=f"{factory} {dates[-1]}")
    rows = []
    for r in last.iter_rows(named=True) if last is not None else []:
        table.add_row(
            r["machine_id"], _local_window(r["window_start"], r["window_end"], zone) + ("" if r["measured"] is not False else " (idle)"),
            f"{r['probability']:.2f}", f"{r['horizon_hours']:.0f}", "-" if r["p_7d"] is None else f"{r['p_7d']:.2f}",
            "-" if r["ttf_median_h"] is None else f"{r['ttf_median_h']:.0f}", escape(r["reason_en"] or "-"), f"{r['model_id']} ({r['recipe']})",
        )  # fmt: skip
        rows.append({"machine_id": r["machine_id"], "window_end": r["window_end"].isoformat(), "probability": round(r["probability"], 4), "model_id": r["model_id"]})
    err.print(table)
    print(json.dumps({"factory": factory, "dates": [d.isoformat() for d in dates], "machines": rows}))


def _local_window(start: datetime, end: datetime, zone: str) -> str:
    """An hourly window in local time, "23:00-24:00" for the one that closes the day."""
    start, end = start.astimezone(ZoneInfo(zone)), end.astimezone(ZoneInfo(zone))
    return f"{start:%H:%M}-" + ("24:00" if end.date() > start.date() and end.time() == dt_time(0) else f"{end:%H:%M}")


@app.command()
def solve(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    day: Annotated[list[str] | None, typer.Option("--date", help="Local date(s) to solve (YYYY-MM-DD).")] = None,
    start: Annotated[str | None, typer.Option(help="First local date of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last local date of a range (inclusive).")] = None,
    language: Annotated[str, typer.Option(help="Language of the table: ko or en.")] = "en",
) -> None:
    """Turn a day's anomaly scores and failure risk into every machine's health, the recommended
    actions with their evidence, the maintenance priority list and alerts (opened, updated,
    escalated, cleared). Needs the day scored (factoryhub score); re-running a day changes nothing."""
    from analytics.solutions.health import STATUS_LABELS
    from analytics.solutions.solve import read_priority, solve_day

    if language not in STATUS_LABELS:
        raise HubError(f"--language must be ko or en, got {language!r}")
    hub = _hub()
    hub.registry.factory(factory)
    dates = _dates(day, start, end)
    if not dates:
        raise HubError("give --date YYYY-MM-DD (or --start and --end)")
    runs = []
    with _progress("days") as bar:
        task = bar.add_task(f"solving {factory}", total=len(dates))
        for d in dates:
            runs.append(solve_day(hub, factory, d))
            bar.advance(task)
    last = dates[-1]
    priority = read_priority(hub, factory, last)
    table = Table("#", "machine", "status", "health", "risk", "mode", "urgency", "window", title=f"{factory} {last}")
    for r in priority.iter_rows(named=True):
        table.add_row(
            str(r["rank"]), r["machine_id"], STATUS_LABELS[language][r["status"]], f"{r['health_index']:.0f}", f"{r['risk']:.2f}",
            escape(r["failure_mode"] or "-"), escape(r["urgency"] or "-"), escape(r[f"window_note_{language}"] or "-"),
        )  # fmt: skip
    err.print(table)
    alerts = {k: sum(len(getattr(r.alerts, k)) for r in runs if r.alerts) for k in ("opened", "updated", "escalated", "resolved")}
    statuses: dict[str, int] = {}
    for r in runs:
        for k, v in r.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
    print(json.dumps({"factory": factory, "dates": [d.isoformat() for d in dates], "machine_days": sum(r.machines for r in runs),
                      "statuses": statuses, "alerts": alerts, "priority": priority.get_column("machine_id").to_list() if priority.height else []}))  # fmt: skip


@factory_app.command("sharing")
def factory_sharing(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    allow: Annotated[bool, typer.Option("--allow/--deny", help="Allow this factory's features and labels to train the pooled models (off by default).")],
) -> None:
    """Allow or stop learning across factories for one factory. Only models and aggregate figures
    leave the factory, never readings; a factory that shares may use the pooled models."""
    hub = _hub()
    hub.registry.set_model_sharing(factory, allow)
    err.print(f"model sharing for {factory}: {'allowed' if allow else 'denied'}")


def _ranges(values: list[str] | None, option: str) -> tuple[tuple[str, str], ...]:
    out = []
    for value in values or []:
        start, sep, end = value.partition("-")
        if not sep:
            raise HubError(f"{option} takes HH:MM-HH:MM ranges, got {value!r}")
        out.append((start.strip(), end.strip()))
    return tuple(out)


@factory_app.command("calendar")
def factory_calendar(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    shift: Annotated[list[str] | None, typer.Option(help="Monday-Friday production range HH:MM-HH:MM (repeat for several shifts; 22:00-06:00 crosses midnight).")] = None,
    saturday: Annotated[list[str] | None, typer.Option(help="Saturday production range(s).")] = None,
    sunday: Annotated[list[str] | None, typer.Option(help="Sunday production range(s).")] = None,
    holidays: Annotated[str | None, typer.Option(help="Country whose public holidays are not worked (ISO code, e.g. KR); 'none' for none.")] = "KR",
    closed: Annotated[list[str] | None, typer.Option(help="Plant shutdown day(s) YYYY-MM-DD.")] = None,
    worked: Annotated[list[str] | None, typer.Option(help="Exceptional working day(s) YYYY-MM-DD (with the weekday shifts).")] = None,
) -> None:
    """Show or set when a factory produces: maintenance windows are suggested outside these hours,
    weekends and public holidays. Without --shift, shows the calendar in use."""
    from analytics.solutions.calendar import WorkingCalendar, get_calendar, set_calendar

    hub = _hub()
    hub.registry.factory(factory)
    if shift:
        try:
            calendar = WorkingCalendar(
                shifts=_ranges(shift, "--shift"), saturday=_ranges(saturday, "--saturday"), sunday=_ranges(sunday, "--sunday"),
                holidays_country=None if (holidays or "").lower() == "none" else holidays,
                closed_days=tuple(_dates(closed, None, None) or ()), worked_days=tuple(_dates(worked, None, None) or ()),
            )  # fmt: skip
        except ValidationError as exc:
            raise HubError(_first_error(exc)) from exc
        set_calendar(hub, factory, calendar)
    print(json.dumps({"factory": factory, "calendar": get_calendar(hub, factory).model_dump(mode="json")}, ensure_ascii=False))


@machine_app.command("consequence")
def machine_consequence(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    machine: Annotated[str, typer.Option(help="Machine id.")],
    criticality: Annotated[int | None, typer.Option(help="1 (a spare or bypass exists) to 5 (the line stops without it).")] = None,
    downtime_cost: Annotated[float | None, typer.Option(help="Cost of an hour of this machine's downtime (the factory's currency or any consistent figure).")] = None,
) -> None:
    """Show or set what a stop of a machine costs: the priority list ranks machines by risk times this."""
    from analytics.solutions.priority import Consequence, get_consequences, set_consequence

    hub = _hub()
    current = get_consequences(hub, factory).get(machine)
    if current is None:
        hub.registry.machine(factory, machine)  # names the machine and the factory in the error
    if criticality is not None or downtime_cost is not None:
        update = {k: v for k, v in {"criticality": criticality, "downtime_cost_per_hour": downtime_cost}.items() if v is not None}
        try:
            current = Consequence(**{**(current.model_dump() if current else {}), **update})
        except ValidationError as exc:
            raise HubError(_first_error(exc)) from exc
        set_consequence(hub, factory, machine, current)
    print(json.dumps({"factory": factory, "machine": machine, **(current.model_dump() if current else {})}))


@alert_app.command("list")
def alert_list(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    status: Annotated[list[str] | None, typer.Option(help="open, acknowledged or resolved (repeatable); default: not resolved.")] = None,
    machine: Annotated[str | None, typer.Option(help="Only this machine.")] = None,
    language: Annotated[str, typer.Option(help="ko or en.")] = "en",
) -> None:
    """A factory's alerts: machine, failure mode, severity, days, escalation and the reason."""
    from analytics.solutions.alerts import AlertBook

    if language not in ("ko", "en"):
        raise HubError(f"--language must be ko or en, got {language!r}")
    hub = _hub()
    try:
        alerts = AlertBook(hub, factory).alerts(status=status or ["open", "acknowledged"], machine_id=machine)
    except ValueError as exc:
        raise HubError(str(exc)) from exc
    table = Table("alert", "machine", "mode", "severity", "status", "opened", "last", "escalation", "reason")
    for a in alerts:
        table.add_row(
            a.alert_id, a.machine_id, a.mode, a.severity, a.status, a.opened_day.isoformat(), a.last_day.isoformat(), str(a.escalation),
            escape(str(a.details.get(f"reason_{language}") or "")[:200]),
        )  # fmt: skip
    err.print(table)
    print(json.dumps({"factory": factory, "alerts": [{"alert_id": a.alert_id, "machine_id": a.machine_id, "mode": a.mode, "severity": a.severity,
                                                      "status": a.status, "opened_day": a.opened_day.isoformat(), "escalation": a.escalation} for a in alerts]}))  # fmt: skip


@alert_app.command("ack")
def alert_ack(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    alert: Annotated[str, typer.Option(help="Alert id.")],
    user: Annotated[str, typer.Option(help="Who acknowledges it.")],
) -> None:
    """Acknowledge an alert: someone is on it (stops its escalation)."""
    from analytics.solutions.alerts import AlertBook

    try:
        done = AlertBook(_hub(), factory).acknowledge(alert, user)
    except ValueError as exc:
        raise HubError(str(exc)) from exc
    print(json.dumps({"alert_id": done.alert_id, "status": done.status}))


@alert_app.command("resolve")
def alert_resolve(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    alert: Annotated[str, typer.Option(help="Alert id.")],
    user: Annotated[str, typer.Option(help="Who resolves it.")],
    note: Annotated[str, typer.Option(help="What was done.")] = "",
) -> None:
    """Resolve an alert (final: a new problem opens a new alert)."""
    from analytics.solutions.alerts import AlertBook

    try:
        done = AlertBook(_hub(), factory).resolve(alert, user, note)
    except ValueError as exc:
        raise HubError(str(exc)) from exc
    print(json.dumps({"alert_id": done.alert_id, "status": done.status}))


@alert_app.command("feedback")
def alert_feedback(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    alert: Annotated[str, typer.Option(help="Alert id.")],
    user: Annotated[str, typer.Option(help="Who gives the verdict.")],
    verdict: Annotated[str, typer.Option(help="true_problem or false_alarm.")],
    mode: Annotated[str | None, typer.Option(help="With true_problem: the failure mode found (bearing_wear, clogging ...).")] = None,
    note: Annotated[str, typer.Option(help="What was found.")] = "",
) -> None:
    """Say what an alert turned out to be. A false alarm widens the machine's normal envelope and
    raises its warning bar; a true problem becomes a labelled failure for the failure models."""
    from analytics.solutions.alerts import AlertBook

    try:
        feedback_id = AlertBook(_hub(), factory).give_feedback(alert, verdict, user=user, failure_mode=mode, note=note)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:  # a bad verdict, mode or user name: the user's input
        raise HubError(str(exc)) from exc
    print(json.dumps({"alert_id": alert, "feedback_id": feedback_id, "verdict": verdict}))


# --- dashboard users ---------------------------------------------------------------------------
_PASSWORD_STDIN_HELP = "Read the password from the first line of standard input (for scripts) instead of asking for it."


def _password(password_stdin: bool) -> str:
    """The new password: asked for twice without echo, or the first line of stdin. Never an
    argument: those show in ``ps`` and in shell history."""
    if not password_stdin:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise HubError("--password-stdin: no password on the first line of standard input")
    return line


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="User name (lower case letters, digits, '.', '-' and '_').")],
    role: Annotated[str, typer.Option(help="plant_manager, engineer (both of one factory) or admin (all factories).")],
    factory: Annotated[str | None, typer.Option(help="The user's factory (not for an admin).")] = None,
    name: Annotated[str, typer.Option(help="Display name; default the user name.")] = "",
    language: Annotated[str | None, typer.Option(help="ko or en; default the factory's (Korean in Korean time zones).")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address, for sign-in through the identity provider.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=_PASSWORD_STDIN_HELP)] = False,
) -> None:
    """Create a dashboard account; the password is asked for (hidden, twice)."""
    from analytics.store.users import UserBook

    book = UserBook(_hub())
    book.check_new(username, role=role, factory_id=factory, display_name=name, language=language, email=email)  # before asking for a password
    user = book.add(username, _password(password_stdin), role=role, factory_id=factory, display_name=name, language=language, email=email)
    console.print(f"added user [bold]{escape(user.username)}[/]: {user.role}" + (f" of {user.factory_id}" if user.factory_id else " (all factories)"))


@user_app.command("list")
def user_list(factory: Annotated[str | None, typer.Option(help="Only this factory's users.")] = None) -> None:
    """List dashboard accounts (never their password hashes)."""
    from analytics.store.users import UserBook

    table = Table("user", "name", "role", "factory", "language", "e-mail", "created", "last sign-in", "status")
    for u in UserBook(_hub()).users(factory):
        table.add_row(
            u.username, escape(u.display_name), u.role, u.factory_id or "(all)", u.language or "(default)", escape(u.email or ""),
            u.created_at, u.last_login_at or "never", "disabled" if u.disabled else "active",
        )  # fmt: skip
    console.print(table)


@user_app.command("passwd")
def user_passwd(
    username: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=_PASSWORD_STDIN_HELP)] = False,
) -> None:
    """Set a new password (also lifts a lock-out after failed sign-ins)."""
    from analytics.store.users import UserBook

    book = UserBook(_hub())
    book.user(username)  # an unknown name fails before the prompt
    book.set_password(username, _password(password_stdin))
    console.print(f"password of [bold]{escape(username)}[/] changed")


@user_app.command("disable")
def user_disable(
    username: Annotated[str, typer.Argument(help="User name.")],
    enable: Annotated[bool, typer.Option("--enable", help="Allow the account to sign in again.")] = False,
) -> None:
    """Stop an account signing in (kept, with its history); --enable allows it again."""
    from analytics.store.users import UserBook

    UserBook(_hub()).disable(username, disabled=not enable)
    console.print(f"user [bold]{escape(username)}[/] {'enabled' if enable else 'disabled'}")


@user_app.command("remove")
def user_remove(
    username: Annotated[str, typer.Argument(help="User name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a dashboard account."""
    from analytics.store.users import UserBook

    book = UserBook(_hub())
    book.user(username)
    if not yes and not typer.confirm(f"Delete user {username} permanently?"):
        raise typer.Exit(1)
    book.remove(username)
    console.print(f"removed user {escape(username)}")


@features_app.command("build")
def features_build(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    window: Annotated[list[str] | None, typer.Option(help="Window size(s): 10min, 1h, 1d (default: all of the feature set).")] = None,
    day: Annotated[list[str] | None, typer.Option("--date", help="Local date(s) to (re)compute; default: every date with readings.")] = None,
    start: Annotated[str | None, typer.Option(help="First local date of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last local date of a range (inclusive).")] = None,
    stale: Annotated[bool, typer.Option(help="Only the dates whose readings changed since their features were built.")] = False,
) -> None:
    """Compute and store a factory's features (incremental: only the dates given, plus the later
    dates whose trailing context they change)."""
    from analytics.features import MACHINE_HEALTH, build_features, stale_dates

    hub = _hub()
    hub.registry.factory(factory)
    if stale and (day or start or end):
        raise HubError("--stale chooses the dates itself: leave out --date, --start and --end")
    dates = _dates(day, start, end)
    table = Table("window", "dates computed", "dates refreshed", "readings", "sensor rows", "machine rows", "seconds")
    for size in window or list(MACHINE_HEALTH.windows):
        wanted = stale_dates(hub, factory, window=size) if stale else dates
        if wanted == []:
            table.add_row(size, "0", "0", "0", "0", "0", "0.0")
            continue
        with _progress("dates") as bar:
            task = bar.add_task(f"features {size}", total=len(wanted) if wanted is not None else None)
            started = time.perf_counter()
            run = build_features(hub, factory, wanted, window=size, progress=lambda _d, t=task: bar.advance(t))
        table.add_row(size, str(len(run.computed)), str(len(run.refreshed)), f"{run.readings:,}", f"{run.sensor_rows:,}", f"{run.machine_rows:,}", f"{time.perf_counter() - started:.1f}")
    console.print(table)


@features_app.command("rules")
def features_rules(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    refit: Annotated[bool, typer.Option(help="Fit every machine's rule again (then rebuild the features).")] = False,
) -> None:
    """Show (fitting where missing) each machine's operating-state rule."""
    from analytics.features import fit_state_rules

    hub = _hub()
    hub.registry.factory(factory)
    rules = fit_state_rules(hub, factory, refit=refit)
    table = Table("machine", "load sensor", "off below", "running from", "fitted on")
    for rule in rules.values():
        table.add_row(rule.machine_id, rule.sensor, f"{rule.off_below:.4g}", f"{rule.run_above:.4g}", f"{rule.fitted_from[:10]} .. {rule.fitted_to[:10]}")
    console.print(table)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write (must not exist or be empty, unless --force).")],
    factories: Annotated[int, typer.Option(help="Number of factories.")] = 3,
    machines: Annotated[int, typer.Option(help="Machines per factory.")] = 8,
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives byte-identical files.")] = 1,
    start: Annotated[str | None, typer.Option(help="First local day (YYYY-MM-DD); default 2026-09-01.")] = None,
    interval: Annotated[str, typer.Option(help="Sampling interval (10s, 1min, 5min ...).")] = "1min",
    timezone: Annotated[str | None, typer.Option(help="Factories' IANA time zone; default from settings.")] = None,
    failure_rate: Annotated[float, typer.Option(help="Multiplies every degradation onset rate.")] = 1.0,
    sensor_faults: Annotated[bool, typer.Option(help="Inject dropouts, stuck values, spikes and error codes.")] = True,
    workers: Annotated[int | None, typer.Option(help="Parallel processes (default: one per core).")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing simulation in OUT.")] = False,
) -> None:
    """Simulate factories with known truth: the files they would send, and what really happened."""
    from analytics.simulate import simulate_hub

    config = _simulation_config(
        factories=factories, machines=machines, days=days, seed=seed, start=start, interval=interval,
        timezone=timezone, failure_rate=failure_rate, sensor_faults=sensor_faults,
    )
    with _progress("factories") as bar:
        task = bar.add_task("simulating", total=config.factories)
        result = simulate_hub(config, out, workers=workers, force=force, progress=lambda _: bar.advance(task))
    table = Table("factory", "gateway", "machines", "files", "readings", "failures", "sensor faults")
    for f in result.factories:
        table.add_row(f["factory_id"], f["gateway"], str(len(f["machines"])), f"{f['files']:,}", f"{f['readings']:,}", str(f["failures"]), str(f["sensor_faults"]))
    err.print(table)
    err.print(f"written to {out} (ground truth under {out / 'truth'})", markup=False, highlight=False)
    print(json.dumps(result.figures()))


def _simulation_config(**values: object) -> SimulationConfig:
    from analytics.simulate.plans import SimulationConfig

    values = {k: v for k, v in values.items() if v is not None}
    values.setdefault("timezone", get_settings().default_timezone)
    try:
        return SimulationConfig(**values)
    except ValidationError as exc:
        raise HubError(_first_error(exc)) from exc


@demo_app.command("build")
def demo_build(
    samples: Annotated[Path | None, typer.Option(help="Build from this folder of factory folders instead of simulating.")] = None,
    factories: Annotated[int, typer.Option(help="Simulated factories.")] = 3,
    days: Annotated[int, typer.Option(help="Simulated days, ending yesterday.")] = 30,
    machines: Annotated[int, typer.Option(help="Machines per simulated factory.")] = 8,
    seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
    live: Annotated[bool, typer.Option(help="Live every ingested day through the daily pipeline (features, models, solutions).")] = True,
) -> None:
    """Build the demo hub: simulate factories up to yesterday (or take --samples), ingest them, live
    their days through the daily pipeline as the factories would have, and create demo accounts."""
    from analytics.demo import CREDENTIALS_FILE, build_demo, demo_accounts, simulate_demo, unlived_days
    from analytics.pipeline import DayOutcome, live_days

    hub = _hub()
    if samples is None:
        samples = simulate_demo(hub.settings, factories=factories, days=days, machines=machines, seed=seed)
        err.print(f"simulated {factories} factories x {days} days in {samples}", markup=False, highlight=False)
    with _progress("files") as bar:
        task = bar.add_task("ingesting", total=None)
        built = build_demo(hub, samples, on_file=lambda total: bar.update(task, total=total, advance=1))
    for factory_id, results in built.items():
        readings = sum(r.accepted for r in results if r.table == "readings")
        events = sum(r.accepted for r in results if r.table == "events")
        skipped = sum(r.status == "skipped" for r in results)
        console.print(
            f"[bold]{factory_id}[/]: {len(results)} files ({skipped} already ingested), "
            f"{readings:,} new readings, {events:,} new events"
        )
    factory_ids = list(built)
    failed: list[DayOutcome] = []
    if live:
        for factory_id in factory_ids:
            hub.registry.set_model_sharing(factory_id, True)  # the demo's factories learn from each other
        todo = {f: unlived_days(hub, f) for f in factory_ids}
        with _progress("factory-days") as bar:
            task = bar.add_task("daily pipeline", total=sum(map(len, todo.values())))

            def step(outcome: DayOutcome) -> None:
                bar.update(task, advance=1, description=f"daily pipeline {outcome.day} {outcome.factory_id}")
                if outcome.status != "ok":
                    failed.append(outcome)

            run_id, outcomes = live_days(hub, todo, kind="demo", on_day=step)
        console.print(f"lived {len(outcomes)} factory-days through the daily pipeline (run {run_id}, {len(failed)} failed)")
        for outcome in failed:
            err.print(f"{outcome.factory_id} {outcome.day}: {outcome.stage} failed: {outcome.error}", markup=False, highlight=False)
    accounts = demo_accounts(hub, factory_ids)
    # Passwords go to the owner-only file, not the terminal: build output ends up in CI and shell logs.
    table = Table(title="demo sign-in (new passwords on every build)")
    for column in ("user", "role", "factory"):
        table.add_column(column)
    for account in accounts:
        table.add_row(account.username, account.role, account.factory_id or "(all)")
    console.print(table)
    console.print(f"passwords: {Path(hub.settings.data_dir) / CREDENTIALS_FILE} (readable by you only)")
    if failed:
        raise typer.Exit(1)


# --- the daily run and its report ------------------------------------------------------------------
def _one_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError as exc:
        raise HubError(f"--date is YYYY-MM-DD: {exc}") from exc


@run_app.command("daily")
def run_daily_command(
    day: Annotated[str | None, typer.Option("--date", help="Local date to process (default: each factory's yesterday).")] = None,
    factory: Annotated[list[str] | None, typer.Option("--factory", help="Only these factories (repeat the option); default: all.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the reports under DIR/<factory>/<date>/ (default: each factory's reports/ folder).")] = None,
    send: Annotated[bool, typer.Option("--send/--no-send", help="E-mail the reports (needs FACTORYHUB_MAIL__HOST).")] = True,
    force: Annotated[bool, typer.Option(help="Send reports again to recipients who already got them.")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Factories at a time, on a local Dask cluster of this many worker processes.")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="Run the factories on the Dask cluster of this scheduler (tcp://HOST:PORT; default: FACTORYHUB_SCHEDULER).")
    ] = None,
    pooled: Annotated[
        bool | None,
        typer.Option("--pooled/--no-pooled", help="Afterwards, train the hub's pooled failure models that are due (default: when every factory runs, not with --factory)."),
    ] = None,
) -> None:
    """Every factory's day: ingest its inbox, features, anomaly scores, retraining when due,
    failure risk, solutions and alerts, then the daily report (written, and sent). A factory that
    fails is recorded and does not stop the others; the exit status is 1 when any failed (or a
    pooled model's training did).
    Re-running a date adds nothing and sends nothing twice. With --scheduler or --workers, each
    factory-day is a task on a Dask cluster (same work, same results). Then the pooled failure
    models that are due are trained (weekly, or when a factory they learned from stops sharing)."""
    from analytics.pipeline.runs import RunLog

    hub = _hub()
    scheduler = scheduler or hub.settings.scheduler
    if send and not hub.settings.mail.host:
        err.print("mail: no SMTP server configured (FACTORYHUB_MAIL__HOST): reports are written, not sent", markup=False, highlight=False)
        send = False
    ids = factory or [f.factory_id for f in hub.registry.factories()]
    with _dask_client(scheduler, workers) if scheduler or workers > 1 else nullcontext() as client:
        run_id, results = _run_daily_with_progress(hub, ids, day, out, send, force, workers, client, pooled=not factory if pooled is None else pooled)
    _print_daily_summary(run_id, results, RunLog(hub).pooled(run_id))


@contextmanager
def _dask_client(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A Dask client (of ``scheduler``, or of a local cluster of ``workers`` processes), its
    dashboard link printed for the operator."""
    from analytics.pipeline.cluster import cluster_summary, dask_client

    with dask_client(scheduler, workers=None if scheduler else workers) as client:
        info = cluster_summary(client)
        err.print(f"Dask cluster {info['scheduler']}: {info['workers']} workers, {info['threads']} threads; dashboard {info['dashboard']}", markup=False, highlight=False)
        yield client


def _run_daily_with_progress(
    hub: Hub, ids: list[str], day: str | None, out: Path | None, send: bool, force: bool, workers: int, client: Client | None, *, pooled: bool
) -> tuple[str, list[FactoryRun]]:
    from analytics.pipeline.scheduled import DAILY_STAGES, run_daily

    with Progress(TextColumn("{task.description:<10}"), BarColumn(), TextColumn("{task.completed}/{task.total} factories"), TextColumn("{task.fields[failed]}"), TimeElapsedColumn(), console=err, transient=False) as bar:
        tasks = {stage: bar.add_task(stage, total=len(ids), failed="") for stage in DAILY_STAGES}
        failures: dict[str, int] = dict.fromkeys(DAILY_STAGES, 0)

        def on_stage(factory_id: str, stage: str, status: str) -> None:
            failures[stage] += status == "failed"
            bar.update(tasks[stage], advance=1, failed=f"[red]{failures[stage]} failed[/]" if failures[stage] else "")

        return run_daily(
            hub, _one_date(day), ids, send=send, out_dir=out, force=force, workers=workers, client=client, on_stage=on_stage, pooled=pooled,
            on_pooled=lambda trained: _print_pooled(trained, title="pooled failure models trained after the factory-days"),
        )  # fmt: skip


def _print_daily_summary(run_id: str, results: list[FactoryRun], pooled: pl.DataFrame) -> None:
    """The run's table of factories, their errors and the last-line JSON (with each pooled
    model's training status); exit status 1 when a factory-day or a pooled training failed."""
    table = Table("factory", "date", "status", "files", "readings", "alarms", "statuses", "alerts opened", "report", "seconds", title=f"daily run {run_id}")
    for r in results:
        c = r.counts
        solve = c.get("solve", {})
        statuses = ", ".join(f"{solve[s]} {s}" for s in ("critical", "warning", "watch", "normal") if solve.get(s))
        mail = c.get("report", {})
        sent = f"sent {mail['sent']}" + (f", had {mail['already_sent']}" if mail.get("already_sent") else "") if "sent" in mail else "written" if r.report else "-"
        table.add_row(
            r.factory_id, r.day.isoformat(), "[green]ok[/]" if r.status == "ok" else f"[red]failed at {r.stage}[/]",
            str(c.get("ingest", {}).get("files", 0)), f"{c.get('features', {}).get('readings', 0):,}", str(c.get("score", {}).get("alarms", "-")),
            statuses or "-", str(solve.get("alerts_opened", "-")), sent, f"{sum(r.seconds.values()):.1f}",
        )  # fmt: skip
    # Wide enough for its ten columns when cron pipes it to a log (rich assumes 80 off a terminal).
    Console(width=max(console.width, 160)).print(table)
    for r in results:
        for error in r.errors:
            err.print(f"{r.factory_id} {r.day}: {error}", markup=False, highlight=False)
    failed = [r.factory_id for r in results if r.status != "ok"]
    trained = dict(pooled.select("machine_type", "status").iter_rows())
    print(
        json.dumps(
            {"run_id": run_id, "factories": len(results), "failed": failed, "sent": sum(r.counts.get("report", {}).get("sent", 0) for r in results), "pooled": trained}
        )
    )
    if failed or "failed" in trained.values():
        raise typer.Exit(1)


@report_app.command("daily")
def report_daily(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    day: Annotated[str, typer.Option("--date", help="Local date of the report (YYYY-MM-DD).")],
    send: Annotated[bool, typer.Option("--send", help="E-mail it to the factory's recipients (once per day unless --force).")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write it under DIR/<factory>/<date>/.")] = None,
    language: Annotated[str | None, typer.Option(help="ko or en (default: the factory's).")] = None,
    force: Annotated[bool, typer.Option(help="With --send: send again to recipients who already got it.")] = False,
) -> None:
    """One factory's daily report: subject, HTML with inline charts and a plain-text part."""
    from analytics.pipeline.scheduled import report_folder
    from analytics.reports.daily import build_daily_report
    from analytics.reports.mail import send_daily_report

    hub = _hub()
    the_day = _one_date(day)
    assert the_day is not None
    report = build_daily_report(hub, factory, the_day, language=language, dashboard_url=hub.settings.dashboard_url)
    figures: dict[str, object] = {"factory": factory, "date": day, "language": report.language, "subject": report.subject, "images": len(report.images)}
    path = report.write(report_folder(hub, factory, the_day, out))
    figures["html"] = str(path)
    console.print(f"{report.subject}\n{path}", markup=False, highlight=False)
    if send:
        outcome = send_daily_report(hub, factory, the_day, force=force, reports={report.language: report})
        figures |= {"sent": outcome.sent, "already_sent": outcome.skipped, "failed": outcome.failed}
        for address, why in outcome.failed.items():
            err.print(f"not sent to {address}: {why}", markup=False, highlight=False)
    print(json.dumps(figures, ensure_ascii=False))
    if send and figures.get("failed"):
        raise typer.Exit(1)


@recipient_app.command("add")
def recipients_add(
    factory: Annotated[str, typer.Option(help="Factory id.")],
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    name: Annotated[str, typer.Option(help="The person's name.")] = "",
    language: Annotated[str | None, typer.Option(help="ko or en (default: the factory's).")] = None,
) -> None:
    """Add someone to a factory's daily report (or change their name or language)."""
    from analytics.reports.mail import ReportRecipients

    try:
        ReportRecipients(_hub(), factory).add(email, name=name, language=language)
    except ValueError as exc:
        raise HubError(str(exc)) from exc
    console.print(f"{email} receives {factory}'s daily report", markup=False, highlight=False)


@recipient_app.command("remove")
def recipients_remove(factory: Annotated[str, typer.Option(help="Factory id.")], email: Annotated[str, typer.Argument(help="E-mail address.")]) -> None:
    """Take someone off a factory's daily report."""
    from analytics.reports.mail import ReportRecipients

    try:
        removed = ReportRecipients(_hub(), factory).remove(email)
    except ValueError as exc:
        raise HubError(str(exc)) from exc
    if not removed:
        raise HubError(f"{email} is not a recipient of {factory}'s report")
    console.print(f"{email} no longer receives {factory}'s daily report", markup=False, highlight=False)


@recipient_app.command("list")
def recipients_list(factory: Annotated[str, typer.Option(help="Factory id.")]) -> None:
    """Who receives a factory's daily report."""
    from analytics.reports.mail import ReportRecipients

    table = Table("e-mail", "name", "language", title=f"{factory} daily report")
    for r in ReportRecipients(_hub(), factory).list():
        table.add_row(r.email, r.name, r.language or "(factory's)")
    console.print(table)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))


def main() -> None:
    """Console entry point: user errors print one clear line and exit 1."""
    from analytics.threads import prefer_passive_openmp

    # Importing this module loads no OpenMP (a test checks), so this still comes first; the Dask
    # workers a command starts inherit it.
    prefer_passive_openmp()
    try:
        app()
    except HubError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
