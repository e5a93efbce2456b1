"""Digests of every output array of ``mlri run`` on the synthetic demo site.

``python tools/hash_run_outputs.py --freeze`` records them in ``tests/data/run_hashes.json``;
``tests/test_run_hashes.py`` recomputes and compares them, so a refactoring of the chain, the
writers or the significance tests that changes one bit of one output fails.  Digests are over
the raw array bytes with NaN canonicalised (a NaN is a NaN; -0.0 != +0.0), per raster band.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HASHES = Path(__file__).resolve().parent.parent / "tests" / "data" / "run_hashes.json"
SHAPE = (48, 64)
SEED = 2024
#: name -> keyword options of mlri.pipeline.run
CASES: dict[str, dict[str, Any]] = {
    "paper": {},
    "paper_fdr": {"fdr": 0.1},
    "permutation": {"significance": "permutation", "permutations": 49, "seed": 3},
    "reference_fdr": {"significance": "reference", "reference": "MASK", "fdr": 0.2},
    "paper_options": {"hurst_method": "segmented", "hurst_series": "level", "alpha": 0.1,
                      "min_valid": 8, "evi_min": 0.05},
}


def digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        a = a.copy()
        a[np.isnan(a)] = np.nan
    h = hashlib.sha256()
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def folder_digests(folder: Path) -> dict[str, str]:
    """``file[band]`` -> digest of every raster band, plus the dtype/nodata of each file."""
    import rasterio

    out: dict[str, str] = {}
    for p in sorted(folder.glob("*.tif")):
        with rasterio.open(p) as ds:
            out[f"{p.name}:meta"] = f"{ds.count} {ds.dtypes[0]} {ds.nodata}"
            for b in range(1, ds.count + 1):
                out[f"{p.name}[{b}]"] = digest(ds.read(b))
            tags = {"tags": ds.tags(), "descriptions": ds.descriptions, "units": ds.units,
                    "band_tags": [ds.tags(b) for b in range(1, ds.count + 1)]}
            if p.name == "classes.tif":
                tags["colormap"] = ds.colormap(1)
            out[f"{p.name}:tags"] = _text_digest(json.dumps(tags, sort_keys=True, default=str))
    for name in ("classes.tif.aux.xml", "summary.json"):
        if (folder / name).exists():
            out[name] = _text_digest((folder / name).read_text())
    return out


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_mask(site: Any, path: Path) -> None:
    """Reference land: the planted steppe region (code 1), on the input grid."""
    import rasterio

    h, w = site.truth.shape
    with rasterio.open(path, "w", driver="GTiff", crs=site.crs, transform=site.transform,
                       width=w, height=h, count=1, dtype="uint8") as ds:
        ds.write((site.truth == 1).astype(np.uint8), 1)


def compute(work: Path) -> dict[str, dict[str, str]]:
    from mlri.demo import synthesize, write_inputs
    from mlri.pipeline import run

    site = synthesize(seed=SEED, shape=SHAPE)
    inputs = work / "inputs"
    write_inputs(site, inputs)
    mask = work / "steppe.tif"
    _write_mask(site, mask)
    res: dict[str, dict[str, str]] = {}
    for name, kw in CASES.items():
        out = work / name
        kw = {k: (str(mask) if v == "MASK" else v) for k, v in kw.items()}
        run(inputs, inputs, out, quiet=True, tile=32, cog=False, checksum=False, **kw)
        res[name] = folder_digests(out)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--freeze", action="store_true", help="record the digests")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        got = compute(Path(tmp))
    if args.freeze:
        HASHES.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"wrote {HASHES}")
        return 0
    want = json.loads(HASHES.read_text())
    bad = [f"{c}/{k}" for c in want for k in want[c] if got.get(c, {}).get(k) != want[c][k]]
    bad += [f"{c}/{k} (new)" for c in got for k in got[c] if k not in want.get(c, {})]
    print("\n".join(bad) if bad else "all outputs bit-identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
