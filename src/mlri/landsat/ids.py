"""Landsat product identifiers and what mlri accepts.

``LXSS_LLLL_PPPRRR_YYYYMMDD_yyyymmdd_CC_TX`` is parsed with :func:`parse_product_id`;
:func:`check_supported` turns everything mlri cannot use (Collection 1, pre-collection IDs,
Level-1, MSS/TIRS-only, unknown satellites) into a :class:`LandsatFormatError` that says what
to download instead.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

__all__ = [
    "L2_DOWNLOAD_HINT",
    "PRODUCT_ID_RE",
    "SENSORS",
    "LandsatFormatError",
    "ProductId",
    "check_supported",
    "find_product_id",
    "parse_product_id",
]


class LandsatFormatError(ValueError):
    """An input that is not a usable Landsat Collection 2 Level-2 product."""


#: Product identifier (USGS naming); ``re.search`` finds it inside longer file names.
PRODUCT_ID_RE = re.compile(
    r"(?P<sensor>L[CTEOM]0[1-9])_(?P<level>L2S[PR]|L1(?:TP|GT|GS))_(?P<path>\d{3})(?P<row>\d{3})_"
    r"(?P<acq>\d{8})_(?P<proc>\d{8})_(?P<coll>\d{2})_(?P<tier>T1|T2|RT)"
)
# Anything shaped like a product ID, to give a precise error for unknown sensors/levels.
_LOOSE_ID_RE = re.compile(
    r"(?P<sensor>L[A-Z]\d{2})_(?P<level>[A-Z0-9]{4})_(?P<path>\d{3})(?P<row>\d{3})_(?P<acq>\d{8})_"
    r"(?P<proc>\d{8})_(?P<coll>\d{2})_(?P<tier>[A-Z0-9]{2})"
)
# Pre-collection scene IDs: LT51670552010352MLK00
# (sensor+satellite, path, row, year+DOY, station, version).
_PRECOLLECTION_RE = re.compile(r"(?<![A-Za-z0-9])L[CTEOM][1-9]\d{6}\d{7}[A-Z]{3}\d{2}(?![0-9])")
# Collection 1 ESPA on-demand Level-2 file names.
_ESPA_C1_RE = re.compile(r"_(?:sr_band\d|pixel_qa|bt_band\d+|radsat_qa|sr_aerosol)\.tif$",
                         re.IGNORECASE)

#: Supported sensors: code -> (family, satellite number, ST band name).
SENSORS: dict[str, tuple[str, int, str]] = {
    "LT04": ("TM", 4, "ST_B6"),
    "LT05": ("TM", 5, "ST_B6"),
    "LE07": ("ETM", 7, "ST_B6"),
    "LC08": ("OLI", 8, "ST_B10"),
    "LC09": ("OLI", 9, "ST_B10"),
}
_KNOWN_UNSUPPORTED = {
    "LM": "MSS (Landsat 1-5 Multispectral Scanner) has no surface reflectance/temperature product",
    "LO": "OLI-only acquisitions have no thermal band (no LST); mlri expects OLI/TIRS (LC08/LC09)",
    "LT08": "TIRS-only acquisitions have no reflective bands (no EVI)",
    "LT09": "TIRS-only acquisitions have no reflective bands (no EVI)",
}

#: What to download, said in every rejection.
L2_DOWNLOAD_HINT = (
    "mlri needs USGS Landsat Collection 2 Level-2 Science Products (L2SP: surface reflectance "
    "+ surface temperature), e.g. EarthExplorer datasets 'Landsat 4-5 TM C2 Level-2', "
    "'Landsat 7 ETM+ C2 Level-2', 'Landsat 8-9 OLI/TIRS C2 Level-2' (file names like "
    "LC08_L2SP_224078_20200127_20200823_02_T1_SR_B4.TIF)"
)


@dataclass(frozen=True)
class ProductId:
    """A parsed Landsat Collection product identifier."""

    product_id: str
    sensor: str  # "LT05", "LC08", ...
    level: str  # "L2SP", "L2SR", "L1TP", ...
    path: int
    row: int
    acquired: _dt.date
    processed: _dt.date
    collection: int
    tier: str  # "T1", "T2", "RT"

    @property
    def family(self) -> str:
        """Sensor family: "TM", "ETM" or "OLI" (KeyError for unsupported sensors)."""
        return SENSORS[self.sensor][0]

    @property
    def satellite(self) -> int:
        return int(self.sensor[2:])

    @property
    def st_band(self) -> str:
        """Name of the surface-temperature band: "ST_B6" (TM/ETM+) or "ST_B10" (OLI)."""
        return SENSORS[self.sensor][2]

    @property
    def has_st(self) -> bool:
        """True for L2SP (SR + ST) products, False for L2SR (SR only)."""
        return self.level == "L2SP"

    @property
    def pathrow(self) -> str:
        return f"{self.path:03d}{self.row:03d}"

    def __str__(self) -> str:
        return self.product_id


def _date(s: str, what: str, pid: str) -> _dt.date:
    try:
        return _dt.datetime.strptime(s, "%Y%m%d").date()
    except ValueError:
        msg = f"{pid}: invalid {what} date {s!r} in the product identifier"
        raise LandsatFormatError(msg) from None


def find_product_id(name: str) -> str | None:
    """The product identifier found in ``name`` (a file or folder name), or None."""
    m = PRODUCT_ID_RE.search(name) or _LOOSE_ID_RE.search(name)
    return m.group(0) if m else None


def parse_product_id(name: str) -> ProductId:
    """Parse a Landsat Collection product identifier found anywhere in ``name``.

    Only the syntax is checked here; :func:`check_supported` decides whether mlri can use it.

    Raises
    ------
    LandsatFormatError
        When no identifier is found (with a specific message for pre-collection scene IDs and
        Collection 1 ESPA file names).
    """
    m = PRODUCT_ID_RE.search(name) or _LOOSE_ID_RE.search(name)
    if m is None:
        if _PRECOLLECTION_RE.search(name):
            msg = (f"{name}: pre-collection Landsat scene ID (e.g. LT51670552010352MLK00). These "
                   f"products were superseded by the Collection archives and no Collection 2 "
                   f"scaling applies. {L2_DOWNLOAD_HINT}")
            raise LandsatFormatError(msg)
        if _ESPA_C1_RE.search(name):
            msg = (f"{name}: Collection 1 ESPA file naming (sr_band*, pixel_qa). Collection 1 is "
                   f"decommissioned and uses other scale factors and QA bits. {L2_DOWNLOAD_HINT}")
            raise LandsatFormatError(msg)
        msg = f"{name}: no Landsat product identifier (LXSS_LLLL_PPPRRR_YYYYMMDD_yyyymmdd_CC_TX)"
        raise LandsatFormatError(msg)
    g = m.groupdict()
    pid = m.group(0)
    return ProductId(
        product_id=pid, sensor=g["sensor"], level=g["level"], path=int(g["path"]),
        row=int(g["row"]), acquired=_date(g["acq"], "acquisition", pid),
        processed=_date(g["proc"], "processing", pid), collection=int(g["coll"]), tier=g["tier"],
    )


def check_supported(pid: ProductId) -> None:
    """Raise :class:`LandsatFormatError` unless ``pid`` is a C2 Level-2 product of TM/ETM+/OLI."""
    s = pid.sensor
    if s not in SENSORS:
        why = _KNOWN_UNSUPPORTED.get(s) or _KNOWN_UNSUPPORTED.get(s[:2])
        if why is None:
            why = (f"unknown sensor/satellite code {s!r} (supported: "
                   f"{', '.join(sorted(SENSORS))})")
        msg = f"{pid.product_id}: sensor {s} not supported: {why}. {L2_DOWNLOAD_HINT}"
        raise LandsatFormatError(msg)
    if pid.collection != 2:
        msg = (f"{pid.product_id}: Collection {pid.collection:02d} product. Only Collection 2 is "
               f"supported (Collection 1 is decommissioned; its SR is int16 x 0.0001 with fill "
               f"-9999 and other QA bits). {L2_DOWNLOAD_HINT}")
        raise LandsatFormatError(msg)
    if pid.level.startswith("L1"):
        msg = (f"{pid.product_id}: Level-1 product ({pid.level}: top-of-atmosphere digital "
               f"numbers, no surface reflectance or temperature). {L2_DOWNLOAD_HINT}")
        raise LandsatFormatError(msg)
    if pid.level not in ("L2SP", "L2SR"):
        msg = f"{pid.product_id}: unknown processing level {pid.level!r}. {L2_DOWNLOAD_HINT}"
        raise LandsatFormatError(msg)
    if pid.tier not in ("T1", "T2", "RT"):
        msg = f"{pid.product_id}: unknown collection category {pid.tier!r} (T1, T2 or RT)"
        raise LandsatFormatError(msg)
