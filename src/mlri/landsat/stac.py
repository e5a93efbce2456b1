"""Landsat Collection 2 Level-2 scenes from STAC: saved catalogs / ItemCollections and API searches.

STAC items become the same :class:`~mlri.landsat.scene.Scene` objects the folder / ``.tar``
reader makes (band roles, scale factors, product identifier), so masking, scaling and
compositing run the same code and give the same numbers; the band files are read in place
(cloud-optimised GeoTIFFs over HTTP(S) or object storage, only the windows over the grid).

The catalogs differ; all of these are handled:

* Microsoft Planetary Computer (collection ``landsat-c2-l2``): item IDs without the processing
  date (``LC08_L2SP_123032_20150701_02_T1``: the full product ID is taken from the asset file
  names), asset keys ``blue``, ``red``, ``nir08``, ``qa_pixel``, ``lwir`` (TM/ETM+) or
  ``lwir11`` (OLI/TIRS), hrefs that must be signed (``sign="planetary-computer"``).
* USGS LandsatLook (``landsat-c2l2-sr`` and ``landsat-c2l2-st``): one item for the surface
  reflectance and another for the surface temperature of the same scene (``..._SR`` /
  ``..._ST``), merged into one scene.
* Element 84 Earth Search (``landsat-c2-l2``), static catalogs with relative hrefs, and
  ``proj:epsg`` (STAC projection extension v1) or ``proj:code`` (v2).

Scale factors come from the items' ``raster:bands`` ``scale`` / ``offset`` when present, else the
Collection 2 constants (the same values the MTL holds).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .._cloud import cloud_env, is_url, remote_error
from .ids import PRODUCT_ID_RE, LandsatFormatError, check_supported, parse_product_id
from .mtl import G_CONTENTS, G_IMAGE, G_SR, G_ST, Mtl
from .scene import BAND_ROLES, Scene, SceneError, SceneProblem

__all__ = ["ASSET_ROLES", "StacError", "check_readable", "discover_stac", "load_items",
           "resolve_signer", "scenes_from_stac", "search_items"]


class StacError(LandsatFormatError):
    """A STAC catalog, item or search that cannot be used (the message names it)."""


#: STAC asset key (lower case) -> band role (:data:`mlri.landsat.BAND_ROLES`).
ASSET_ROLES: dict[str, str] = {
    "qa_pixel": "qa", "qa_radsat": "radsat", "coastal": "coastal", "blue": "blue",
    "green": "green", "red": "red", "nir08": "nir", "nir": "nir", "swir16": "swir1",
    "swir22": "swir2", "lwir": "st", "lwir11": "st", "qa": "st_qa", "st_qa": "st_qa",
    "trad": "trad", "urad": "urad", "drad": "drad", "atran": "atran", "emis": "emis",
    "emsd": "emsd", "cdist": "cdist", "qa_aerosol": "aerosol", "atmos_opacity": "opacity",
    "cloud_qa": "cloud_qa",
}
# USGS item ID of one half of a scene, and the Planetary Computer ID without processing date
_SUFFIX_RE = re.compile(r"_(SR|ST)$")
_SHORT_RE = re.compile(r"(L[CTEOM]0\d)_(L2S[PR])_(\d{6})_(\d{8})_(\d{2})_(T1|T2|RT)")
_MAX_JSON = 64 * 2**20
_MAX_DEPTH = 8
_TIMEOUT = 60


# --------------------------------------------------------------------------------- reading
def _is_remote_href(href: str) -> bool:
    return href.lower().startswith(("http://", "https://"))


def _read_json(href: str, what: str) -> Any:
    try:
        if _is_remote_href(href):
            with urllib.request.urlopen(href, timeout=_TIMEOUT) as r:
                data = r.read(_MAX_JSON + 1)
        else:
            p = Path(href.removeprefix("file://"))
            if not p.is_file():
                msg = f"{what} {href}: no such file"
                raise StacError(msg)
            with p.open("rb") as fh:
                data = fh.read(_MAX_JSON + 1)
    except OSError as err:
        raise StacError(remote_error(err, href, what)) from None
    if len(data) > _MAX_JSON:
        msg = f"{what} {href} is larger than {_MAX_JSON >> 20} MiB: not a STAC document"
        raise StacError(msg)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        msg = (f"{what} {href} is not valid JSON ({err}); save the ItemCollection again "
               f"(e.g. pystac_client ItemSearch.item_collection().save_object(...))")
        raise StacError(msg) from None


def _join(base: str, href: str) -> str:
    """``href`` resolved against the document ``base`` it was found in."""
    if "://" in href or href.startswith(("/vsi", "/")) or re.match(r"^[A-Za-z]:[\\/]", href):
        return href
    if _is_remote_href(base):
        return urllib.parse.urljoin(base, href)
    return os.path.normpath(os.path.join(os.path.dirname(base), href))  # noqa: PTH118, PTH120


def load_items(source: str | os.PathLike[str] | dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Items of a saved ItemCollection, a single item, or a static catalog / collection (child
    and item links followed), each with the href of the document it came from."""
    if isinstance(source, dict):
        return _items_of(source, "", 0, set())
    href = os.fspath(source)
    return _items_of(_read_json(href, "STAC file"), href, 0, set())


def _items_of(doc: Any, base: str, depth: int, seen: set[str]) -> list[tuple[dict[str, Any], str]]:
    if not isinstance(doc, dict):
        msg = f"STAC file {base}: expected a JSON object, got {type(doc).__name__}"
        raise StacError(msg)
    kind = doc.get("type")
    if kind == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            msg = f"STAC ItemCollection {base}: 'features' is not a list"
            raise StacError(msg)
        return [(_check_item(f, base), base) for f in feats]
    if kind == "Feature":
        return [(_check_item(doc, base), base)]
    if kind in ("Catalog", "Collection"):
        if depth > _MAX_DEPTH:
            msg = f"STAC catalog {base}: nested more than {_MAX_DEPTH} levels"
            raise StacError(msg)
        out = []
        for link in doc.get("links", []):
            if not isinstance(link, dict) or link.get("rel") not in ("item", "child"):
                continue
            target = _join(base, str(link.get("href", "")))
            if target in seen:
                continue
            seen.add(target)
            out += _items_of(_read_json(target, f"STAC {link['rel']}"), target, depth + 1, seen)
        return out
    msg = (f"STAC file {base}: type {kind!r} is not an ItemCollection (FeatureCollection), "
           f"Item (Feature), Catalog or Collection")
    raise StacError(msg)


def _check_item(item: Any, base: str) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) \
            or not isinstance(item.get("assets"), dict):
        ident = item.get("id") if isinstance(item, dict) else None
        msg = f"STAC file {base}: item {ident!r} has no 'id' or no 'assets' object"
        raise StacError(msg)
    return item


def search_items(api: str, *, collections: Sequence[str], bbox: Sequence[float] | None = None,
                 intersects: Any = None, datetime: str | None = None,
                 max_cloud: float | None = None, max_items: int | None = None
                 ) -> list[dict[str, Any]]:
    """Items of a STAC API search (needs ``pystac-client``: ``pip install mlri[stac]``)."""
    try:
        from pystac_client import Client
    except ImportError:
        msg = ("searching a STAC API needs pystac-client: pip install 'mlri[stac]' (or save the "
               "search as an ItemCollection and pass the file)")
        raise StacError(msg) from None
    if not collections:
        msg = ("a STAC API search needs collections=... (--collection), e.g. landsat-c2-l2 "
               "(Planetary Computer, Earth Search) or landsat-c2l2-sr,landsat-c2l2-st (USGS)")
        raise StacError(msg)
    query = {"eo:cloud_cover": {"lte": float(max_cloud)}} if max_cloud is not None else None
    try:
        client = Client.open(api)
        search = client.search(collections=list(collections),
                               bbox=None if bbox is None else list(bbox),
                               intersects=intersects, datetime=datetime, query=query,
                               max_items=max_items)
        return list(search.items_as_dicts())
    except Exception as err:  # noqa: BLE001 - pystac-client raises many kinds
        msg = f"STAC API search at {api} failed: {err}"
        raise StacError(msg) from None


# --------------------------------------------------------------------------------- signing
def resolve_signer(sign: str | Callable[[str], str] | None) -> Callable[[str], str] | None:
    """A function href -> readable href: None, a callable, ``"planetary-computer"`` or the
    name of an entry point in the ``mlri.stac_signers`` group."""
    if sign is None or callable(sign):
        return sign
    if sign == "planetary-computer":
        try:
            import planetary_computer
        except ImportError:
            msg = ("sign='planetary-computer' needs the planetary-computer package: "
                   "pip install planetary-computer")
            raise StacError(msg) from None
        return planetary_computer.sign_url  # type: ignore[no-any-return]
    from importlib.metadata import entry_points

    eps = {ep.name: ep for ep in entry_points(group="mlri.stac_signers")}
    if sign in eps:
        return eps[sign].load()  # type: ignore[no-any-return]
    known = ", ".join(["planetary-computer", *sorted(eps)])
    msg = f"unknown URL signer {sign!r} (known: {known}; or pass a function href -> href)"
    raise StacError(msg)


# --------------------------------------------------------------------------------- items -> scenes
def _scene_key(item: dict[str, Any]) -> str:
    """Items of one scene share this key (USGS's SR and ST items, any catalog's one item)."""
    iid = _SUFFIX_RE.sub("", item["id"])
    m = PRODUCT_ID_RE.search(iid)
    if m:
        g = m.groupdict()
        return f"{g['sensor']}_{g['level']}_{g['path']}{g['row']}_{g['acq']}_{g['coll']}_{g['tier']}"
    m2 = _SHORT_RE.search(iid)
    return m2.group(0) if m2 else iid


def _asset_role(key: str, href: str, pid: str, family: str) -> str | None:
    role = ASSET_ROLES.get(key.lower())
    if role is not None:
        return role
    name = href.split("?", 1)[0].rsplit("/", 1)[-1]
    if name.startswith(pid + "_") and name.lower().endswith((".tif", ".tiff")):
        suffix = name[len(pid) + 1:].rsplit(".", 1)[0].upper()
        for r, suf in BAND_ROLES[family].items():
            if suf == suffix:
                return r
    return None


def _product_id(items: list[dict[str, Any]], hrefs: Iterable[str], key: str) -> str:
    for it in items:
        m = PRODUCT_ID_RE.search(it["id"])
        if m:
            return m.group(0)
    for it in items:
        v = it.get("properties", {}).get("landsat:product_id")
        if isinstance(v, str) and PRODUCT_ID_RE.search(v):
            return PRODUCT_ID_RE.search(v).group(0)  # type: ignore[union-attr]
    short = _SHORT_RE.search(key)
    for h in hrefs:
        m = PRODUCT_ID_RE.search(h.split("?", 1)[0].rsplit("/", 1)[-1])
        if m and (short is None or _scene_key({"id": m.group(0)}) == short.group(0)):
            return m.group(0)
    msg = ("no full Landsat product ID (with the processing date) in the item ID, the "
           "landsat:product_id property or the asset file names; mlri needs it to tell "
           "reprocessed products apart")
    raise SceneError(key, msg)


def _scale_of(asset: dict[str, Any]) -> tuple[float | None, float | None]:
    rb = asset.get("raster:bands")
    if isinstance(rb, list) and rb and isinstance(rb[0], dict):
        sc, of = rb[0].get("scale"), rb[0].get("offset")
        return (float(sc) if isinstance(sc, (int, float)) else None,
                float(of) if isinstance(of, (int, float)) else None)
    return None, None


def _crs_of(d: dict[str, Any]) -> Any:
    code = d.get("proj:code")
    if isinstance(code, str) and code:
        return code
    epsg = d.get("proj:epsg")
    if isinstance(epsg, int):
        return f"EPSG:{epsg}"
    return None


def _georef(props: dict[str, Any], asset: dict[str, Any]) -> Any:
    """(crs, transform, width, height) from the projection extension, or None."""
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    crs = _crs_of(asset) or _crs_of(props)
    shape = asset.get("proj:shape") or props.get("proj:shape")
    tr = asset.get("proj:transform") or props.get("proj:transform")
    if crs is None or not isinstance(shape, list) or not isinstance(tr, list) or len(tr) < 6:
        return None
    try:
        return (CRS.from_user_input(crs), Affine(*[float(v) for v in tr[:6]]), int(shape[1]),
                int(shape[0]))
    except Exception:  # noqa: BLE001 - unusable metadata: read the file header instead
        return None


def _scene_from_items(items: list[tuple[dict[str, Any], str]], key: str,
                      signer: Callable[[str], str] | None) -> Scene:
    raw = [it for it, _ in items]
    assets: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []  # key, href, asset, item
    for it, base in items:
        self_href = next((ln.get("href") for ln in it.get("links", [])
                          if isinstance(ln, dict) and ln.get("rel") == "self"), None)
        doc = self_href if isinstance(self_href, str) and "://" in self_href else base
        for k, a in it["assets"].items():
            if isinstance(a, dict) and isinstance(a.get("href"), str) and a["href"]:
                assets.append((k, _join(doc, a["href"]), a, it))
    pid_s = _product_id(raw, [h for _, h, _, _ in assets], key)
    try:
        pid = parse_product_id(pid_s)
        check_supported(pid)
    except LandsatFormatError as err:
        raise SceneError(pid_s, str(err).removeprefix(f"{pid_s}: ")) from None
    roles = BAND_ROLES[pid.family]
    files: dict[str, str] = {}
    record: dict[str, dict[str, str]] = {}
    props: dict[str, Any] = {}
    sr: dict[str, str] = {}
    st: dict[str, str] = {}
    for it in raw:
        props.update(it.get("properties") or {})
    for k, href, a, it in assets:
        role = _asset_role(k, href, pid_s, pid.family)
        if role is None or role not in roles or roles[role] in files:
            continue
        suffix = roles[role]
        files[suffix] = signer(href) if signer is not None else href
        record[suffix] = {"item": it["id"], "asset": k, "href": href}
        mult, add = _scale_of(a)
        if suffix.startswith("SR_B"):
            band = suffix[4:]
            if mult is not None:
                sr[f"REFLECTANCE_MULT_BAND_{band}"] = repr(mult)
            if add is not None:
                sr[f"REFLECTANCE_ADD_BAND_{band}"] = repr(add)
        elif suffix == pid.st_band:
            if mult is not None:
                st[f"TEMPERATURE_MULT_BAND_{suffix}"] = repr(mult)
            if add is not None:
                st[f"TEMPERATURE_ADD_BAND_{suffix}"] = repr(add)
    if not files:
        keys = sorted({k for k, *_ in assets})
        msg = (f"STAC item(s) {', '.join(it['id'] for it in raw)}: no Landsat band asset "
               f"among {keys or 'no assets'} (expected keys such as qa_pixel, red, nir08, blue, "
               f"{'lwir11' if pid.family == 'OLI' else 'lwir'})")
        raise SceneError(pid_s, msg)
    image: dict[str, str] = {}
    when = props.get("datetime")
    if isinstance(when, str):
        with contextlib.suppress(ValueError):
            image["DATE_ACQUIRED"] = _dt.datetime.fromisoformat(
                when.replace("Z", "+00:00")).astimezone(_dt.timezone.utc).date().isoformat()
    for prop, mkey in (("view:sun_elevation", "SUN_ELEVATION"),
                       ("eo:cloud_cover", "CLOUD_COVER")):
        if isinstance(props.get(prop), (int, float)):
            image[mkey] = repr(float(props[prop]))
    groups = {G_CONTENTS: {"LANDSAT_PRODUCT_ID": pid_s, "PROCESSING_LEVEL": pid.level,
                           "COLLECTION_NUMBER": f"{pid.collection:02d}",
                           "COLLECTION_CATEGORY": pid.tier},
              G_IMAGE: image, G_SR: sr, G_ST: st}
    ids = [it["id"] for it in raw]
    location = f"{items[0][1] or 'STAC'}#{ids[0]}" if len(ids) == 1 else \
        f"{items[0][1] or 'STAC'}#{'+'.join(ids)}"
    scene = Scene(pid=pid, location=location, files=files,
                  mtl=Mtl(groups, source=f"STAC item {ids[0]}"),
                  notes=[f"from STAC item(s) {', '.join(ids)}"],
                  stac={"items": ids, "assets": record})
    for role in ("qa", "red", "nir", "blue", "st"):
        suf = roles[role]
        if suf in record:
            a = next(a for k, h, a, it in assets if it["id"] == record[suf]["item"]
                     and k == record[suf]["asset"])
            scene._geo = _georef(props, a)
            break
    return scene


def discover_stac(source: str | os.PathLike[str] | dict[str, Any] | Sequence[Any] | None = None,
                  *, api: str | None = None, collections: Sequence[str] = (),
                  bbox: Sequence[float] | None = None, intersects: Any = None,
                  datetime: str | None = None, max_cloud: float | None = None,
                  max_items: int | None = None,
                  sign: str | Callable[[str], str] | None = None
                  ) -> tuple[list[Scene], list[SceneProblem]]:
    """Scenes from STAC, and the items that could not be used (with the reason).

    Parameters
    ----------
    source : path, URL, dict or list of them
        Saved ItemCollection / Item / static catalog (JSON file or URL), or an already loaded
        item / ItemCollection dict; several are merged.
    api, collections, bbox, intersects, datetime, max_items
        A STAC API search instead (``pystac-client``); ``bbox`` is lon/lat.
    max_cloud : float
        Keep items whose ``eo:cloud_cover`` is at most this (percent); also for ``source``.
    sign : None, callable or str
        URL signer applied to every asset href (``"planetary-computer"``, an entry point of
        the ``mlri.stac_signers`` group, or a function href -> href).  The manifest records
        the unsigned hrefs.
    """
    if (source is None) == (api is None):
        msg = "give exactly one of source= (a STAC file) and api= (a STAC API URL)"
        raise ValueError(msg)
    signer = resolve_signer(sign)
    loaded: list[tuple[dict[str, Any], str]] = []
    if api is not None:
        loaded = [(it, api) for it in search_items(
            api, collections=collections, bbox=bbox, intersects=intersects, datetime=datetime,
            max_cloud=max_cloud, max_items=max_items)]
    else:
        srcs: list[Any] = list(source) if isinstance(source, (list, tuple)) else [source]
        for s in srcs:
            loaded += load_items(s)
    problems: list[SceneProblem] = []
    groups: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for it, base in loaded:
        cc = (it.get("properties") or {}).get("eo:cloud_cover")
        if max_cloud is not None and isinstance(cc, (int, float)) and cc > max_cloud:
            continue
        if collections and it.get("collection") not in collections and api is None \
                and it.get("collection") is not None:
            continue
        groups.setdefault(_scene_key(it), []).append((it, base))
    scenes: list[Scene] = []
    seen: set[str] = set()
    for key, items in groups.items():
        where = items[0][1] or "STAC"
        try:
            sc = _scene_from_items(items, key, signer)
        except SceneError as err:
            problems.append(SceneProblem(err.scene, where, err.reason))
            continue
        if sc.id in seen:
            problems.append(SceneProblem(sc.id, where, "duplicate: listed twice in the catalog"))
            continue
        seen.add(sc.id)
        scenes.append(sc)
    scenes.sort(key=lambda s: (s.acquired, s.id))
    return scenes, problems


def scenes_from_stac(source: Any = None, *, on_error: str = "raise", **kw: Any) -> list[Scene]:
    """Scenes from a STAC file or API search (arguments of :func:`discover_stac`).

    ``on_error="raise"`` raises a :class:`SceneError` for the first unusable item (naming it);
    ``"skip"`` leaves such items out (use :func:`discover_stac` to get them listed).
    """
    if on_error not in ("raise", "skip"):
        msg = f"on_error must be 'raise' or 'skip', got {on_error!r}"
        raise ValueError(msg)
    scenes, problems = discover_stac(source, **kw)
    real = [p for p in problems if not p.reason.startswith("duplicate")]
    if real and on_error == "raise":
        more = f" (and {len(real) - 1} more)" if len(real) > 1 else ""
        raise SceneError(real[0].scene, real[0].reason + more)
    return scenes


def check_readable(scenes: Sequence[Scene], opts: Any) -> tuple[list[Scene], list[SceneProblem]]:
    """Open the header of every remote band file each scene needs for ``opts`` (a
    :class:`~mlri.landsat.CompositeOptions`): the scenes that can be read, and the others
    with a message naming the item, the asset, the URL and the fix (403 unsigned, 404
    missing, timeout).  Local files are not opened here."""
    import rasterio

    from .needs import roles_for
    from .qa import qa_rule

    ok: list[Scene] = []
    bad: list[SceneProblem] = []
    with cloud_env():
        for s in scenes:
            rule = qa_rule(opts.mask, s.family, mask_water=opts.mask_water,
                           mask_dilated=opts.mask_dilated)
            need, optional, _ = roles_for(s, opts, rule)
            why = None
            for role in [*need, *optional]:
                if not s.has(role):
                    continue
                suffix = s.roles()[role]
                path = s.files[suffix]
                if not is_url(path):
                    continue
                rec = (s.stac or {}).get("assets", {}).get(suffix, {})
                what = (f"item {rec['item']} asset {rec['asset']!r}" if rec
                        else f"scene {s.id} {suffix} ({role})")
                try:
                    with rasterio.open(path):
                        pass
                except rasterio.errors.RasterioIOError as err:
                    why = remote_error(err, rec.get("href", path), what)
                    break
            if why is None:
                ok.append(s)
            else:
                bad.append(SceneProblem(s.id, s.location, why))
    return ok, bad
