"""Product identifiers, MTL parsing (txt/json/xml) and scale factors (SPEC-landsat §1.1, §1.7)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mlri.landsat import LandsatFormatError, check_supported, parse_product_id, read_mtl
from mlri.landsat.mtl import parse_mtl

LANDSAT = "landsat"


def test_parse_product_id_fields():
    p = parse_product_id("LC08_L2SP_224078_20200127_20200823_02_T1_ST_B10.TIF")
    assert p.product_id == "LC08_L2SP_224078_20200127_20200823_02_T1"
    assert (p.sensor, p.level, p.path, p.row) == ("LC08", "L2SP", 224, 78)
    assert p.acquired == dt.date(2020, 1, 27)
    assert p.processed == dt.date(2020, 8, 23)
    assert (p.collection, p.tier) == (2, "T1")
    assert p.family == "OLI" and p.st_band == "ST_B10" and p.has_st
    check_supported(p)


def test_parse_embedded_and_tm():
    p = parse_product_id("/x/y/my_LT05_L2SP_090084_19980308_20200909_02_T1.tar")
    assert p.family == "TM" and p.st_band == "ST_B6" and p.pathrow == "090084"
    e = parse_product_id("LE07_L2SR_090084_20210331_20210426_02_T2")
    assert e.family == "ETM" and not e.has_st and e.tier == "T2"


@pytest.mark.parametrize(("name", "words"), [
    ("LT05_L2SP_090084_19980308_20200909_01_T1", ["Collection 01", "Collection 2"]),
    ("LC08_L1TP_224078_20200127_20200823_02_T1", ["Level-1", "L2SP"]),
    ("LM05_L2SP_090084_19980308_20200909_02_T1", ["MSS", "not supported"]),
    ("LT08_L2SP_090084_19980308_20200909_02_T1", ["TIRS-only"]),
    ("LX05_L2SP_090084_19980308_20200909_02_T1", ["unknown sensor"]),
    ("LC05_L2SP_090084_19980308_20200909_02_T1", ["unknown sensor"]),
])
def test_unsupported_products_explain(name, words):
    with pytest.raises(LandsatFormatError) as ei:
        check_supported(parse_product_id(name))
    msg = str(ei.value)
    assert name in msg
    for w in words:
        assert w in msg
    assert "Level-2" in msg  # says what to download instead


def test_precollection_and_espa_names():
    with pytest.raises(LandsatFormatError, match="pre-collection"):
        parse_product_id("LT51670552010352MLK00_B4.TIF")
    with pytest.raises(LandsatFormatError, match="Collection 1 ESPA"):
        parse_product_id("LT050900842010_sr_band4.tif")
    with pytest.raises(LandsatFormatError, match="no Landsat product identifier"):
        parse_product_id("random.tif")


ODL = """GROUP = LANDSAT_METADATA_FILE
  GROUP = PRODUCT_CONTENTS
    LANDSAT_PRODUCT_ID = "LT05_L2SP_090084_19980308_20200909_02_T1"
    PROCESSING_LEVEL = "L2SP"
    COLLECTION_NUMBER = 02
    FILE_NAME_BAND_3 = "LT05_L2SP_090084_19980308_20200909_02_T1_SR_B3.TIF"
  END_GROUP = PRODUCT_CONTENTS
  GROUP = IMAGE_ATTRIBUTES
    WRS_PATH = 90
    DATE_ACQUIRED = 1998-03-08
  END_GROUP = IMAGE_ATTRIBUTES
  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
    REFLECTANCE_MULT_BAND_3 = 3.0e-05
  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
  GROUP = LEVEL1_PROCESSING_RECORD
    PROCESSING_LEVEL = "L1TP"
  END_GROUP = LEVEL1_PROCESSING_RECORD
  GROUP = LEVEL1_RADIOMETRIC_RESCALING
    REFLECTANCE_MULT_BAND_3 = 2.1695E-03
    REFLECTANCE_ADD_BAND_3 = -0.004601
  END_GROUP = LEVEL1_RADIOMETRIC_RESCALING
END_GROUP = LANDSAT_METADATA_FILE
END
"""


def test_odl_groups_and_fallbacks():
    m = parse_mtl(ODL, "txt")
    assert m.processing_level == "L2SP"  # not the Level-1 record's L1TP
    assert m.get("IMAGE_ATTRIBUTES", "WRS_PATH") == "90" and m.wrs_path == 90
    assert m.collection == 2
    assert m.date_acquired == dt.date(1998, 3, 8)
    # Level-2 mult from the MTL, add missing -> constant; Level-1 values never used
    assert m.sr_scale(3) == (3.0e-05, -0.2)
    assert m.sr_scale(4) == (2.75e-05, -0.2)
    assert m.st_scale("ST_B6") == (0.00341802, 149.0)
    assert m.file_names()["SR_B3"].endswith("_SR_B3.TIF")


def test_truncated_odl_raises():
    with pytest.raises(LandsatFormatError, match="never closed"):
        parse_mtl(ODL.split("END_GROUP = LEVEL1_PROCESSING_RECORD")[0], "txt")


@pytest.mark.realdata
def test_real_mtl_txt_json_xml_agree(shared_data):
    d = shared_data / LANDSAT / "LT05_L2SP_090084_19980308_20200909_02_T1"
    stem = d.name
    txt = read_mtl(d / f"{stem}_MTL.txt")
    js = read_mtl(d / f"{stem}_MTL.json")
    xml = read_mtl(d / f"{stem}_MTL.xml")
    for m in (txt, js, xml):
        assert m.product_id == stem
        assert m.processing_level == "L2SP"
        assert m.sensor_id == "TM" and m.spacecraft == "LANDSAT_5"
        assert m.utm_zone == 55
        assert m.sr_scale(3) == (2.75e-05, -0.2)
        assert m.st_scale("ST_B6") == (0.00341802, 149.0)
        assert m.thermal_constants("LT05") == (607.76, 1260.56)
        assert m.file_names()["QA_PIXEL"] == f"{stem}_QA_PIXEL.TIF"
        assert m.float("PROJECTION_ATTRIBUTES", "CORNER_UL_PROJECTION_X_PRODUCT") == 638100.0
        # WRS_PATH appears as 90, "090" or "90" depending on the file: compare as numbers
        assert (m.wrs_path, m.wrs_row) == (90, 84)
    # JSON values are all strings
    raw = json.loads((d / f"{stem}_MTL.json").read_text())
    assert raw["LANDSAT_METADATA_FILE"]["IMAGE_ATTRIBUTES"]["WRS_PATH"] == "090"


@pytest.mark.realdata
def test_real_oli_mtl(shared_data):
    d = shared_data / LANDSAT / "LC08_L2SP_008059_20191201_20200825_02_T1"
    m = read_mtl(d / f"{d.name}_MTL.json")
    assert m.st_scale("ST_B10") == (0.00341802, 149.0)
    assert m.thermal_constants("LC08") == (774.8853, 1321.0789)
    assert m.get("PROJECTION_ATTRIBUTES", "UTM_ZONE") == "18"
    assert m.cloud_cover == pytest.approx(81.02)
    l2sr = shared_data / LANDSAT / "LC08_L2SR_099120_20191129_20201016_02_T2"
    m2 = read_mtl(l2sr / f"{l2sr.name}_MTL.txt")
    assert m2.processing_level == "L2SR" and m2.tier == "T2" and m2.map_projection == "PS"
