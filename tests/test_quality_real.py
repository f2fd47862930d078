"""The quality checks on the real public data in ../shared/data, with expected values computed here by pandas.

Each dataset is ingested once per module with its shipped config; the checks then run read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from compstat.config import Config, load_config
from compstat.ingest import ingest_all
from compstat.periods import parse_period
from compstat.quality import Finding, QualityResult, run_quality
from compstat.store import connect, transaction

CONFIG = Path(__file__).resolve().parents[1] / "config"
Checker = Callable[[str], QualityResult]


def checker(name: str, factory: pytest.TempPathFactory) -> Checker:
    """Ingest ``name``'s data once; return a function running the checks for a period."""
    config = load_config(CONFIG / f"{name}.yaml")
    url = f"sqlite:///{factory.mktemp(name) / 'store.db'}"
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
    assert quiet.severity == "info" and f"it averages {usual:.1f} rows a week" in quiet.message
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
    assert "'2' rows (attendances and within_4h) stop from 2018-02" in one(
        result, "King's College Hospital NHS Foundation Trust (RJZ): '2' rows").message
    # North Middlesex split its type 1 attendances into types 2 and 'other' from 2018-04: volume moved
    assert months("RAP", "2").min() == months("RAP", "other").min() == "2018-04"
    rap = one(result, "in 1 unit (North Middlesex University Hospital NHS Trust (RAP))")
    assert rap.severity == "info" and "start in 2018-04" in rap.message
    marks = result.comparisons.set_index(["unit_code", "measure_id", "window"])
    assert not marks.loc[("RVR", "attendances", "ytd"), "like_for_like"]
    assert ("RAP", "attendances", "ytd") not in marks.index
    assert {f.unit_code for f in result.of("warning")} == {"RVR", "RJZ"} and result.blocking == []


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
