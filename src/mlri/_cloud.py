"""Rasters by URL: what counts as remote, the GDAL settings for remote COGs, and error messages.

One home for reading cloud-optimised GeoTIFFs over HTTP(S) or object storage: every reader
(``mlri run`` inputs, :func:`mlri.xarray.open_stack`, Landsat scenes from STAC) recognises a
remote path with :func:`is_url` and reads inside :func:`cloud_env`.
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["REMOTE_GDAL_OPTIONS", "cloud_env", "is_url", "remote_error", "remote_options"]

_SCHEMES = ("http://", "https://", "s3://", "gs://", "gcs://", "az://", "azure://", "oss://",
            "file://")

#: GDAL settings for remote COGs (an environment variable of the same name wins).
REMOTE_GDAL_OPTIONS: dict[str, str] = {
    # no directory listing to find side-car files (one request per open instead of several)
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # adjacent tiles in one request; several ranges per request where the server allows it
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIRANGE": "YES",
    # transient failures (429, 5xx, resets) retried with back-off; a stuck server times out
    "GDAL_HTTP_MAX_RETRY": "4",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "20",
    # blocks read once per open file (headers and tiles shared by neighbouring strips)
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(4 * 2**20),
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.TIFF,.vrt,.json,.txt,.xml",
}


def is_url(path: Any) -> bool:
    """True for a URL (``https://``, ``s3://``, ``gs://``...) or a GDAL ``/vsi...`` path
    other than ``/vsitar/`` of a local file, i.e. bytes that are not read from local disk."""
    try:
        s = os.fspath(path)
    except TypeError:
        return False
    if not isinstance(s, str):
        return False
    low = s.lower()
    if low.startswith(("/vsitar/", "/vsizip/", "/vsigzip/", "/vsi7z/", "/vsirar/")):
        inner = s.split("/", 2)[2].lstrip("/")  # /vsitar//vsicurl/... or /vsitar/vsicurl/...
        return is_url("/" + inner if inner.lower().startswith("vsi") else inner)
    if low.startswith("/vsi"):
        return not low.startswith(("/vsimem/", "/vsistdin", "/vsistdout", "/vsisubfile/"))
    return low.startswith(_SCHEMES) and not low.startswith("file://")


def remote_options(paths: Any) -> dict[str, str]:
    """:data:`REMOTE_GDAL_OPTIONS` (minus those set in the environment) when any of ``paths``
    is remote, else ``{}``: ``rasterio.Env(..., **remote_options(paths))``."""
    if not any(is_url(p) for p in paths):
        return {}
    return {k: v for k, v in REMOTE_GDAL_OPTIONS.items() if k not in os.environ}


def cloud_env(**overrides: Any) -> Any:
    """A ``rasterio.Env`` with :data:`REMOTE_GDAL_OPTIONS` (environment variables win)."""
    import rasterio

    opts = {k: v for k, v in REMOTE_GDAL_OPTIONS.items() if k not in os.environ}
    opts.update(overrides)
    return rasterio.Env(**opts)


_HTTP_RE = re.compile(r"HTTP (?:response )?code[: =]*(\d{3})", re.IGNORECASE)


def remote_error(err: BaseException | str, url: str, what: str = "") -> str:
    """A one-line explanation of a failed remote read, with the fix.

    ``what`` names the item/asset (e.g. ``"item LC08_... asset red"``).
    """
    text = str(err)
    m = _HTTP_RE.search(text)
    code = int(m.group(1)) if m else None
    head = f"{what} ({url})" if what else url
    if code in (401, 403) or "access denied" in text.lower() or "forbidden" in text.lower():
        return (f"{head}: access denied (HTTP {code or 403}). The URL is probably unsigned or its "
                f"signature expired: sign the hrefs (e.g. sign='planetary-computer' / --sign "
                f"planetary-computer) or set the credentials GDAL uses for this store "
                f"(AWS_*, GS_*, AZURE_*)")
    if code == 404 or "not found" in text.lower() or "does not exist" in text.lower():
        return (f"{head}: not found (HTTP 404). The catalog points at a file that is not "
                f"there: search the catalog again, or fix the href")
    if "timed out" in text.lower() or "timeout" in text.lower():
        return (f"{head}: the server did not answer in time. Retry later, or raise "
                f"GDAL_HTTP_TIMEOUT / GDAL_HTTP_MAX_RETRY in the environment")
    if code is not None:
        return f"{head}: HTTP {code} from the server ({text})"
    return f"{head}: cannot read ({text})"
