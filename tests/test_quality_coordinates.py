"""The coordinates check reads each day's box from the daily totals and the rows of crossing days only: it
gives what a scan of every row gives, on both backends."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.ingest import inputs_in_use
from compstat.quality.context import COORDINATE_COLUMNS, _coordinates
from compstat.store import Observation
from tests.test_figures import ingested
from tests.test_quality_checks import with_config

AREAS = {
    "every row inside": {"min_lat": 53, "max_lat": 54, "min_lon": -3, "max_lon": -2},
    "A's rows outside": {"min_lat": 53.15, "max_lat": 54, "min_lon": -3, "max_lon": -2},
    "every row outside": {"min_lat": 10, "max_lat": 11, "min_lon": 10, "max_lon": 11},
}


def every_row(session: Session, config: Config, start: date, end: date, sources: dict[int, str]) -> pd.DataFrame:
    """The check's figures from a scan of every row in the window (as it was read before the boxes)."""
    area = config.quality.area
    assert area is not None
    lat, lon = Observation.latitude, Observation.longitude
    outside = (lat.is_not(None) & lon.is_not(None)
               & or_(lat < area.min_lat, lat > area.max_lat, lon < area.min_lon, lon > area.max_lon))
    blank = or_(lat.is_(None), lon.is_(None))
    stmt = (select(Observation.file_id, Observation.unit_code, func.sum(case((outside, 1), else_=0)),
                   func.sum(case((blank, 1), else_=0)))
            .where(Observation.org == config.organisation.slug, Observation.occurred_on >= start,
                   Observation.occurred_on <= end)
            .group_by(Observation.file_id, Observation.unit_code))
    frame = pd.DataFrame(list(map(tuple, session.execute(stmt).all())), columns=["file_id", "unit_code", "outside",
                                                                                  "blank"])
    frame["source"] = frame["file_id"].map(sources).fillna("?")
    frame[["outside", "blank"]] = frame[["outside", "blank"]].astype(int)
    return frame.groupby(["source", "unit_code"], as_index=False)[["outside", "blank"]].sum()[COORDINATE_COLUMNS]


@pytest.mark.parametrize("area", list(AREAS))
@pytest.mark.parametrize("start", [date(2025, 1, 1), date(2026, 3, 4)])
def test_the_boxes_give_what_every_row_gives(small_config: Config, store_url: str, area: str, start: date) -> None:
    config = with_config(small_config, area=AREAS[area])
    with ingested(config, store_url) as session:
        sources = dict(zip(*[inputs_in_use(session, config.organisation.slug)[c] for c in ("file_id", "source")],
                           strict=True))
        end = date(2026, 3, 9)
        got = _coordinates(session, config, start, end, sources)
        expected = every_row(session, config, start, end, sources)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)
    by_unit = got.set_index("unit_code")
    if area == "A's rows outside":
        assert by_unit.loc["A", "outside"] > 0 and by_unit.loc["B", "outside"] == 0
    if area == "every row inside":
        assert by_unit["outside"].sum() == 0
    assert by_unit["blank"].sum() > 0  # R3 has no coordinates, R21's latitude (95) was unreadable
