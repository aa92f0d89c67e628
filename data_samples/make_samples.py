"""Regenerate the demo data files in ``data_samples/`` from the public datasets.

Run from the repository root (the datasets folder defaults to ``../shared/datasets``)::

    .venv/bin/python data_samples/make_samples.py [--datasets PATH]

Every conversion from a public dataset to a factory-style file is in this script, so it can be
reviewed and re-run. The ``plant.yaml``, ``mapping.yaml``, ``events_mapping.yaml`` and
``SOURCE.md`` files beside the outputs are written by hand; the C-MAPSS events take their time
origin and step from ``cmapss-turbofan/mapping.yaml`` so readings and failures share one clock.

The output is deterministic: running the script twice writes byte-identical files. That matters
because the hub skips a file whose content it has already ingested (by SHA-256).
Needs the repository's virtualenv (it reads mapping.yaml with :func:`load_mapping`).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from analytics.ingest.mapping import load_mapping

log = logging.getLogger("make_samples")

HERE = Path(__file__).resolve().parent
DEFAULT_DATASETS = HERE.parent.parent / "shared" / "datasets"
EVENT_COLUMNS = ("machine_id", "ts", "kind", "component", "text")
TS_FORMAT = "%Y-%m-%d %H:%M:%S"

# --- AI4I 2020 -> ai4i-mill ----------------------------------------------------------------------
# One AI4I row is one milling process. The dataset has no clock, so each row gets a local
# (Asia/Seoul) time: one process every 10 minutes from Monday 2025-03-03 06:00, in file order.
AI4I_ORIGIN = datetime(2025, 3, 3, 6, 0, 0)
AI4I_STEP = timedelta(minutes=10)
AI4I_MACHINE = "MILL-01"
# Source column -> Korean header of the export (sensor columns are mapped in mapping.yaml).
AI4I_HEADER = {
    "UDI": "번호",
    "Product ID": "제품번호",
    "Type": "제품등급",
    "Air temperature [K]": "공기온도(K)",
    "Process temperature [K]": "공정온도(K)",
    "Rotational speed [rpm]": "회전수(rpm)",
    "Torque [Nm]": "토크(Nm)",
    "Tool wear [min]": "공구마모(분)",
}
AI4I_MODES = {
    "TWF": "공구 마모 고장 (tool wear failure)",
    "HDF": "방열 불량 고장 (heat dissipation failure)",
    "PWF": "동력 고장 (power failure)",
    "OSF": "과부하 고장 (overstrain failure)",
    "RNF": "무작위 고장 (random failure)",
}

# --- C-MAPSS FD001 -> cmapss-turbofan ------------------------------------------------------------
CMAPSS_UNITS = range(1, 11)  # the first ten training engines, each run to failure
# The 14 sensors that vary in FD001 (the other 7 are constant there), by 1-based column number.
CMAPSS_SENSORS = {
    7: "T24", 8: "T30", 9: "T50", 12: "P30", 13: "Nf", 14: "Nc", 16: "Ps30",
    17: "phi", 18: "NRf", 19: "NRc", 20: "BPR", 22: "htBleed", 25: "W31", 26: "W32",
}
CMAPSS_PREFIX = "ENG-"

# --- NAB machine_temperature_system_failure -> nab-machine-temp ----------------------------------
NAB_FILE = "machine_temperature_system_failure.csv"
NAB_MACHINE = "MT-01"
# combined_labels.json lists four anomaly points for this file. The NAB data README says: the
# first is a planned shutdown, the second is hard to detect and directly led to the third, a
# catastrophic failure. It says nothing of the fourth, so it is recorded as an alarm only.
NAB_EVENTS = (
    ("maintenance", "machine", "계획 정지 (planned shutdown; NAB anomaly 1)"),
    ("alarm", "machine", "이상 징후 (subtle anomaly that led to the failure; NAB anomaly 2)"),
    ("failure", "machine", "치명적 고장 (catastrophic failure; NAB anomaly 3)"),
    ("alarm", "machine", "이상 징후 (anomaly, cause not given; NAB anomaly 4)"),
)


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], *, encoding: str = "utf-8", crlf: bool = False) -> int:
    """Write a CSV file and return its number of data rows."""
    count = 0
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    log.info("wrote %s/%s (%d rows, %d bytes)", path.parent.name, path.name, count, path.stat().st_size)
    return count


def korean_excel_time(moment: datetime) -> str:
    """``2025-03-03 오후 3:04:05``: how Korean Excel writes a date-time cell to CSV."""
    meridiem = "오전" if moment.hour < 12 else "오후"
    return f"{moment:%Y-%m-%d} {meridiem} {moment.hour % 12 or 12}:{moment:%M:%S}"


def make_ai4i(datasets: Path, out: Path) -> None:
    """All 10,000 AI4I rows as a CP949 wide CSV with a Korean header, plus failure events."""
    with (datasets / "ai4i2020" / "ai4i2020.csv").open(encoding="utf-8-sig", newline="") as handle:
        records = list(csv.DictReader(handle))
    times = [AI4I_ORIGIN + (int(r["UDI"]) - 1) * AI4I_STEP for r in records]
    # CRLF and CP949 because that is what Korean Excel's "CSV (쉼표로 분리)" export writes.
    _write_csv(
        out / "mill01_process_log.csv",
        ["일시", *AI4I_HEADER.values()],
        ([korean_excel_time(t), *(r[c] for c in AI4I_HEADER)] for r, t in zip(records, times, strict=True)),
        encoding="cp949",
        crlf=True,
    )
    # One failure event per flagged failure mode of a row with "Machine failure" = 1 (a row with
    # two modes gives two events); "unspecified" for the 9 failures without a mode flag. The 18
    # rows that flag a mode without "Machine failure" are not failures of the machine: skipped.
    events = []
    for record, moment in zip(records, times, strict=True):
        if record["Machine failure"] != "1":
            continue
        modes = [m for m in AI4I_MODES if record[m] == "1"]
        detail = f"제품 {record['Product ID']}, 공구마모 {record['Tool wear [min]']}분, AI4I UDI {record['UDI']}"
        for mode in modes or ["unspecified"]:
            text = AI4I_MODES.get(mode, "원인 미상 고장 (failure without a mode flag)")
            events.append((AI4I_MACHINE, moment.strftime(TS_FORMAT), "failure", mode, f"{text}; {detail}"))
    _write_csv(out / "events.csv", EVENT_COLUMNS, events)


def _cmapss_clock(out: Path) -> tuple[datetime, timedelta]:
    """Origin and step of the C-MAPSS cycle counter, read with the hub's own mapping loader."""
    spec = load_mapping(out / "mapping.yaml").timestamp
    if spec.origin is None or spec.step_seconds is None or spec.origin.tzinfo is not None:
        raise ValueError(f"{out / 'mapping.yaml'}: expected a local (naive) timestamp.origin and a step")
    return spec.origin, timedelta(seconds=spec.step_seconds)


def make_cmapss(datasets: Path, out: Path) -> None:
    """Ten FD001 training engines as a long CSV (engine, cycle, sensor, value), plus failures."""
    lines = (datasets / "cmapss" / "train_FD001.txt").read_text(encoding="ascii").splitlines()
    # Split on any whitespace: every line ends with two spaces.
    rows = [line.split() for line in lines if line.strip()]
    rows = [r for r in rows if int(r[0]) in CMAPSS_UNITS]
    long_rows = ((r[0], r[1], name, r[col - 1]) for r in rows for col, name in CMAPSS_SENSORS.items())
    _write_csv(out / "engines_fd001.csv", ["engine", "cycle", "sensor", "value"], long_rows)
    # In the training set each engine runs until failure: its last cycle is the failure.
    origin, step = _cmapss_clock(out)
    last: dict[int, int] = {}
    for r in rows:
        last[int(r[0])] = max(last.get(int(r[0]), 0), int(r[1]))
    events = [
        (
            f"{CMAPSS_PREFIX}{unit}",
            (origin + cycle * step).strftime(TS_FORMAT),
            "failure",
            "HPC",
            f"고압압축기 열화로 고장 (HPC degradation, run to failure at cycle {cycle}; C-MAPSS FD001 train unit {unit})",
        )
        for unit, cycle in sorted(last.items())
    ]
    _write_csv(out / "events.csv", EVENT_COLUMNS, events)


def make_nab(datasets: Path, out: Path) -> None:
    """The machine-temperature series byte-for-byte, plus its four labelled anomalies as events."""
    source = datasets / "nab" / "data" / "realKnownCause" / NAB_FILE
    shutil.copyfile(source, out / NAB_FILE)
    # The MIT licence asks for its notice to accompany copies.
    shutil.copyfile(datasets / "nab" / "LICENSE.txt", out / "LICENSE.txt")
    log.info("copied %s (%d bytes) and LICENSE.txt", NAB_FILE, source.stat().st_size)
    labels = json.loads((datasets / "nab" / "labels" / "combined_labels.json").read_text(encoding="utf-8"))
    points = labels[f"realKnownCause/{NAB_FILE}"]
    if len(points) != len(NAB_EVENTS):
        raise ValueError(f"expected {len(NAB_EVENTS)} labelled anomalies in {NAB_FILE}, found {len(points)}")
    events = [(NAB_MACHINE, ts, kind, component, text) for ts, (kind, component, text) in zip(points, NAB_EVENTS, strict=True)]
    _write_csv(out / "events.csv", EVENT_COLUMNS, events)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared/datasets folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.datasets.is_dir():
        parser.error(f"datasets folder not found: {args.datasets}")
    make_ai4i(args.datasets, HERE / "ai4i-mill")
    make_cmapss(args.datasets, HERE / "cmapss-turbofan")
    make_nab(args.datasets, HERE / "nab-machine-temp")


if __name__ == "__main__":
    main()
