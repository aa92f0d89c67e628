"""Words the hub shows people, in Korean and English: the dashboard's labels, statuses, machine
types, event kinds, and how hours, percentages and times are written.

One catalogue for the dashboards and the daily report, so a status reads the same in both.
Failure-mode and urgency labels come from the knowledge base (:mod:`analytics.solutions.knowledge`)
that also writes the recommendations. :func:`t` fails loudly on a key missing in a language (the
tests check every key used by the app exists in both), rather than showing a key to a plant manager.

Tables show their columns through :func:`column_labels` (every column a page shows has a label,
or the page fails in the tests). Texts the library writes into its records in English (quarantine
reasons, sensor-fault details, model-card reasons) stay English there, for logs, the command line
and exports; :func:`localize_text` renders them for a Korean reader from :data:`LIBRARY_TEXTS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from analytics.solutions.knowledge import DIRECTION_LABELS, FAILURE_MODE_LABELS, UNKNOWN_MODE, URGENCY_LABELS

LANGUAGES: Final[tuple[str, ...]] = ("ko", "en")
LANGUAGE_NAMES: Final[dict[str, str]] = {"ko": "한국어", "en": "English"}

# Streamlit badge colours per machine status (and alert severity).
STATUS_COLORS: Final[dict[str, str]] = {"critical": "red", "warning": "orange", "watch": "yellow", "normal": "green", "unknown": "gray"}

MESSAGES: Final[dict[str, dict[str, str]]] = {
    # --- shared -----------------------------------------------------------------------------
    "common.no_factory": {"ko": "볼 수 있는 공장이 없습니다.", "en": "There is no factory for you to see."},
    "common.unknown_factory": {"ko": "없는 공장입니다.", "en": "No such factory."},
    "role.plant_manager": {"ko": "공장장", "en": "plant manager"},
    "role.engineer": {"ko": "엔지니어", "en": "engineer"},
    "role.admin": {"ko": "허브 관리자", "en": "hub admin"},
    "nav.factory": {"ko": "공장", "en": "Factory"},
    "nav.language": {"ko": "언어", "en": "Language"},
    "nav.sign_out": {"ko": "로그아웃", "en": "Sign out"},
    "nav.overview": {"ko": "설비 현황", "en": "Fleet overview"},
    "nav.machine": {"ko": "설비 상세", "en": "Machine detail"},
    "nav.alerts": {"ko": "알림", "en": "Alerts"},
    "nav.plan": {"ko": "정비 계획", "en": "Maintenance plan"},
    "nav.data": {"ko": "데이터", "en": "Data"},
    "nav.models": {"ko": "모델", "en": "Models"},
    "nav.admin": {"ko": "허브 관리", "en": "Hub admin"},
    # --- sign-in ----------------------------------------------------------------------------
    "sign_in.title": {"ko": "공장 데이터 허브 로그인", "en": "Sign in to Factory Data Hub"},
    "sign_in.caption": {"ko": "공장별 설비 상태, 알림, 정비 계획을 확인합니다.", "en": "Your factory's machine health, alerts and maintenance plan."},
    "sign_in.username": {"ko": "아이디", "en": "Username"},
    "sign_in.password": {"ko": "비밀번호", "en": "Password"},
    "sign_in.submit": {"ko": "로그인", "en": "Sign in"},
    "sign_in.failed": {
        "ko": "아이디 또는 비밀번호가 올바르지 않거나 시도 횟수가 너무 많습니다. 잠시 후 다시 시도하세요.",
        "en": "Wrong username or password, or too many attempts. Try again in a while.",
    },
    "sign_in.oidc": {"ko": "회사 계정으로 로그인", "en": "Sign in with your company account"},
    "sign_in.oidc_unknown": {
        "ko": "이 계정은 허브에 등록되어 있지 않습니다. 관리자에게 문의하세요.",
        "en": "This account is not registered with the hub. Ask your administrator.",
    },
    # --- overview ---------------------------------------------------------------------------
    "overview.title": {"ko": "설비 현황", "en": "Fleet overview"},
    "overview.as_of": {"ko": "{day} 기준", "en": "as of {day}"},
    "overview.not_solved": {"ko": "아직 분석된 날이 없습니다", "en": "no day analysed yet"},
    "overview.latest_reading": {"ko": "최신 측정 {when}", "en": "latest reading {when}"},
    "overview.no_readings": {"ko": "측정값 없음", "en": "no readings yet"},
    "overview.last_ingest": {"ko": "최근 수집 {when}", "en": "last upload {when}"},
    "overview.stale": {"ko": "데이터가 늦게 들어오는 설비: {machines}", "en": "No recent data from: {machines}"},
    "overview.attention": {"ko": "조치가 필요한 설비", "en": "Machines needing attention"},
    "overview.open_alerts": {"ko": "열린 알림", "en": "Open alerts"},
    "overview.alert_breakdown": {
        "ko": "심각 {critical} · 경고 {warning} · 확인됨 {acknowledged}",
        "en": "critical {critical} · warning {warning} · acknowledged {acknowledged}",
    },
    "overview.availability": {"ko": "가동률 (이번 달)", "en": "Availability (this month)"},
    "overview.downtime": {"ko": "정지 시간 (이번 달)", "en": "Downtime (this month)"},
    "overview.vs_last_month": {"ko": "지난달 대비", "en": "vs last month"},
    "overview.machines": {"ko": "설비별 상태 (긴급한 순)", "en": "Machines, most urgent first"},
    "overview.health_index": {"ko": "건강 지수", "en": "Health index"},
    "overview.failure_probability": {"ko": "{horizon} 내 고장 확률", "en": "Failure within {horizon}"},
    "overview.ttf": {"ko": "예상 고장 시점: 중앙값 {median}, 10 % 확률 {p10}", "en": "Time to failure: median {median}, 10 % chance within {p10}"},
    "overview.mode": {"ko": "의심 고장 유형: {mode}", "en": "Suspected failure mode: {mode}"},
    "overview.tile_alerts": {"ko": "열린 알림 {n}건", "en": "{n} open alert(s)"},
    "overview.details": {"ko": "상세 보기", "en": "Details"},
    "overview.reliability": {"ko": "신뢰성 지표 (이번 달 / 지난달)", "en": "Reliability (this month / last month)"},
    "overview.reliability_caption": {
        "ko": "정비 이력 기준: 정지 시간 = 고장~수리 완료 + 계획 정비, MTBF = 가동 시간 / 고장 수, MTTR = 수리 시간 / 고장 수, 가동률 = 가동 시간 / 관측 시간.",
        "en": "From the maintenance log: downtime = failure to repair plus planned maintenance, MTBF = up time / failures, MTTR = repair time / failures, availability = up time / observed time.",
    },
    "overview.whole_factory": {"ko": "공장 전체", "en": "Whole factory"},
    # --- machine detail ---------------------------------------------------------------------
    "machine.none": {"ko": "등록된 설비가 없습니다.", "en": "No machines registered."},
    "machine.unknown": {"ko": "없는 설비입니다.", "en": "No such machine."},
    "machine.range": {"ko": "기간", "en": "Range"},
    "machine.range_1d": {"ko": "1일", "en": "1 day"},
    "machine.range_7d": {"ko": "7일", "en": "7 days"},
    "machine.range_30d": {"ko": "30일", "en": "30 days"},
    "machine.range_90d": {"ko": "90일", "en": "90 days"},
    "machine.range_365d": {"ko": "1년", "en": "1 year"},
    "machine.dates": {"ko": "날짜", "en": "Dates"},
    "machine.pick_end": {"ko": "끝 날짜를 고르세요.", "en": "Pick the last date."},
    "machine.sensors": {"ko": "센서", "en": "Sensors"},
    "machine.no_health": {"ko": "이 기간에는 분석 결과가 없습니다.", "en": "No analysis for this range yet."},
    "machine.as_of": {"ko": "{day} 기준", "en": "as of {day}"},
    "machine.ttf": {"ko": "예상 고장까지 (중앙값)", "en": "Time to failure (median)"},
    "machine.ttf_p10": {"ko": "10 % 확률: {p10} 이내", "en": "10 % chance within {p10}"},
    "machine.why": {"ko": "판단 근거:", "en": "Why:"},
    "machine.action": {"ko": "권장 조치:", "en": "Recommended action:"},
    "machine.cause": {"ko": "추정 원인: {cause}", "en": "Likely cause: {cause}"},
    "machine.downtime": {"ko": "예상 작업 시간 {lo}–{hi} 시간", "en": "typical downtime {lo}–{hi} h"},
    "machine.no_rule": {
        "ko": "알려진 고장 패턴과 일치하지 않습니다. 아래 근거를 직접 확인하세요.",
        "en": "No known failure pattern matches. Check the evidence below yourself.",
    },
    "machine.evidence": {"ko": "근거 (설비 자체 기준 대비)", "en": "Evidence (against the machine's own baseline)"},
    "machine.models": {"ko": "사용 모델: {models}", "en": "Models: {models}"},
    "machine.sensor_charts": {"ko": "센서 추이", "en": "Sensors"},
    "machine.downsampled": {
        "ko": "측정값 {raw}개 중 {shown}개 표시 (구간별 최소·최대 보존)",
        "en": "{shown} of {raw} readings shown (each bucket's min and max kept)",
    },
    "machine.time": {"ko": "시각", "en": "Time"},
    "machine.no_readings": {"ko": "이 기간에는 측정값이 없습니다.", "en": "No readings in this range."},
    "machine.normal_low": {"ko": "정상 범위 하한", "en": "Normal low"},
    "machine.normal_high": {"ko": "정상 범위 상한", "en": "Normal high"},
    "machine.anomaly_from": {"ko": "이상 시작", "en": "Anomaly from"},
    "machine.anomaly_to": {"ko": "이상 끝", "en": "Anomaly to"},
    "machine.score": {"ko": "이상 점수", "en": "Anomaly score"},
    "machine.event": {"ko": "이벤트", "en": "Event"},
    "machine.event_text": {"ko": "내용", "en": "Note"},
    "machine.trend": {"ko": "건강 지수와 고장 위험 추이", "en": "Health and risk trend"},
    "machine.day": {"ko": "날짜", "en": "Day"},
    "machine.health_trend": {"ko": "일별 건강 지수", "en": "Daily health index"},
    "machine.risk_trend": {"ko": "시간별 고장 위험", "en": "Hourly failure risk"},
    "machine.risk_axis": {"ko": "고장 확률", "en": "Failure probability"},
    "machine.no_risk": {"ko": "이 설비 유형의 고장 예측 모델이 아직 없습니다.", "en": "No failure model for this machine type yet."},
    "machine.drivers": {"ko": "주요 기여 센서", "en": "Top contributing sensors"},
    "machine.share": {"ko": "기여도", "en": "Share"},
    "machine.source_anomaly": {"ko": "이상 탐지", "en": "anomaly detector"},
    "machine.source_failure": {"ko": "고장 예측", "en": "failure model"},
    "machine.no_drivers": {"ko": "이 기간에 두드러진 센서가 없습니다.", "en": "No sensor stood out in this range."},
    "machine.events": {"ko": "정비·고장 이력", "en": "Maintenance and failure log"},
    "machine.no_events": {"ko": "이 기간에 기록이 없습니다.", "en": "Nothing logged in this range."},
    # --- alerts -----------------------------------------------------------------------------
    "alerts.title": {"ko": "알림", "en": "Alerts"},
    "alerts.open": {"ko": "열린 알림 ({n})", "en": "Open alerts ({n})"},
    "alerts.none_open": {"ko": "열린 알림이 없습니다.", "en": "No open alerts."},
    "alerts.since": {"ko": "{day}부터", "en": "since {day}"},
    "alerts.escalated": {"ko": "대응이 없어 {n}회 상향되었습니다.", "en": "Escalated {n} time(s): not yet handled."},
    "alerts.last_seen": {"ko": "마지막 확인일 {day}", "en": "last seen {day}"},
    "alerts.acknowledged_by": {"ko": "{user} 확인 ({when})", "en": "acknowledged by {user} ({when})"},
    "alerts.verdict_given": {"ko": "피드백: {verdict} ({user})", "en": "Feedback: {verdict} ({user})"},
    "alerts.acknowledge": {"ko": "확인", "en": "Acknowledge"},
    "alerts.acknowledged": {"ko": "확인했습니다.", "en": "Acknowledged."},
    "alerts.resolve_note": {"ko": "조치 내용", "en": "What was done"},
    "alerts.resolve": {"ko": "해결", "en": "Resolve"},
    "alerts.resolved": {"ko": "해결로 표시했습니다.", "en": "Marked resolved."},
    "alerts.verdict": {"ko": "점검 결과", "en": "What was found"},
    "alerts.mode_found": {"ko": "발견된 고장 유형", "en": "Failure mode found"},
    "alerts.feedback_note": {"ko": "메모", "en": "Note"},
    "alerts.give_feedback": {"ko": "피드백 저장", "en": "Save feedback"},
    "alerts.feedback_saved": {"ko": "피드백을 저장했습니다. 다음 분석부터 반영됩니다.", "en": "Feedback saved; the next analysis learns from it."},
    "alerts.recent": {"ko": "최근 30일 해결된 알림", "en": "Resolved in the last 30 days"},
    "alerts.none_recent": {"ko": "최근 해결된 알림이 없습니다.", "en": "Nothing resolved recently."},
    "alerts.system": {"ko": "자동 해제 (이상 신호 사라짐)", "en": "cleared automatically (signs gone)"},
    "alerts.feedback": {"ko": "피드백 이력", "en": "Feedback given"},
    "alerts.no_feedback": {"ko": "아직 피드백이 없습니다.", "en": "No feedback yet."},
    # --- maintenance plan -------------------------------------------------------------------
    "plan.title": {"ko": "정비 계획", "en": "Maintenance plan"},
    "plan.day": {"ko": "분석일", "en": "Analysed day"},
    "plan.caption": {
        "ko": "{day} 분석 기준, 예상 손실(위험 × 중요도 × 정지 비용 × 작업 시간) 순. 시각은 {tz} 기준.",
        "en": "As analysed on {day}, by expected loss (risk × criticality × downtime cost × repair hours). Times in {tz}.",
    },
    "plan.nothing": {"ko": "정비가 필요한 설비가 없습니다.", "en": "No machine needs maintenance."},
    "plan.csv": {"ko": "CSV로 내려받기", "en": "Download CSV"},
    "plan.excel": {"ko": "Excel로 내려받기", "en": "Download Excel"},
    "plan.col_rank": {"ko": "순위", "en": "Rank"},
    "plan.col_status": {"ko": "상태", "en": "Status"},
    "plan.col_mode": {"ko": "고장 유형", "en": "Failure mode"},
    "plan.col_urgency": {"ko": "긴급도", "en": "Urgency"},
    "plan.col_risk": {"ko": "위험", "en": "Risk"},
    "plan.col_loss": {"ko": "예상 손실", "en": "Expected loss"},
    "plan.col_deadline": {"ko": "조치 기한", "en": "Act by"},
    "plan.col_window_start": {"ko": "정비 시작", "en": "Window start"},
    "plan.col_window_end": {"ko": "정비 끝", "en": "Window end"},
    "plan.col_window_kind": {"ko": "정비 시간대", "en": "Window"},
    "plan.col_note": {"ko": "설명", "en": "Note"},
    "window.outside_production": {"ko": "비생산 시간", "en": "outside production"},
    "window.production_stop": {"ko": "생산 중단 필요", "en": "production must stop"},
    # --- data -------------------------------------------------------------------------------
    "data.title": {"ko": "데이터 상태", "en": "Data health"},
    "data.upload": {"ko": "파일 올리기", "en": "Upload a file"},
    "data.upload_help": {
        "ko": "CSV, Excel, Parquet 파일을 올리면 저장 전에 미리 보기와 검사 결과를 보여 줍니다.",
        "en": "Upload a CSV, Excel or Parquet file: you see a preview and the validation result before anything is stored.",
    },
    "data.table": {"ko": "데이터 종류", "en": "Data kind"},
    "data.table_readings": {"ko": "측정값", "en": "readings"},
    "data.table_events": {"ko": "정비·고장 기록", "en": "maintenance / failure log"},
    "data.mapping": {"ko": "매핑 파일 (선택, YAML)", "en": "Mapping file (optional, YAML)"},
    "data.preview": {"ko": "미리 보기", "en": "Preview"},
    "data.preview_counts": {
        "ko": "{rows}행 중 저장 가능 {valid}행, 격리 예정 {quarantined}행 · 설비 {machines} · 기간 {first} ~ {last}",
        "en": "{rows} rows: {valid} can be stored, {quarantined} would be quarantined · machines {machines} · {first} to {last}",
    },
    "data.already": {
        "ko": "같은 내용의 파일이 이미 저장되어 있습니다. 다시 저장해도 중복되지 않습니다.",
        "en": "A file with the same content was already stored; storing it again adds nothing.",
    },
    "data.problems": {"ko": "문제가 있는 행 (저장하면 사유와 함께 격리됩니다)", "en": "Rows with problems (quarantined with their reason if stored)"},
    "data.store": {"ko": "저장", "en": "Store"},
    "data.stored": {
        "ko": "저장했습니다: {accepted}행 저장, 중복 {duplicate}행, 격리 {quarantined}행.",
        "en": "Stored: {accepted} rows stored, {duplicate} duplicate, {quarantined} quarantined.",
    },
    "data.not_allowed": {"ko": "파일 올리기는 엔지니어와 관리자만 할 수 있습니다.", "en": "Only engineers and admins can upload files."},
    "data.history": {"ko": "수집 이력", "en": "Upload history"},
    "data.quality": {"ko": "센서별 품질 (최근 보고)", "en": "Data quality per sensor (latest report)"},
    "data.no_quality": {"ko": "품질 보고가 아직 없습니다.", "en": "No quality reports yet."},
    "data.faults": {"ko": "센서 이상 (끊김·고착·튐, 최근 14일)", "en": "Sensor faults: gaps, stuck and spiking sensors (last 14 days)"},
    "data.no_faults": {"ko": "최근 센서 이상이 없습니다.", "en": "No sensor faults recently."},
    "data.quarantine": {"ko": "격리된 행", "en": "Quarantined rows"},
    "data.no_quarantine": {"ko": "격리된 행이 없습니다.", "en": "Nothing quarantined."},
    # --- models -----------------------------------------------------------------------------
    "models.title": {"ko": "사용 중인 모델", "en": "Models in use"},
    "models.caption": {
        "ko": "이상 탐지는 설비별, 고장 예측은 설비 유형별 모델입니다. 고장 예측 모델은 같은 검증에서 이전 모델과 기준선보다 나을 때만 교체됩니다.",
        "en": "Anomaly models are per machine, failure models per machine type. A failure model replaces the one in use only when it did better on the same validation, and better than the base rate.",
    },
    "models.anomaly": {"ko": "이상 탐지 모델", "en": "Anomaly models"},
    "models.failure": {"ko": "고장 예측 모델", "en": "Failure-risk models"},
    "models.none": {"ko": "아직 학습된 모델이 없습니다.", "en": "No model trained yet."},
    # --- admin ------------------------------------------------------------------------------
    "admin.title": {"ko": "허브 관리", "en": "Hub admin"},
    "admin.factories": {"ko": "공장", "en": "Factories"},
    "admin.users": {"ko": "사용자", "en": "Users"},
    "admin.runs": {"ko": "파이프라인 실행 기록", "en": "Pipeline runs"},
    "admin.all_factories": {"ko": "모든 공장", "en": "all factories"},
    "admin.run_detail": {"ko": "공장별 실행 결과", "en": "Results per factory"},
    "admin.no_runs": {"ko": "실행 기록이 없습니다.", "en": "No runs recorded yet."},
    "admin.run_pooled": {"ko": "실행 후 학습한 공동 고장 예측 모델", "en": "Pooled failure models trained after the factories"},
    # --- daily report e-mail ---------------------------------------------------------------
    "report.subject_attention": {"ko": "[{factory}] {day} 설비 {n}대 점검 필요", "en": "[{factory}] {day}: {n} machine(s) need attention"},
    "report.subject_watch": {"ko": "[{factory}] {day} 긴급한 설비 없음, 관찰 {n}대", "en": "[{factory}] {day}: nothing urgent, {n} machine(s) to watch"},
    "report.subject_open_alerts": {"ko": "[{factory}] {day} 위험 설비 없음, 열린 알림 {n}건", "en": "[{factory}] {day}: no machine at risk, {n} alert(s) still open"},
    "report.subject_normal": {"ko": "[{factory}] {day} 모든 설비 정상", "en": "[{factory}] {day}: all machines normal"},
    "report.subject_not_analysed": {"ko": "[{factory}] {day} 분석 결과 없음", "en": "[{factory}] {day}: not analysed"},
    "report.title": {"ko": "일일 설비 보고서", "en": "Daily machine report"},
    "report.intro": {"ko": "{factory} · {day} · 시각은 {tz} 기준", "en": "{factory} · {day} · times in {tz}"},
    "report.headline_attention": {"ko": "설비 {n}대에 조치가 필요합니다.", "en": "{n} machine(s) need attention."},
    "report.headline_watch": {"ko": "긴급한 설비는 없고, {n}대를 관찰 중입니다.", "en": "Nothing urgent; {n} machine(s) under watch."},
    "report.headline_open_alerts": {"ko": "오늘 위험한 설비는 없지만, 아직 닫히지 않은 알림이 {n}건 있습니다.", "en": "No machine is at risk today, but {n} alert(s) are still open."},
    "report.headline_normal": {"ko": "모든 설비가 정상입니다.", "en": "All machines are normal."},
    "report.not_analysed": {
        "ko": "{day}의 분석 결과가 아직 없습니다. 그날의 데이터가 들어왔는지 확인하세요.",
        "en": "{day} has not been analysed yet: check that its data arrived.",
    },
    "report.downtime_day": {"ko": "어제 정지 시간", "en": "Downtime yesterday"},
    "report.availability_day": {"ko": "어제 가동률", "en": "Availability yesterday"},
    "report.month_so_far": {"ko": "이번 달 누계 {value}", "en": "month so far {value}"},
    "report.open_alerts": {"ko": "열린 알림", "en": "Open alerts"},
    "report.open_alerts_detail": {"ko": "새 알림 {new}건", "en": "{new} new"},
    "report.at_risk": {"ko": "주의가 필요한 설비", "en": "Machines at risk"},
    "report.none_at_risk": {"ko": "주의가 필요한 설비가 없습니다.", "en": "No machine is at risk."},
    "report.probability": {"ko": "{horizon} 내 고장 확률 {p}", "en": "failure within {horizon}: {p}"},
    "report.no_model": {"ko": "고장 예측 모델 없음", "en": "no failure model yet"},
    "report.ttf": {"ko": "예상 고장까지 중앙값 {median}, 10 % 확률로 {p10} 이내", "en": "time to failure: median {median}, 10 % chance within {p10}"},
    "report.health": {"ko": "건강 지수 {value}", "en": "health {value}"},
    "report.open_in_dashboard": {"ko": "대시보드에서 보기", "en": "Open in the dashboard"},
    "report.risk_chart": {"ko": "{machine} 건강 지수와 고장 위험 (최근 14일)", "en": "{machine}: health and failure risk (last 14 days)"},
    "report.sensor_chart": {"ko": "{machine} · {sensor} (최근 3일, 노란 음영 = 이상 구간)", "en": "{machine} · {sensor} (last 3 days, yellow = anomalous)"},
    "report.normal_range": {"ko": "정상 범위", "en": "normal range"},
    "report.health_axis": {"ko": "건강 지수", "en": "health index"},
    "report.alerts": {"ko": "알림", "en": "Alerts"},
    "report.alerts_new": {"ko": "새 알림", "en": "New"},
    "report.alerts_still_open": {"ko": "계속 열려 있는 알림", "en": "Still open"},
    "report.no_alerts": {"ko": "없음", "en": "none"},
    "report.alert_since": {"ko": "{day}부터", "en": "since {day}"},
    "report.alert_acknowledged": {"ko": "확인됨", "en": "acknowledged"},
    "report.data": {"ko": "어제 데이터 상태", "en": "Yesterday's data"},
    "report.readings": {"ko": "측정값 {n}개 수신", "en": "{n} readings received"},
    "report.quarantined": {"ko": "격리된 행 {n}개", "en": "{n} rows quarantined"},
    "report.faults": {"ko": "센서 이상 {n}건", "en": "{n} sensor faults"},
    "report.more_machines": {"ko": "그 밖에 {n}대는 대시보드에서 확인하세요.", "en": "{n} more in the dashboard."},
    "report.footer": {
        "ko": "Factory Data Hub이 자동으로 만든 보고서입니다 ({when} 작성). 이 메일은 {factory} 보고서 수신자에게만 보내집니다.",
        "en": "Made automatically by Factory Data Hub ({when}). Sent only to the recipients of {factory}'s report.",
    },
    # --- vocabularies -----------------------------------------------------------------------
    "status.normal": {"ko": "정상", "en": "Normal"},
    "status.watch": {"ko": "관찰", "en": "Watch"},
    "status.warning": {"ko": "경고", "en": "Warning"},
    "status.critical": {"ko": "심각", "en": "Critical"},
    "status.unknown": {"ko": "분석 전", "en": "Not analysed"},
    "alert_status.open": {"ko": "열림", "en": "open"},
    "alert_status.acknowledged": {"ko": "확인됨", "en": "acknowledged"},
    "alert_status.resolved": {"ko": "해결됨", "en": "resolved"},
    "verdict.true_problem": {"ko": "실제 문제", "en": "true problem"},
    "verdict.false_alarm": {"ko": "오경보", "en": "false alarm"},
    "event.maintenance": {"ko": "계획 정비", "en": "maintenance"},
    "event.failure": {"ko": "고장", "en": "failure"},
    "event.alarm": {"ko": "설비 알람", "en": "machine alarm"},
    "event.repair": {"ko": "수리 완료", "en": "repair"},
    "event.inspection": {"ko": "점검", "en": "inspection"},
    "mode.unknown": {"ko": "미상 (일치하는 패턴 없음)", "en": "unknown (no pattern matched)"},
    "fault.flatline": {"ko": "한계값 고정", "en": "flat at a rail"},
    "fault.stuck": {"ko": "값 고착", "en": "stuck"},
    "fault.dropout": {"ko": "끊김", "en": "dropout"},
    "fault.out_of_range": {"ko": "범위 밖 값", "en": "out of range"},
    "fault.spike": {"ko": "튐", "en": "spike"},
    "run_status.running": {"ko": "실행 중", "en": "running"},
    "run_status.ok": {"ko": "완료", "en": "done"},
    "run_status.failed": {"ko": "실패", "en": "failed"},
    "run_status.skipped": {"ko": "건너뜀 (이미 저장된 파일)", "en": "skipped (already stored)"},
    "pooled_status.promoted": {"ko": "새 모델 사용", "en": "promoted"},
    "pooled_status.no_model": {"ko": "새 모델 없음", "en": "no new model"},
    "pooled_status.failed": {"ko": "학습 실패", "en": "training failed"},
    "stage.ingest": {"ko": "수집", "en": "ingest"},
    "stage.features": {"ko": "특징 계산", "en": "features"},
    "stage.score": {"ko": "이상 탐지", "en": "anomaly scoring"},
    "stage.train": {"ko": "모델 학습", "en": "training"},
    "stage.predict": {"ko": "고장 예측", "en": "failure risk"},
    "stage.solve": {"ko": "진단·알림", "en": "health and alerts"},
    "stage.report": {"ko": "보고서", "en": "report"},
    "stage.run": {"ko": "실행", "en": "run"},
    "run_kind.daily": {"ko": "일일 실행", "en": "daily run"},
    "run_kind.demo": {"ko": "데모 구축", "en": "demo build"},
    "hours.short": {"ko": "{h}시간", "en": "{h} h"},
    "hours.days": {"ko": "{d}일", "en": "{d} days"},
}

# Column headers of every table the dashboard shows, by the library's column name. One name means
# one thing wherever it appears, so one label serves every page.
COLUMN_LABELS: Final[dict[str, dict[str, str]]] = {
    # machines, sensors, reliability
    "machine_id": {"ko": "설비", "en": "Machine"},
    "sensor": {"ko": "센서", "en": "Sensor"},
    "failures": {"ko": "고장 수", "en": "Failures"},
    "downtime_h": {"ko": "정지 시간(h) 이번 달", "en": "Downtime (h) this month"},
    "downtime_h_last": {"ko": "정지 시간(h) 지난달", "en": "Downtime (h) last month"},
    "mtbf_h": {"ko": "MTBF(h) 이번 달", "en": "MTBF (h) this month"},
    "mtbf_h_last": {"ko": "MTBF(h) 지난달", "en": "MTBF (h) last month"},
    "mttr_h": {"ko": "MTTR(h) 이번 달", "en": "MTTR (h) this month"},
    "mttr_h_last": {"ko": "MTTR(h) 지난달", "en": "MTTR (h) last month"},
    "availability": {"ko": "가동률 이번 달", "en": "Availability this month"},
    "availability_last": {"ko": "가동률 지난달", "en": "Availability last month"},
    # alerts and feedback
    "failure_mode": {"ko": "고장 유형", "en": "Failure mode"},
    "severity": {"ko": "심각도", "en": "Severity"},
    "opened_day": {"ko": "발생일", "en": "Opened"},
    "last_day": {"ko": "마지막 확인일", "en": "Last seen"},
    "resolved_by": {"ko": "해결한 사람", "en": "Resolved by"},
    "resolution_note": {"ko": "조치 내용", "en": "What was done"},
    "verdict": {"ko": "점검 결과", "en": "What was found"},
    "note": {"ko": "메모", "en": "Note"},
    "given_by": {"ko": "작성자", "en": "Given by"},
    "given_at": {"ko": "작성 시각", "en": "Given at"},
    # evidence behind a status
    "direction": {"ko": "방향", "en": "Direction"},
    "value": {"ko": "값", "en": "Value"},
    "baseline": {"ko": "평소 값", "en": "Baseline"},
    "unit": {"ko": "단위", "en": "Unit"},
    "trend_per_day": {"ko": "하루 추세", "en": "Trend per day"},
    "text": {"ko": "내용", "en": "Text"},
    # uploads, quality, faults, quarantine
    "ingest_id": {"ko": "수집 번호", "en": "Upload ID"},
    "factory_id": {"ko": "공장 ID", "en": "Factory ID"},
    "source_file": {"ko": "파일", "en": "File"},
    "table_name": {"ko": "데이터 종류", "en": "Data kind"},
    "started_at": {"ko": "시작", "en": "Started"},
    "finished_at": {"ko": "끝", "en": "Finished"},
    "status": {"ko": "상태", "en": "Status"},
    "rows_read": {"ko": "읽은 행", "en": "Rows read"},
    "accepted": {"ko": "저장된 행", "en": "Stored"},
    "duplicate": {"ko": "중복 행", "en": "Duplicates"},
    "quarantined": {"ko": "격리된 행", "en": "Quarantined"},
    "message": {"ko": "메시지", "en": "Message"},
    "received": {"ko": "받은 측정값", "en": "Received"},
    "share_missing": {"ko": "누락", "en": "Missing"},
    "share_invalid": {"ko": "무효", "en": "Invalid"},
    "share_duplicate": {"ko": "중복", "en": "Duplicate"},
    "gaps": {"ko": "끊김 수", "en": "Gaps"},
    "longest_gap_s": {"ko": "최장 끊김(초)", "en": "Longest gap (s)"},
    "flatline_stretches": {"ko": "고정 구간 수", "en": "Flat stretches"},
    "history_days": {"ko": "이력(일)", "en": "History (days)"},
    "enough_history": {"ko": "학습할 이력 충분", "en": "Enough history"},
    "kind": {"ko": "종류", "en": "Kind"},
    "start": {"ko": "시작", "en": "Start"},
    "end": {"ko": "끝", "en": "End"},
    "samples": {"ko": "샘플 수", "en": "Samples"},
    "detail": {"ko": "내용", "en": "Detail"},
    "row": {"ko": "행", "en": "Row"},
    "column": {"ko": "열", "en": "Column"},
    "reason": {"ko": "사유", "en": "Reason"},
    "raw": {"ko": "원래 값", "en": "Raw value"},
    "quarantined_at": {"ko": "격리 시각", "en": "Quarantined at"},
    "ts": {"ko": "시각", "en": "Time"},
    "component": {"ko": "부품", "en": "Component"},
    # model cards
    "subject": {"ko": "대상", "en": "For"},
    "model_id": {"ko": "모델 ID", "en": "Model ID"},
    "method": {"ko": "방법", "en": "Method"},
    "training_from": {"ko": "학습 데이터 시작", "en": "Trained from"},
    "training_to": {"ko": "학습 데이터 끝", "en": "Trained to"},
    "training_rows": {"ko": "학습 행 수", "en": "Training rows"},
    "training_failures": {"ko": "학습 고장 수", "en": "Training failures"},
    "training_factories": {"ko": "학습한 공장 수", "en": "Factories learned from"},
    "feature_set": {"ko": "특징 세트", "en": "Feature set"},
    "feature_version": {"ko": "특징 버전", "en": "Feature version"},
    "fitted_at": {"ko": "마지막 학습", "en": "Last trained"},
    "brier": {"ko": "Brier 점수", "en": "Brier score"},
    "brier_baseline": {"ko": "Brier 기준선", "en": "Brier baseline"},
    "pr_auc": {"ko": "PR-AUC", "en": "PR-AUC"},
    "pr_auc_naive": {"ko": "PR-AUC 기준선", "en": "PR-AUC baseline"},
    "validated_rows": {"ko": "검증 행 수", "en": "Validation rows"},
    "validated_from": {"ko": "검증 시작", "en": "Validated from"},
    "validated_to": {"ko": "검증 끝", "en": "Validated to"},
    "models_fitted": {"ko": "학습 횟수", "en": "Times trained"},
    # hub admin
    "name_ko": {"ko": "이름 (한국어)", "en": "Name (Korean)"},
    "name_en": {"ko": "이름 (영어)", "en": "Name (English)"},
    "timezone": {"ko": "시간대", "en": "Time zone"},
    "machines": {"ko": "설비 수", "en": "Machines"},
    "sensors": {"ko": "센서 수", "en": "Sensors"},
    "readings": {"ko": "측정값 수", "en": "Readings"},
    "latest_reading_local": {"ko": "최신 측정 (현지 시각)", "en": "Latest reading (local time)"},
    "username": {"ko": "아이디", "en": "Username"},
    "display_name": {"ko": "이름", "en": "Name"},
    "role": {"ko": "역할", "en": "Role"},
    "language": {"ko": "언어", "en": "Language"},
    "last_login_at": {"ko": "마지막 로그인", "en": "Last sign-in"},
    "disabled": {"ko": "사용 중지", "en": "Disabled"},
    "run_id": {"ko": "실행 ID", "en": "Run ID"},
    "machine_type": {"ko": "설비 유형", "en": "Machine type"},
    "day": {"ko": "날짜", "en": "Day"},
    "factories": {"ko": "공장 수", "en": "Factories"},
    "failed": {"ko": "실패한 공장", "en": "Failed"},
    "stage": {"ko": "실패 단계", "en": "Failed at"},
    "files": {"ko": "수집 파일", "en": "Files"},
    "failed_files": {"ko": "실패 파일", "en": "Failed files"},
    "alarms": {"ko": "이상 구간", "en": "Alarmed windows"},
    "alerts_opened": {"ko": "새 알림", "en": "Alerts opened"},
    "sent": {"ko": "보낸 보고서", "en": "Reports sent"},
    "seconds": {"ko": "소요(초)", "en": "Seconds"},
    "error": {"ko": "오류", "en": "Error"},
}

# English texts the library writes into its records, with their Korean. A {name} stands for any
# text; the value of {reason}, {detail}, {rail}, {recipe} and {old} is itself one of these texts,
# and {duration} and {interval} are durations such as "2 h 5 min"; {n}, {row} and {pct} are whole
# numbers. Texts are tried in this order and the first that matches is used: the "(N samples)"
# wrapper comes first, as the text inside it may match another entry up to its end. A test renders
# every text the library can write and checks each has its Korean here.
LIBRARY_TEXTS: Final[dict[str, str]] = {
    "{detail} ({n} samples)": "{detail} (샘플 {n}개)",
    # quarantine reasons (analytics.ingest.validate.REASONS, events and duplicates)
    "missing machine id": "설비 ID 없음",
    "invalid machine id '{machine}'": "잘못된 설비 ID '{machine}'",
    "unknown machine '{machine}'": "등록되지 않은 설비 '{machine}'",
    "missing sensor name": "센서 이름 없음",
    "unknown sensor '{sensor}' of machine '{machine}'": "설비 '{machine}'에 등록되지 않은 센서 '{sensor}'",
    "missing timestamp": "시각 없음",
    "nonexistent local time (skipped by a daylight-saving change)": "존재하지 않는 현지 시각 (일광 절약 시간 전환으로 건너뛴 시각)",
    "unparseable timestamp '{ts}'": "읽을 수 없는 시각 '{ts}'",
    "timestamp in the future": "미래의 시각",
    "missing value": "값 없음",
    "unparseable value '{value}'": "읽을 수 없는 값 '{value}'",
    "non-finite value": "유한하지 않은 값 (무한대 또는 NaN)",
    "outside valid range [{min}, {max}]": "유효 범위 [{min}, {max}] 밖",
    "unknown event kind '{kind}' (use {kinds})": "알 수 없는 기록 종류 '{kind}' ({kinds} 중 하나를 쓰세요)",
    "duplicate key with a different value (first at row {row})": "같은 키에 다른 값 ({row}행에 먼저 나옴)",
    "conflicts with the stored value {value}": "이미 저장된 값 {value}와 다름",
    "unreadable value": "읽을 수 없는 값",
    # the same reasons by kind, without the value they quote (analytics.ingest.pipeline.reason_kind)
    "invalid machine id": "잘못된 설비 ID",
    "unknown machine": "등록되지 않은 설비",
    "unknown sensor": "등록되지 않은 센서",
    "nonexistent local time": "존재하지 않는 현지 시각",
    "unparseable timestamp": "읽을 수 없는 시각",
    "unparseable value": "읽을 수 없는 값",
    "outside valid range": "유효 범위 밖",
    "unknown event kind '{kind}'": "알 수 없는 기록 종류 '{kind}'",
    "duplicate key with a different value": "같은 키에 다른 값",
    "conflicts with the stored value": "이미 저장된 값과 다름",
    # sensor faults (analytics.models.anomaly.quality)
    "error code {code} (the transmitter reports a fault)": "오류 코드 {code} (송신기가 고장을 알림)",
    "values up to {value} above the physical max {max}": "물리적 최대값 {max}를 넘는 값 (최고 {value})",
    "value {value} above the physical max {max}": "물리적 최대값 {max}를 넘는 값 {value}",
    "values down to {value} below the physical min {min}": "물리적 최소값 {min}보다 낮은 값 (최저 {value})",
    "value {value} below the physical min {min}": "물리적 최소값 {min}보다 낮은 값 {value}",
    "quarantined at ingest: {reason}": "수집 때 격리됨: {reason}",
    "no sensor of the machine reported for {duration} ({n} samples): gateway or network outage": "설비의 모든 센서가 {duration} 동안 보고하지 않음 (샘플 {n}개): 게이트웨이 또는 네트워크 장애",
    "no reading for {duration} ({n} missed samples at {interval}) while the machine's other sensors reported": "{duration} 동안 측정값 없음 ({interval} 간격 샘플 {n}개 누락), 같은 설비의 다른 센서는 보고함",
    "value {value} repeated exactly for {duration} ({n} samples), where it usually changes on {pct} % of samples in the same operating state, while the machine's other sensors varied": "값 {value}이(가) {duration} 동안 그대로 반복됨 (샘플 {n}개). 같은 운전 상태에서 평소에는 샘플의 {pct} %에서 값이 바뀌고, 같은 설비의 다른 센서는 변했음",
    "flat at {value} ({rail}) for {duration} ({n} samples), where it usually changes on {pct} % of samples in the same operating state, while the machine's other sensors varied": "{value}({rail})에 {duration} 동안 고정됨 (샘플 {n}개). 같은 운전 상태에서 평소에는 샘플의 {pct} %에서 값이 바뀌고, 같은 설비의 다른 센서는 변했음",
    "zero": "0",
    "the physical min": "물리적 최소값",
    "the physical max": "물리적 최대값",
    "{n}-sample spike to {peak} from a local median of {median} (robust z {z}), back to {after} next": "주변 중앙값 {median}에서 {peak}까지 튐 (샘플 {n}개, 로버스트 z {z}), 바로 다음에 {after}로 돌아옴",
    # model cards (analytics.models.anomaly.monitor, analytics.models.failure.training, analytics.views.models)
    "first": "최초 학습",
    "features": "특징 구성 변경",
    "schedule": "정기 재학습",
    "drift": "운전 조건 변화",
    "feedback": "피드백 반영",
    "factory": "공장 자체",
    "pooled": "여러 공장 공동",
    "tuned": "공장 맞춤 공동",
    "{n} operating mode(s), window {window}": "운전 모드 {n}개, 분석 구간 {window}",
    "xgboost, {recipe} recipe": "XGBoost, {recipe} 모델",
    "first model: {recipe} recipe, Brier {brier}": "첫 모델: {recipe} 모델, Brier {brier}",
    "refresh of the champion's {recipe} recipe on data to {day}": "사용 중인 {recipe} 모델을 {day}까지의 데이터로 갱신",
    "{recipe} recipe beat the champion's {old} recipe on the same validation: Brier {brier} against {old_brier}": "같은 검증에서 {recipe} 모델이 사용 중이던 {old} 모델보다 나음: Brier {brier} (이전 {old_brier})",
    "the champion's {old} recipe is no longer available or no longer beats the base rate; {recipe} recipe validated at Brier {brier}": "사용 중이던 {old} 모델을 더 쓸 수 없거나 기저율보다 낫지 않음; {recipe} 모델의 검증 Brier {brier}",
    "pooled model: this factory has no failures of this type of its own": "여러 공장 공동 모델: 이 공장에는 이 유형의 고장 기록이 없음",
    "pooled model with this factory's own rows": "이 공장의 데이터를 포함한 여러 공장 공동 모델",
    "pooled model fine-tuned on this factory's own rows": "여러 공장 공동 모델을 이 공장의 데이터로 추가 학습함",
    "pooled model of the hub's sharing factories: this factory has no model of its own for this type": "허브에서 데이터를 공유하는 공장들로 학습한 공동 모델: 이 공장에는 이 유형의 자체 모델이 없음",
    # what a pooled model's training did (analytics.models.failure.pooled, shown on the hub admin page)
    "{reason}; the previous pooled model is retired": "{reason}; 이전 공동 모델은 사용 중지됨",
    "first pooled model: Brier {brier} against {baseline} for the base rate": "첫 공동 모델: Brier {brier} (기저율 예측 {baseline})",
    "refresh of the pooled model on data to {day}: Brier {brier} against {baseline}": "{day}까지의 데이터로 공동 모델 갱신: Brier {brier} (기저율 예측 {baseline})",
    "did not beat the base-rate forecast on validation: Brier {brier} against {baseline}": "검증에서 기저율 예측보다 낫지 않음: Brier {brier} (기저율 예측 {baseline})",
    "{n} sharing factories have machines of this type: a pooled model needs two": "이 유형의 설비가 있는 공유 공장이 {n}곳: 공동 모델에는 두 곳이 필요함",
    "rows of {n} of {total} sharing factories could not be read: a pooled model needs two": "공유 공장 {total}곳 중 {n}곳의 데이터를 읽지 못함: 공동 모델에는 두 곳이 필요함",
    "no features for this machine type yet": "이 설비 유형의 특징 데이터가 아직 없음",
    "no validation rows to judge the pooled model on": "공동 모델을 평가할 검증 데이터가 없음",
    "{positives} failure rows and {negatives} healthy rows: too few to fit and calibrate a failure model": "고장 행 {positives}개, 정상 행 {negatives}개: 고장 예측 모델을 학습하고 보정하기에 너무 적음",
    "no calibration fold had failures on both sides": "고장이 양쪽에 모두 있는 보정 구간이 없음",
    "none of the {n} validation splits had enough failures on its training side": "검증 분할 {n}개 모두 학습 쪽 고장이 충분하지 않음",
}
_COUNTS: Final = frozenset({"n", "row", "pct"})  # whole numbers, so "(5 samples)" cannot be read as part of a value
_NUMBER: Final = r"\d+"
_NESTED_TEXTS: Final = frozenset({"reason", "detail", "rail", "recipe", "old"})
_DURATIONS: Final = frozenset({"duration", "interval"})
_DURATION_UNITS: Final = ((re.compile(r"(\d+) h\b"), r"\1시간"), (re.compile(r"(\d+) min\b"), r"\1분"), (re.compile(r"(\d+) s\b"), r"\1초"))


MACHINE_TYPE_LABELS: Final[dict[str, dict[str, str]]] = {
    "cnc_machining_center": {"ko": "CNC 머시닝센터", "en": "CNC machining centre"},
    "injection_molding": {"ko": "사출성형기", "en": "injection moulding machine"},
    "air_compressor": {"ko": "공기압축기", "en": "air compressor"},
    "centrifugal_pump": {"ko": "원심펌프", "en": "centrifugal pump"},
    "press": {"ko": "프레스", "en": "press"},
    "pump": {"ko": "펌프", "en": "pump"},
    "cnc_spindle": {"ko": "CNC 스핀들", "en": "CNC spindle"},
    "milling_machine": {"ko": "밀링기", "en": "milling machine"},
    "turbofan_engine": {"ko": "터보팬 엔진", "en": "turbofan engine"},
}


def _check(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    return language


def t(key: str, language: str, **values: Any) -> str:
    """The text of ``key`` in ``language`` with ``values`` filled in; KeyError for an unknown key."""
    return MESSAGES[key][_check(language)].format(**values) if values else MESSAGES[key][_check(language)]


def status_label(status: str, language: str) -> str:
    return t(f"status.{status}", language)


def alert_status_label(status: str, language: str) -> str:
    return t(f"alert_status.{status}", language)


def verdict_label(verdict: str, language: str) -> str:
    return t(f"verdict.{verdict}", language)


def _term_or_as_is(family: str, term: str, language: str) -> str:
    """A vocabulary term in words; one the catalogue does not know (a factory's own) as it is."""
    key = f"{family}.{term}"
    return t(key, language) if key in MESSAGES else term


def event_label(kind: str, language: str) -> str:
    return _term_or_as_is("event", kind, language)


def window_kind_label(kind: str, language: str) -> str:
    return t(f"window.{kind}", language)


def mode_label(mode: str | None, language: str) -> str:
    """A failure mode in words (the knowledge base's labels); a mode it does not know as it is."""
    if mode is None or mode == UNKNOWN_MODE:
        return t("mode.unknown", language)
    return FAILURE_MODE_LABELS[_check(language)].get(mode, mode)  # type: ignore[index]


def mode_choices() -> list[str]:
    """The failure modes a person can report finding, and "unknown"."""
    return [*FAILURE_MODE_LABELS["en"], UNKNOWN_MODE]


def urgency_label(urgency: str, language: str) -> str:
    return URGENCY_LABELS[_check(language)].get(urgency, urgency)  # type: ignore[index, call-overload]


def machine_type_label(machine_type: str, language: str) -> str:
    """A machine type in words; a type the catalogue does not know shows as registered."""
    return MACHINE_TYPE_LABELS.get(machine_type, {}).get(_check(language), machine_type.replace("_", " "))


def column_labels(columns: Iterable[str], language: str) -> dict[str, str]:
    """The header of each column in ``language``; KeyError for a column without a label."""
    _check(language)
    return {c: COLUMN_LABELS[c][language] for c in columns}


def fault_kind_label(kind: str, language: str) -> str:
    return t(f"fault.{kind}", language)


def run_status_label(status: str, language: str) -> str:
    return t(f"run_status.{status}", language)


def stage_label(stage: str, language: str) -> str:
    return t(f"stage.{stage}", language)


def pooled_status_label(status: str, language: str) -> str:
    return t(f"pooled_status.{status}", language)


def run_kind_label(kind: str, language: str) -> str:
    return _term_or_as_is("run_kind", kind, language)


def direction_label(direction: str, language: str) -> str:
    return DIRECTION_LABELS[_check(language)][direction]  # type: ignore[index]


@cache
def _text_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each library text as a whole-string pattern, in :data:`LIBRARY_TEXTS` order."""

    def pattern(template: str) -> re.Pattern[str]:
        parts = re.split(r"\{(\w+)\}", template)
        return re.compile(
            "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{_NUMBER if p in _COUNTS else '.+?'})" for i, p in enumerate(parts)) + r"\Z",
            re.DOTALL,
        )

    return tuple((pattern(en), ko) for en, ko in LIBRARY_TEXTS.items())


def _korean_duration(text: str) -> str:
    for unit, korean in _DURATION_UNITS:
        text = unit.sub(korean, text)
    return text


def localize_text(text: str | None, language: str) -> str | None:
    """A text the library wrote in English (:data:`LIBRARY_TEXTS`), in ``language``; a text it
    does not know (a file's own words, an error message) as it is."""
    if text is None or _check(language) == "en":
        return text
    for pattern, korean in _text_patterns():
        match = pattern.match(text)
        if match is None:
            continue
        values = {
            name: localize_text(value, language) if name in _NESTED_TEXTS else _korean_duration(value) if name in _DURATIONS else value
            for name, value in match.groupdict().items()
        }
        return korean.format(**values)
    return text


def format_hours(hours: float | None, language: str) -> str:
    """Hours as people say them: "5.5 h" below two days, "3.2 days" beyond; "—" when unknown."""
    if hours is None:
        return "—"
    if hours >= 48:
        return t("hours.days", language, d=f"{hours / 24:.1f}".removesuffix(".0"))
    return t("hours.short", language, h=f"{hours:.1f}" if hours < 10 else f"{hours:.0f}")


def format_percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f} %" if share >= 0.1 else f"{share * 100:.1f} %"


def format_local(when: datetime | None, timezone: str, *, time_only: bool = False) -> str:
    """A UTC (or aware) time as the factory's wall clock, e.g. ``2026-11-30 14:05``; naive
    values are taken as UTC."""
    if when is None:
        return "—"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    local = when.astimezone(ZoneInfo(timezone))
    return local.strftime("%H:%M" if time_only else "%Y-%m-%d %H:%M")
