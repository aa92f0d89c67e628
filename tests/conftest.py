"""Shared fixtures: a fresh hub in a temporary folder with one registered factory."""

from __future__ import annotations

import os

from analytics.threads import thread_environment

# pytest-xdist runs a worker process per core: each gets its share of the cores for its thread
# pools, as a Dask worker does (analytics.pipeline.cluster), before Polars or XGBoost load. With the
# libraries' defaults every worker's OpenMP asked for all the cores and, on a loaded 2-core machine,
# a model training that takes 8 s ran past the 600 s timeout. Only in a worker: the controller
# loads this file too, before it starts the workers, which would inherit its values. A variable
# the caller set is kept.
if _workers := os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    for _name, _value in thread_environment((os.cpu_count() or 1) // int(_workers)).items():
        os.environ.setdefault(_name, _value)

from collections.abc import Callable, Iterator  # noqa: E402 (after the thread pools are sized)
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from analytics.schemas import PlantDescription
from analytics.store.hub import Hub

# A fixed "now" so that "timestamp in the future" never depends on when the tests run.
NOW = datetime(2026, 11, 1, tzinfo=UTC)


# The files whose tests take minutes (measured with --durations=0: module fixtures that simulate
# and train a fleet, the executed notebooks), heaviest first. They are handed out first, so the
# many short files fill in beside them. pytest-xdist's own order (--dist loadfile) puts the files
# with the most tests first, and left the few-test heavy files to run alone at the end: 17 min
# wall time where the two workers' work adds up to 11 min each.
HEAVY_FILES = (
    "test_solutions_fleet.py",
    "test_notebooks.py",
    "test_failure_training.py",
    "test_cluster.py",
    "test_failure_pooled.py",
    "test_app.py",
    "test_daily_run.py",
    "test_anomaly_scoring.py",
    "test_simulator_files.py",
    "test_eval_rul.py",
    "test_browser.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heavy files first (:data:`HEAVY_FILES`), each file's tests in their own order; run with
    ``--no-loadscope-reorder`` (pyproject.toml) so that pytest-xdist hands them out in this order."""
    rank = {name: i for i, name in enumerate(HEAVY_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def untranslated_words(english: str, shown: str) -> list[str]:
    """The words of ``english``'s library templates (:data:`analytics.i18n.LIBRARY_TEXTS`) still in
    ``shown``, its Korean rendering; ``["<no Hangul>"]`` when it has no Korean at all. A word is
    left untranslated when ``shown`` has it more often than the data it quotes do (the values of
    the template's placeholders, kept as they are: "use maintenance/failure/alarm" lists the kinds
    a file may use, in the words the file must use)."""
    import re
    from collections import Counter

    from analytics.i18n import _NESTED_TEXTS, LIBRARY_TEXTS, _text_patterns

    def words(text: str) -> list[str]:
        return re.findall(r"\b[a-z]{3,}\b", text)

    if not re.search("[가-힣]", shown):
        return ["<no Hangul>"]
    template_words = {w for en in LIBRARY_TEXTS for w in re.findall(r"[a-z]{3,}", re.sub(r"\{\w+\}", " ", en))}
    in_english = set(words(english))
    quoted: Counter[str] = Counter()
    match = next((m for pattern, _ in _text_patterns() if (m := pattern.match(english))), None)
    if match is not None:
        quoted.update(w for name, value in match.groupdict().items() if name not in _NESTED_TEXTS for w in words(value))
    left = Counter(words(shown))
    left.subtract(quoted)
    return sorted(w for w, n in left.items() if n > 0 and w in template_words and w in in_english)

PLANT = {
    "factory": {"id": "acme", "name_ko": "에이크미 정밀", "name_en": "Acme Precision", "timezone": "Asia/Seoul"},
    "machines": [
        {
            "id": "CNC-01",
            "type": "cnc_spindle",
            "model": "DN Solutions DNM 5700",
            "install_date": "2019-04-01",
            "sensors": [
                {"name": "spindle_temp", "unit": "°C", "min": -20, "max": 200, "interval": "1s"},
                {"name": "vibration_rms", "unit": "mm/s", "min": 0, "max": 100, "interval": "1s"},
                {"name": "motor_current", "unit": "A", "min": 0, "max": 500, "interval": "1s"},
            ],
        },
        {
            "id": "PUMP-02",
            "type": "pump",
            "sensors": [
                {"name": "pressure", "unit": "bar", "min": 0, "max": 40, "interval": "10s"},
                {"name": "flow", "unit": "m3/h", "min": 0, "max": 500, "interval": "10s"},
            ],
        },
    ],
}


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    """An empty hub in a temporary data directory."""
    return Hub.open(data_dir=tmp_path / "hub")


@pytest.fixture
def acme(hub: Hub) -> Hub:
    """A hub with the factory ``acme`` (Asia/Seoul): CNC-01 (1 s sensors) and PUMP-02 (10 s)."""
    hub.registry.register_plant(PlantDescription.model_validate(PLANT))
    return hub


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """Write text (or bytes) to a file in the test's folder and return its path."""

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode(encoding))
        return path

    return write


# --- a small simulated hub lived day by day through the whole pipeline --------------------------
# Built once per test session (about half a minute) and shared by the dashboard, view and report
# tests. Tests that change it (alerts acknowledged, feedback given) work on a copy (`lived_copy`).
LIVED_FACTORIES = ("hanbit-01", "daeyang-02")


def _build_lived(root: Path) -> Path:
    from datetime import timedelta

    from analytics.demo import build_factory
    from analytics.evaluation.fleet import FAR_FUTURE
    from analytics.pipeline import process_day
    from analytics.simulate import simulate_hub
    from analytics.simulate.plans import SimulationConfig

    config = SimulationConfig(factories=2, machines=4, days=24, seed=5, interval="20min", timezone="Asia/Seoul", failure_rate=2.0)
    result = simulate_hub(config, root / "sim", workers=1)
    hub = Hub.open(data_dir=root / "hub")
    factories = [f["factory_id"] for f in result.factories]
    assert tuple(factories) == LIVED_FACTORIES
    for factory_id in factories:
        build_factory(hub, root / "sim" / factory_id, now=FAR_FUTURE)
        hub.registry.set_model_sharing(factory_id, True)
    for i in range(config.days):
        for factory_id in factories:
            process_day(hub, factory_id, config.start + timedelta(days=i))
    return root / "hub"


@pytest.fixture(scope="session")
def lived_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Data folder of a hub holding 2 simulated factories x 4 machines x 24 days (20-minute
    samples, seed 5, failures twice the default rate, model sharing on), each day processed in
    order by :func:`analytics.pipeline.process_day`; the simulation itself is in ``../sim``.

    With the suite spread over processes (pytest-xdist), the first worker to need it builds it in
    the run's shared temporary folder and the others wait for it and read the same hub."""
    return _built_once(tmp_path_factory, worker_id, "lived", _build_lived)


def _built_once(tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str, build: Callable[[Path], Path]) -> Path:
    """``build(folder)`` once per test run: in one process, in its own folder; with the suite
    spread over processes (pytest-xdist), by the first worker that needs it, in the run's shared
    temporary folder, while the others wait for it and then read the same result."""
    if worker_id == "master":
        return build(tmp_path_factory.mktemp(name))
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, above every worker's own
    with FileLock(str(shared / f"{name}.lock")):
        done = shared / name / "complete"
        if not done.exists():
            done.parent.mkdir(parents=True, exist_ok=True)
            done.write_text(str(build(shared / name)), encoding="utf-8")
    return Path(done.read_text(encoding="utf-8"))


@pytest.fixture
def lived_copy(lived_dir: Path, tmp_path: Path) -> Hub:
    """A private copy of the lived hub, for tests that change it."""
    import shutil

    shutil.copytree(lived_dir, tmp_path / "lived")
    return Hub.open(data_dir=tmp_path / "lived")


# --- the lived hub's next day, as a gateway leaves it in the inboxes overnight --------------------
NEXT_DAY = date(2026, 9, 25)  # the lived hub's days are 2026-09-01 .. 2026-09-24


@pytest.fixture(scope="module")
def next_day_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulator's 2026-09-25 for the lived hub's two factories (same seed, so the same plants)."""
    from analytics.simulate import simulate_hub
    from analytics.simulate.plans import SimulationConfig

    root = tmp_path_factory.mktemp("next-day")
    config = SimulationConfig(factories=2, machines=4, days=1, seed=5, interval="20min", timezone="Asia/Seoul", failure_rate=2.0, start=NEXT_DAY)
    simulate_hub(config, root, workers=1)
    return root


def fill_inbox(hub: Hub, files: Path, factory_id: str) -> list[str]:
    """Put the factory's delivery of :data:`NEXT_DAY` in its inbox (mappings too, settled)."""
    import os

    from analytics.ingest.inbox import inbox_dir
    from analytics.store.storage import is_local

    inbox = inbox_dir(hub, factory_id)
    inbox.mkdir(parents=True, exist_ok=True)
    for mapping in ("mapping.yaml", "events_mapping.yaml"):
        if (files / factory_id / mapping).is_file():
            (inbox / mapping).write_bytes((files / factory_id / mapping).read_bytes())
    names = []
    for path in sorted((files / factory_id / "incoming").rglob("*.csv")):
        if path.stem.endswith(NEXT_DAY.strftime("%Y%m%d")):
            (inbox / path.name).write_bytes(path.read_bytes())  # the inbox may be on an object store
            if is_local(inbox):
                os.utime(inbox / path.name, (0, 0))  # long settled
            names.append(path.name)
    assert names
    return names


# --- a sharing fleet with failures enough to train pooled failure models ------------------------
POOLED_FACTORIES = ("hanbit-01", "daeyang-02", "seoyeon-03")  # each has an air compressor and a pump


def _build_pooled_fleet(root: Path) -> Path:
    from analytics.demo import build_factory
    from analytics.evaluation.fleet import FAR_FUTURE
    from analytics.features import build_features
    from analytics.simulate import simulate_hub
    from analytics.simulate.plans import SimulationConfig

    config = SimulationConfig(factories=3, machines=5, days=36, seed=5, interval="20min", start=date(2026, 9, 1), failure_rate=6.0)
    result = simulate_hub(config, root / "sim", workers=1)
    hub = Hub.open(data_dir=root / "hub")
    assert tuple(f["factory_id"] for f in result.factories) == POOLED_FACTORIES
    for factory_id in POOLED_FACTORIES:
        build_factory(hub, root / "sim" / factory_id, now=FAR_FUTURE)
        build_features(hub, factory_id, window="1h")
        hub.registry.set_model_sharing(factory_id, True)
    return root / "hub"


@pytest.fixture(scope="session")
def pooled_fleet_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Data folder of a hub of 3 simulated factories x 5 machines x 36 days (20-minute samples,
    seed 5, failures six times the default rate), ingested with their hourly features, every
    factory sharing its data for pooled models."""
    return _built_once(tmp_path_factory, worker_id, "pooled-fleet", _build_pooled_fleet)


# --- an object store: a real S3 API (moto's server) on 127.0.0.1 -----------------------------------
OBJECT_BUCKET = "factory-hub-test"


@pytest.fixture(scope="session")
def object_store() -> Iterator[str]:
    """An S3 endpoint on 127.0.0.1 with an empty bucket, and the standard AWS_* variables that
    point this process (and the worker processes it starts from now on) at it; yields the
    bucket's URI. fsspec (s3fs), Polars and Delta Lake all talk to it as to S3."""
    import os

    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    variables = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",  # the emulator's, not a real one
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",  # Polars' and Delta Lake's object_store refuse plain HTTP otherwise
    }
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket=OBJECT_BUCKET)
        yield f"s3://{OBJECT_BUCKET}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
