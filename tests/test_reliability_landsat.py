"""Hostile and incomplete Landsat downloads: decompression bombs, crafted MTL JSON, absurd
scale factors, missing band files.  ``mlri scenes`` must report exactly what ``mlri composite``
refuses, every problem of a scene at once, and a failed composite must leave nothing behind."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlri.cli import main
from mlri.landsat import LandsatFormatError, discover_scenes, read_mtl
from mlri.landsat.mtl import MTL_MAX_BYTES, parse_mtl

pytest.importorskip("rasterio")

PID = "LC08_L2SP_123032_20200715_20200722_02_T1"


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _error_line(r) -> str:
    assert r.exit_code != 0, r.output
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, r.output
    return lines[0]


@pytest.fixture(scope="module")
def archive0(tmp_path_factory):
    from mlri.landsat.synthetic import make_archive

    root = tmp_path_factory.mktemp("arch") / "a"
    return make_archive(root, size=(20, 20), years=[2005], dates_per_season=2,
                        distractors=False, nested=False)


@pytest.fixture
def archive(archive0, tmp_path):
    dst = tmp_path / "scenes"
    shutil.copytree(archive0.root, dst)
    scenes = sorted(p for p in dst.iterdir() if p.is_dir())
    return dst, dst / "aoi.geojson", scenes


# ------------------------------------------------------------------ decompression bomb


def _bomb_tar_gz(path: Path, member: str, size: int) -> None:
    """A .tar.gz whose ``member`` is ``size`` zero bytes, written in milliseconds: gzip
    members may be concatenated, so one compressed MiB of zeros is repeated."""
    head = io.BytesIO()
    with tarfile.open(fileobj=head, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        ti = tarfile.TarInfo(member)
        ti.size = size
        tf.addfile(ti)  # header only (the data follows)
    header = head.getvalue()[:512]
    mib = 2**20
    chunk = gzip.compress(b"\0" * mib, compresslevel=9)
    assert gzip.decompress(chunk + chunk) == b"\0" * (2 * mib)  # members concatenate
    assert size % mib == 0
    with open(path, "wb") as fh:  # noqa: PTH123
        fh.write(gzip.compress(header))
        fh.writelines(chunk for _ in range(size // mib))
        fh.write(gzip.compress(b"\0" * 1024))  # end-of-archive blocks


def test_decompression_bomb_mtl_is_refused_fast_with_small_memory(tmp_path):
    bundle = tmp_path / f"{PID}.tar.gz"
    _bomb_tar_gz(bundle, f"{PID}_MTL.json", 2**30)
    assert bundle.stat().st_size < 4 * 2**20  # ~1 MB on disk, 1 GiB inside
    tracemalloc.start()
    t0 = time.perf_counter()
    scenes, problems = discover_scenes([tmp_path])
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert scenes == []
    assert len(problems) == 1 and "1024.0 MiB" in problems[0].reason
    assert f"{PID}_MTL.json" in problems[0].reason and "refused" in problems[0].reason
    assert elapsed < 2.0
    assert peak < 16 * 2**20


def test_decompression_bomb_cli_error_line(tmp_path):
    scenes = tmp_path / "in"
    scenes.mkdir()
    _bomb_tar_gz(scenes / f"{PID}.tar.gz", f"{PID}_MTL.txt", 64 * 2**20)
    r = _cli("composite", "--scenes", scenes, "--bbox", "119.8", "39.6", "119.81", "39.61",
             "--years", "2020", "--out", tmp_path / "o", "-q")
    assert "MiB" in _error_line(r)
    assert not (tmp_path / "o").exists()
    r = _cli("scenes", scenes)
    assert r.exit_code == 0 and "SKIP" in r.output and "refused" in r.output


def test_oversized_plain_mtl_is_not_read(tmp_path):
    p = tmp_path / f"{PID}_MTL.txt"
    with open(p, "wb") as fh:  # noqa: PTH123
        fh.truncate(2**30)  # sparse: no disk used
    tracemalloc.start()
    with pytest.raises(LandsatFormatError, match=r"1024\.0 MiB"):
        read_mtl(p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2 * MTL_MAX_BYTES


# ------------------------------------------------------------------ crafted MTL JSON


@pytest.mark.parametrize("payload", [
    '{"LANDSAT_METADATA_FILE": {"PRODUCT_CONTENTS": {"X": ' + "9" * 100_000 + "}}}",
    '{"LANDSAT_METADATA_FILE": {"PRODUCT_CONTENTS": {"X": ' + "[" * 100_000
    + "]" * 100_000 + "}}}",
    "[" * 200_000,
])
def test_crafted_json_mtl_is_a_format_error(payload):
    try:
        m = parse_mtl(payload, "json", "x_MTL.json")
    except LandsatFormatError:
        return
    # a huge integer stays text (no int conversion); nesting is dropped
    assert m.get("PRODUCT_CONTENTS", "X") in (None, "9" * 100_000)


def test_crafted_json_mtl_in_a_scene_is_listed_not_a_traceback(archive):
    root, _, scenes = archive
    d = scenes[0]
    (d / f"{d.name}_MTL.txt").unlink()
    (d / f"{d.name}_MTL.json").write_text('{"LANDSAT_METADATA_FILE": ' + "[" * 100_000)
    r = _cli("scenes", root)
    assert r.exit_code == 0, r.output
    assert f"SKIP {d.name}" in r.output and "nested too deeply" in r.output


# ------------------------------------------------------------------ absurd scale factors


def test_absurd_scale_factor_is_refused_naming_scene_and_value(archive, tmp_path):
    root, aoi, scenes = archive
    d = scenes[1]
    (d / f"{d.name}_MTL.txt").unlink()
    mp = d / f"{d.name}_MTL.json"
    js = json.loads(mp.read_text())
    js["LANDSAT_METADATA_FILE"]["LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"] = {
        "TEMPERATURE_MULT_BAND_ST_B6": "1e+30", "TEMPERATURE_ADD_BAND_ST_B6": "149.0"}
    mp.write_text(json.dumps(js))
    r = _cli("scenes", root)
    skip = [ln for ln in r.output.splitlines() if ln.startswith("SKIP")]
    assert len(skip) == 1 and d.name in skip[0]
    assert "TEMPERATURE_MULT_BAND_ST_B6 = 1e+30" in skip[0]
    r = _cli("composite", "--scenes", root, "--aoi", aoi, "--years", "2005",
             "--out", tmp_path / "o", "-q")
    line = _error_line(r)
    assert d.name in line and "1e+30" in line
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ missing files


def test_scenes_reports_what_composite_needs_and_composite_agrees(archive, tmp_path):
    root, aoi, scenes = archive
    d = scenes[0]
    for suffix in ("ST_B6", "QA_PIXEL"):
        (d / f"{d.name}_{suffix}.TIF").unlink()
    r = _cli("scenes", root)
    assert r.exit_code == 0
    skip = [ln for ln in r.output.splitlines() if ln.startswith("SKIP")]
    assert len(skip) == 1 and d.name in skip[0]
    assert "ST_B6" in skip[0] and "QA_PIXEL" in skip[0]  # every missing file, one line
    assert f"{len(scenes) - 1} usable scene(s), 1 problem(s)" in r.output
    # EVI only with the "none" mask needs neither file: scenes agrees
    r = _cli("scenes", root, "--variables", "EVI", "--mask", "none")
    assert "0 problem(s)" in r.output

    out = tmp_path / "o"
    r = _cli("composite", "--scenes", root, "--aoi", aoi, "--years", "2005", "--out", out, "-q")
    line = _error_line(r)
    assert d.name in line and "ST_B6" in line and "QA_PIXEL" in line
    assert not out.exists()  # no empty output folder left behind
    r = _cli("composite", "--scenes", root, "--aoi", aoi, "--years", "2005", "--out", out, "-q")
    assert not out.exists()
    r = _cli("composite", "--scenes", root, "--aoi", aoi, "--years", "2005", "--out", out, "-q",
             "--skip-bad")
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())
    skipped = {s["scene"]: s["reason"] for s in man["scenes_skipped"]}
    assert "ST_B6" in skipped[d.name] and "QA_PIXEL" in skipped[d.name]
    assert len(man["scenes_used"]) == len(scenes) - 1


def test_composite_lists_all_incomplete_scenes_at_once(archive, tmp_path):
    root, aoi, scenes = archive
    for d in scenes[:2]:
        (d / f"{d.name}_SR_B3.TIF").unlink()
    r = _cli("composite", "--scenes", root, "--aoi", aoi, "--years", "2005",
             "--out", tmp_path / "o", "-q")
    line = _error_line(r)
    assert "2 scenes cannot be used" in line
    assert all(d.name in line for d in scenes[:2]) and "--skip-bad" in line


@pytest.mark.parametrize("incomplete_first", [True, False])
def test_complete_copy_of_a_duplicate_scene_is_used(archive, tmp_path, incomplete_first):
    """The same scene twice, one copy without QA_PIXEL: the complete copy is used whatever
    the order of --scenes, and the user is told which copy was left out and why."""
    root, aoi, scenes = archive
    d = scenes[0]
    bad = tmp_path / "noqa" / d.name
    shutil.copytree(d, bad)
    (bad / f"{d.name}_QA_PIXEL.TIF").unlink()
    srcs = [bad.parent, root] if incomplete_first else [root, bad.parent]
    out = tmp_path / "o"
    r = _cli("composite", "--scenes", srcs[0], "--scenes", srcs[1], "--aoi", aoi,
             "--years", "2005", "--out", out)
    assert r.exit_code == 0, r.output
    warning = next(ln for ln in r.output.splitlines() if ln.startswith("Warning:"))
    assert str(bad) in warning and "QA_PIXEL" in warning and f"copy in {d}" in warning
    man = json.loads((out / "manifest.json").read_text())
    used = {u["scene"] for u in man["scenes_used"]}
    assert d.name in used and len(used) == len(scenes)
    r = _cli("scenes", *srcs)
    assert r.exit_code == 0 and f"{len(scenes)} usable scene(s)" in r.output
    assert f"SKIP {d.name}\tduplicate of the copy in {d}, which is used instead" in r.output
    # a folder and its own copy, both complete: the first is used, the second is a duplicate
    found, problems = discover_scenes([root, bad.parent])
    assert [p.reason for p in problems] == [f"duplicate of the copy in {d}"]
    assert problems[0].defect is None and len(found) == len(scenes)


def test_failed_composite_into_existing_folder_keeps_it(archive, tmp_path):
    root, aoi, scenes = archive
    (scenes[0] / f"{scenes[0].name}_SR_B4.TIF").unlink()
    out = tmp_path / "o"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    r = _cli("composite", "--scenes", root, "--aoi", aoi, "--years", "2005", "--out", out, "-q")
    _error_line(r)
    assert (out / "mine.txt").read_text() == "keep"


def test_missing_band_hint_offers_only_what_helps(archive, tmp_path):
    """"--variables EVI" is offered only when EVI needs none of the missing files: not when
    QA_PIXEL (needed by both variables) is missing; the CLI shows clean flags."""
    root, aoi, scenes = archive
    d = scenes[0]
    (d / f"{d.name}_ST_B6.TIF").unlink()
    r = _cli("composite", "--scenes", root, "--aoi", aoi, "--years", "2005", "--out",
             tmp_path / "o")
    line = _error_line(r)
    assert line.endswith("(download the scene again, or composite EVI only with "
                         "--variables EVI)"), line
    (d / f"{d.name}_QA_PIXEL.TIF").unlink()
    r = _cli("composite", "--scenes", root, "--aoi", aoi, "--years", "2005", "--out",
             tmp_path / "o")
    line = _error_line(r)
    assert "QA_PIXEL" in line and "--variables" not in line
    assert line.endswith("the download is incomplete, download the scene again"), line
    out = tmp_path / "done"
    out.mkdir()
    (out / "manifest.json").write_text('{"command": "composite"}')  # an earlier composite
    r = _cli("composite", "--scenes", root, "--aoi", aoi, "--years", "2005", "--out", out,
             "--variables", "EVI", "--mask", "none")
    assert "pass --overwrite to replace them" in _error_line(r)


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_huge_numbers_in_every_mtl_field_never_crash(archive, fmt):
    """Every value of a real-layout MTL replaced by a 10,000-digit number (JSON: a raw
    number, ODL: text): the scene is listed as a problem or parsed, never a traceback."""
    root, _, scenes = archive
    d = scenes[0]
    js = json.loads((d / f"{d.name}_MTL.json").read_text())
    huge = "9" * 10_000
    for name in (f"{d.name}_MTL.json", f"{d.name}_MTL.txt"):
        (d / name).unlink()
    groups = js["LANDSAT_METADATA_FILE"]
    keep = {"LANDSAT_PRODUCT_ID", "PROCESSING_LEVEL"}  # identity: else another problem
    if fmt == "json":
        body = ",".join(
            f'"{g}": {{' + ",".join(
                f'"{k}": ' + (json.dumps(v) if k in keep or k.startswith("FILE_NAME") else huge)
                for k, v in kv.items()) + "}"
            for g, kv in groups.items())
        (d / f"{d.name}_MTL.json").write_text('{"LANDSAT_METADATA_FILE": {' + body + "}}")
    else:
        lines = ["GROUP = LANDSAT_METADATA_FILE"]
        for g, kv in groups.items():
            lines.append(f"  GROUP = {g}")
            lines += [f"    {k} = " + (f'"{v}"' if k in keep or k.startswith("FILE_NAME")
                                        else huge) for k, v in kv.items()]
            lines.append(f"  END_GROUP = {g}")
        lines += ["END_GROUP = LANDSAT_METADATA_FILE", "END"]
        (d / f"{d.name}_MTL.txt").write_text("\n".join(lines))
    r = _cli("scenes", root)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert f"SKIP {d.name}" in r.output  # e.g. absurd scale factors


@pytest.mark.parametrize(("kw", "match"), [
    ({"variables": ()}, r"variables must be a non-empty subset of \('EVI', 'LST'\), got \(\)"),
    ({"variables": ("EVI", "NDVI")}, "variables must be a non-empty subset"),
    ({"sensors": ("XX",)}, r"sensors must be a non-empty subset of .*got \('XX',\)"),
])
def test_composite_options_name_the_bad_subset(kw, match):
    from mlri.landsat.options import CompositeOptions

    with pytest.raises(ValueError, match=match):
        CompositeOptions(**kw)


@pytest.mark.parametrize(("kw", "match"), [
    ({"months": (6, 9.5)}, "months must be an integer, got 9.5"),
    ({"months": "6-9"}, "months must be two month numbers"),
    ({"require_mtl": "yes"}, "require_mtl must be True or False"),
    ({"mask_water": 1}, "mask_water must be True or False"),
])
def test_composite_options_are_never_coerced(kw, match):
    from mlri.landsat.options import CompositeOptions

    with pytest.raises((TypeError, ValueError), match=match):
        CompositeOptions(**kw)


def test_composite_options_normalise_subsets():
    from mlri.landsat.options import CompositeOptions

    o = CompositeOptions(variables=("lst", "evi", "LST"), sensors=("oli", "tm"))
    assert o.variables == ("LST", "EVI") and o.sensors == ("OLI", "TM")
