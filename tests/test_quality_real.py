"""The quality checks on the real public data in ../shared/data, with expected values computed here by pandas.

Each dataset is ingested once per module with its shipped config; the checks then run read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from compstat.config import Config, load_config
from compstat.ingest import ingest_all
from compstat.periods import comparison_windows, parse_period
from compstat.quality import Finding, QualityResult, run_quality
from compstat.store import connect, transaction

CONFIG = Path(__file__).resolve().parents[1] / "config"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
Checker = Callable[[str], QualityResult]


def checker(name: str, factory: pytest.TempPathFactory) -> Checker:
    """Ingest ``name``'s data once; return a function running the checks for a period."""
    return checker_at(CONFIG / f"{name}.yaml", factory)


def checker_at(path: Path, factory: pytest.TempPathFactory) -> Checker:
    """Ingest the data of the config at ``path`` once; return a function running the checks for a period."""
    config = load_config(path)
    url = f"sqlite:///{factory.mktemp(path.stem) / 'store.db'}"
    engine = connect(url)
    with transaction(engine) as session:
        ingest_all(session, config, date(2026, 11, 23), url)

    def check(period: str) -> QualityResult:
        with transaction(engine) as session:
            return run_quality(session, config, parse_period(period, config.cadence), [], date(2026, 11, 23))

    return check


def one(result: QualityResult, text: str) -> Finding:
    matching = [f for f in result.findings if text in f.message]
    assert len(matching) == 1, (text, [f.message for f in result.findings])
    return matching[0]


def config_of(name: str) -> Config:
    return load_config(CONFIG / f"{name}.yaml")


@pytest.fixture(scope="module")
def chicago(tmp_path_factory: pytest.TempPathFactory) -> Checker:
    return checker("chicago", tmp_path_factory)


@pytest.fixture(scope="module")
def london(tmp_path_factory: pytest.TempPathFactory) -> Checker:
    return checker("london", tmp_path_factory)


@pytest.fixture(scope="module")
def nhs_ae(tmp_path_factory: pytest.TempPathFactory) -> Checker:
    return checker("nhs_ae", tmp_path_factory)


@pytest.fixture(scope="module")
def lancashire(tmp_path_factory: pytest.TempPathFactory) -> Checker:
    return checker("lancashire", tmp_path_factory)


@pytest.mark.slow
def test_chicago(chicago: Checker, shared_dir: Path) -> None:
    result = chicago("2019-W50")
    raw = pd.read_csv(shared_dir / "data" / "chicago_aggravated_assaults.csv.gz", dtype=str)
    day = pd.to_datetime(raw["date"]).dt.normalize()
    # district "31" is not a police district: quarantined, and long before this cycle's comparisons
    stray = raw[raw["district"] == "31"]
    district_31 = one(result, "'31' in 'district' (incidents) is not a unit in the config")
    assert (district_31.severity, district_31.rows) == ("info", len(stray))
    assert f"{len(stray)} row dated {day[stray.index[0]]:%Y-%m-%d} quarantined" in district_31.message
    # Jefferson Park (16) recorded nothing in the week, a zero its own history makes plausible
    district_16 = raw[raw["district"] == "16"]
    in_week = day[district_16.index].between("2019-12-09", "2019-12-15").sum()
    usual = day[district_16.index].between("2019-09-16", "2019-12-08").sum() / 12
    assert in_week == 0
    quiet = one(result, "Jefferson Park (District 16): no records at all for 2019-W50")
    assert quiet.severity == "info" and f"it averages {usual:.1f} records a week" in quiet.message
    # identical rows (same minute, place, location type and district) in the comparisons: counted, noted
    span = raw[day.between("2018-01-01", "2019-12-15") & (raw["district"] != "31")]
    extra = int(span.duplicated().sum())
    identical = one(result, "are identical to another row")
    assert identical.severity == "info" and identical.rows == extra
    assert identical.message.startswith(f"{extra} rows of incidents from 2018-01-01 to 2019-12-15")
    assert result.blocking == [] and result.of("warning") == []


@pytest.mark.slow
def test_london(london: Checker, shared_dir: Path) -> None:
    result = london("2026-01")
    raw = pd.read_csv(shared_dir / "data" / "london_borough_crime_monthly.csv.gz")
    unknown = raw[raw["boroughname"] == "Unknown"]
    in_span = unknown[unknown["month"].between("2024-04-01", "2026-01-01")]
    found = one(result, "'Unknown' in 'boroughname' (borough_counts) is not a unit in the config")
    assert found.severity == "warning" and found.rows == len(unknown)
    assert (f"{len(unknown):,} rows totalling {unknown['count'].sum():,} from {unknown['month'].min()} to "
            f"{unknown['month'].max()} quarantined") in found.message
    assert (f"{len(in_span):,} rows ({in_span['count'].sum():,}) fall in this cycle's comparisons (since "
            "2024-04-01)") in found.message
    airports = raw[raw["boroughname"] == "London Heathrow and London City Airports"]
    gone = one(result, "'London Heathrow and London City Airports' in 'boroughname'")
    assert gone.severity == "info" and gone.rows == len(airports)
    assert f"to {airports['month'].max()} quarantined" in gone.message and "none of them fall" in gone.message
    measured = {m.filter.category[0] for m in config_of("london").measures}
    assert f"{raw['majortext'].nunique() - len(measured)} categories of borough_counts count towards no measure" in (
        one(result, "count towards no measure").message)
    assert result.blocking == [] and len(result.of("warning")) == 1


@pytest.mark.slow
def test_london_comparisons_across_the_airports_change(london: Checker, shared_dir: Path) -> None:
    result = london("2024-06")
    raw = pd.read_csv(shared_dir / "data" / "london_borough_crime_monthly.csv.gz")
    airports_end = raw.loc[raw["boroughname"] == "London Heathrow and London City Airports", "month"].max()
    assert airports_end == "2024-02-01"  # the declared boundary change follows the data
    change = one(result, "Boundary change on 2024-03-01")
    assert change.severity == "warning" and "for Newham (NM) and Hillingdon (HD)" in change.message
    marks = result.comparisons.set_index(["unit_code", "measure_id", "window"])
    assert not marks.loc[("HD", "burglary", "ytd"), "like_for_like"]
    assert ("WM", "burglary", "ytd") not in marks.index
    # the Met's total gains the airports' crime from March 2024, so its comparisons are marked too
    assert not marks.loc[("_total", "burglary", "ytd"), "like_for_like"]
    assert "spans the boundary change of 2024-03-01" in marks.loc[("_total", "burglary", "ytd"), "reason"]
    assert "and for Metropolitan Police Service as a whole" in change.message and change.units == {"NM": 0, "HD": 0}
    # April 2023: 'DOMESTIC BURGLARY' gave way to 'RES BURGLARY OF A HOME' (Home Office counting rules);
    # Burglary as a whole carried on, so its comparisons stay like-for-like
    burglary = raw[raw["majortext"] == "BURGLARY"].pivot_table(index="month", columns="minortext", values="count",
                                                                aggfunc="sum")
    assert burglary.loc["2023-03-01", "DOMESTIC BURGLARY"] > 3000 > burglary.loc["2023-05-01", "DOMESTIC BURGLARY"]
    moved = one(result, "'DOMESTIC BURGLARY' rows (BURGLARY) stop in")
    assert moved.severity == "info" and "a reclassification within the measure" in moved.message


@pytest.mark.slow
def test_nhs_ae(nhs_ae: Checker, shared_dir: Path) -> None:
    result = nhs_ae("2019-03")
    raw = pd.read_csv(shared_dir / "data" / "nhs_ae_attendances.csv", dtype={"type": str})
    trusts = [u.code for u in config_of("nhs_ae").leaf_units]
    assert one(result, "were skipped").rows == int((~raw["org_code"].isin(trusts)).sum())

    def months(org: str, kind: str) -> pd.Series:
        return raw.loc[(raw["org_code"] == org) & (raw["type"] == kind), "period"].str[:7]

    # Epsom and St Helier opened an 'other' department in 2017-10: a genuine addition
    rvr = one(result, "Epsom and St Helier University Hospitals NHS Trust (RVR): 'other' rows")
    assert rvr.severity == "warning" and f"start in {months('RVR', 'other').min()} (none before)" in rvr.message
    assert "year to date of A&E attendances" in rvr.message
    # King's stopped reporting type 2 after 2018-01
    assert months("RJZ", "2").max() == "2018-01"
    assert "'2' rows (attendances, breaches and within_4h) stop from 2018-02" in one(
        result, "King's College Hospital NHS Foundation Trust (RJZ): '2' rows").message
    # North Middlesex split its type 1 attendances into types 2 and 'other' from 2018-04: volume moved
    assert months("RAP", "2").min() == months("RAP", "other").min() == "2018-04"
    rap = one(result, "in 1 unit (North Middlesex University Hospital NHS Trust (RAP))")
    assert rap.severity == "info" and "start in 2018-04" in rap.message
    marks = result.comparisons.set_index(["unit_code", "measure_id", "window"])
    assert not marks.loc[("RVR", "attendances", "ytd"), "like_for_like"]
    assert ("RAP", "attendances", "ytd") not in marks.index
    assert {f.unit_code for f in result.of("warning")} == {"RVR", "RJZ"} and result.blocking == []


@pytest.fixture(scope="module")
def nhs_ae_gap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Checker, pd.DataFrame]:
    """The A&E data without its 2018-09 rows for three trusts."""
    root = tmp_path_factory.mktemp("ae_gap")
    raw = pd.read_csv(SHARED_DATA / "nhs_ae_attendances.csv", dtype=str, keep_default_na=False)
    gap = raw[~(raw["period"].eq("2018-09-01") & raw["org_code"].isin(GAP_TRUSTS))]
    gap.to_csv(root / "ae.csv", index=False)
    text = (CONFIG / "nhs_ae.yaml").read_text(encoding="utf-8").replace(
        "path: ../../shared/data/nhs_ae_attendances.csv", f"path: {root / 'ae.csv'}")
    (root / "nhs_ae.yaml").write_text(text, encoding="utf-8")
    return checker_at(root / "nhs_ae.yaml", tmp_path_factory), raw


GAP_TRUSTS = ["RAL", "RKE", "RJ7"]


@pytest.mark.slow
def test_nhs_ae_missing_month_is_found_in_its_month_and_later_in_the_year_to_date(
        nhs_ae_gap: tuple[Checker, pd.DataFrame]) -> None:
    check, raw = nhs_ae_gap
    attendances = raw.assign(attendances=raw["attendances"].astype(int)).groupby(["org_code", "period"])[
        "attendances"].sum()
    names = {u.code: u.name for u in config_of("nhs_ae").leaf_units}
    for period, marked in (("2018-09", "this year's month, 3 months and year to date"), ("2019-03",
                                                                                        "this year's year to date")):
        result = check(period)
        found = [f for f in result.findings if f.check == "completeness"]
        assert sorted(f.unit_code or "" for f in found) == sorted(GAP_TRUSTS) and all(
            f.severity == "warning" for f in found)
        for trust in GAP_TRUSTS:
            usual = attendances[trust].loc["2017-09-01":"2018-08-01"]  # the 12 months before 2018-09
            assert len(usual) == 12
            finding = one(result, f"{names[trust]} ({trust}): no records at all for 2018-09")
            assert f"although it averages {usual.mean():,.0f} A&E attendances a month" in finding.message
            assert finding.message.endswith(f"; {marked} comparisons are marked not like-for-like")
        marks = result.comparisons.set_index(["unit_code", "measure_id", "window"])
        assert not marks.loc[("RKE", "attendances", "ytd"), "like_for_like"]
        assert "missing data in 2018-09" in marks.loc[("RKE", "attendances", "ytd"), "reason"]
        assert "missing data in 2018-09 (RKE)" in marks.loc[("_total", "performance", "ytd"), "reason"]
    assert "RKE" not in {f.unit_code for f in check("2019-03").findings if f.check == "timeliness"}


# organisations of the A&E file that start or stop reporting: R0A formed in 2017-10 from RW3 and RM2,
# RR1 stops after 2018-06; RAL and RKE report throughout
NAMES = {"R0A": "Manchester University", "RW3": "Central Manchester University Hospitals",
         "RM2": "University Hospital of South Manchester", "RR1": "Heart of England", "RAL": "Royal Free London",
         "RKE": "Whittington Health"}
CHANGING = list(NAMES)
MERGER = {"date": "2017-10-01", "kind": "merger", "units": ["R0A", "RW3", "RM2"],
          "description": "Manchester University NHS FT (R0A) formed from RW3 and RM2"}
CLOSURE = {"date": "2018-07-01", "kind": "closure", "units": ["RR1"], "description": "RR1 stops reporting"}


def changing_config(root: Path, changes: list[dict[str, str | list[str]]]) -> Path:
    raw = yaml.safe_load((CONFIG / "nhs_ae.yaml").read_text(encoding="utf-8"))
    raw["units"] = [{"code": "ALL", "name": "Trusts that change", "children": [
        {"code": c, "name": NAMES[c]} for c in CHANGING]}]
    raw["sources"][0]["path"] = str(SHARED_DATA / "nhs_ae_attendances.csv")
    raw["quality"] = {"changes": changes}
    path = root / "changing.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ae_changing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Checker, Checker]:
    """The A&E file with trusts that start or stop: as is, and with the merger and closure declared."""
    plain = tmp_path_factory.mktemp("ae_changing")
    declared = tmp_path_factory.mktemp("ae_declared")
    return (checker_at(changing_config(plain, []), tmp_path_factory),
            checker_at(changing_config(declared, [MERGER, CLOSURE]), tmp_path_factory))


@pytest.mark.slow
def test_nhs_ae_trusts_that_start_or_stop(ae_changing: tuple[Checker, Checker]) -> None:
    plain, declared = ae_changing
    raw = pd.read_csv(SHARED_DATA / "nhs_ae_attendances.csv", dtype={"type": str})
    months = raw[raw["org_code"].isin(CHANGING)].groupby("org_code")["period"].agg(["min", "max"])
    assert months.loc["R0A", "min"] == "2017-10-01" and months.loc["RR1", "max"] == "2018-06-01"
    assert months.loc["RW3", "max"] == months.loc["RM2", "max"] == "2017-09-01"
    held = {org: set(raw.loc[raw["org_code"] == org, "period"].str[:7]) for org in CHANGING}

    def has(org: str, first: str, last: str) -> bool:
        return any(first <= m <= last for m in held[org])

    result = plain("2018-03")
    config = config_of("nhs_ae")
    windows = {w.key: w for w in comparison_windows(parse_period("2018-03", config.cadence), config.cadence)}
    # a trust with data in this year's span and none in last year's (or the reverse) is a structure event
    expected = {}
    for org in CHANGING:
        appeared = [k for k, w in windows.items() if has(org, f"{w.start:%Y-%m}", f"{w.end:%Y-%m}")
                    and not has(org, f"{w.prev_start:%Y-%m}", f"{w.prev_end:%Y-%m}")]
        vanished = [k for k, w in windows.items() if k != "period"
                    and not has(org, f"{w.start:%Y-%m}", f"{w.end:%Y-%m}")
                    and has(org, f"{w.prev_start:%Y-%m}", f"{w.prev_end:%Y-%m}")]
        if appeared or vanished:
            expected[org] = (appeared, vanished)
    assert expected == {"R0A": (["period", "3m", "ytd"], []), "RW3": ([], ["3m"]), "RM2": ([], ["3m"])}
    events = {f.unit_code: f for f in result.findings if f.check == "structure"}
    assert set(events) == set(expected)
    assert events["R0A"].message.startswith("Manchester University (R0A) has data in this year's month, 3 months "
                                            "and year to date but none in the same period last year")
    assert events["RW3"].message.startswith("Central Manchester University Hospitals (RW3) has no data in this "
                                            "year's 3 months but had data in the same period last year")
    marks = result.comparisons.set_index(["unit_code", "measure_id", "window"])
    for org, (appeared, vanished) in expected.items():
        for window in appeared + vanished:
            assert not marks.loc[(org, "attendances", window), "like_for_like"], (org, window)
    # the merged trusts stopped: missing data since 2017-10, and their data for 2018-03 has not arrived
    for org in ("RW3", "RM2"):
        assert f"{NAMES[org]} ({org}): no records at all for 2017-10, 2017-11" in one(
            result, f"{NAMES[org]} ({org}): no records at all").message
        assert one(result, f"{NAMES[org]} ({org}): ae_monthly data as of 2017-09").severity == "blocking"
    # 2018-12: RR1 (stopped after 2018-06) has missed half a year
    later = plain("2018-12")
    assert one(later, "Heart of England (RR1): ae_monthly data as of 2018-06").severity == "blocking"
    assert "Heart of England (RR1) has no data in this year's 3 months" in one(
        later, "Heart of England (RR1) has no data").message

    # declared, the merger explains them: marked by the changes check, nothing missing, nothing late
    result = declared("2018-03")
    assert {f.unit_code for f in result.findings if f.check in ("structure", "timeliness", "completeness")} == set()
    change = one(result, "Merger change on 2017-10-01")
    assert ("for Manchester University (R0A), Central Manchester University Hospitals (RW3) and University Hospital "
            "of South Manchester (RM2)") in change.message
    marks = result.comparisons.set_index(["unit_code", "measure_id", "window"])
    assert not marks.loc[("RW3", "attendances", "ytd"), "like_for_like"]
    assert not marks.loc[("_total", "attendances", "ytd"), "like_for_like"]
    assert ("RAL", "attendances", "ytd") not in marks.index
    later = declared("2018-12")
    assert [f for f in later.findings if f.check == "timeliness" or (f.check == "completeness" and f.unit_code in (
        "RR1", "RW3", "RM2"))] == []


@pytest.mark.slow
def test_lancashire(lancashire: Checker, shared_dir: Path) -> None:
    result = lancashire("2022-12")
    raw = pd.read_csv(shared_dir / "data" / "lancashire_asb.tsv", sep="\t", dtype=str)
    mine = raw[raw["lsoa_code"].isin([u.code for u in config_of("lancashire").leaf_units])]
    assert one(result, "were skipped").rows == len(raw) - len(mine)
    same = int(mine[["month", "longitude", "latitude", "lsoa_code"]].duplicated().sum())
    identical = one(result, "are identical to another row")
    assert identical.severity == "info" and identical.rows == same
    assert result.blocking == [] and result.of("warning") == []
