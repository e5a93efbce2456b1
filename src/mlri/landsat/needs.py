"""What compositing needs from a scene: band roles per option set, and the checks that
``mlri scenes`` and :func:`mlri.landsat.write_composites` share (missing files, absurd MTL scale
factors), so a scene listed as usable is one the composite accepts."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .mtl import G_SR, G_ST
from .qa import QaRule, qa_rule
from .scene import Scene

if TYPE_CHECKING:
    from .composite import CompositeOptions

__all__ = ["roles_for", "scene_problem"]


def roles_for(scene: Scene, opts: CompositeOptions, rule: QaRule) -> tuple[list[str], list[str],
                                                                           bool]:
    """(required roles, optional roles present, lst_available)."""
    need: list[str] = []
    opt: list[str] = []
    if rule.needs_qa:
        need.append("qa")
    want_lst = "LST" in opts.variables
    lst_ok = want_lst and scene.pid.has_st
    if "EVI" in opts.variables or (lst_ok and opts.lst_method == "rte"
                                   and opts.emissivity == "sobrino2004"):
        need += ["blue", "red", "nir"] if "EVI" in opts.variables else ["red", "nir"]
    if lst_ok:
        if opts.lst_method == "st":
            need.append("st")
        else:
            need += ["trad", "urad", "drad", "atran"]
            if opts.emissivity == "usgs":
                need.append("emis")
        if opts.st_qa_max is not None:
            need.append("st_qa")
    if not rule.needs_qa:
        opt.append("qa")  # preset "none": QA_PIXEL (when present) still marks fill
    if rule.needs_radsat:
        opt.append("radsat")
    if rule.needs_aerosol and scene.family == "OLI":
        opt.append("aerosol")
    if rule.needs_opacity and scene.family != "OLI":
        opt.append("opacity")
    need = list(dict.fromkeys(need))
    return need, [r for r in opt if scene.has(r)], lst_ok


def scene_problem(scene: Scene, opts: CompositeOptions | None = None) -> str | None:
    """Why :func:`write_composites` with ``opts`` cannot use ``scene``, in one message (every
    missing band file at once, absurd MTL scale factors), or None when it can.

    ``mlri scenes`` reports exactly this per scene; :func:`write_composites` checks it for
    every selected scene before it creates any output.
    """
    if opts is None:
        from .composite import CompositeOptions

        opts = CompositeOptions()
    rule = qa_rule(opts.mask, scene.family, mask_water=opts.mask_water,
                   mask_dilated=opts.mask_dilated)
    need, _, lst_ok = roles_for(scene, opts, rule)
    missing = [r for r in need if not scene.has(r)]
    if missing:
        names = ", ".join(f"{scene.roles()[r]} ({r})" for r in missing)
        msg = f"missing band file(s) {names} in {scene.location}"
        only = _variable_without(scene, opts, rule, missing)
        if only is not None:
            msg += (f": the download is incomplete (download the scene again, or composite "
                    f"{only} only with variables=('{only}',) / --variables {only})")
        else:
            msg += ": the download is incomplete, download the scene again"
        return msg
    return _scale_problem(scene, opts, lst_ok)


def _variable_without(scene: Scene, opts: CompositeOptions, rule: QaRule,
                      missing: list[str]) -> str | None:
    """The one variable of ``opts`` that needs none of the ``missing`` roles (e.g. EVI when
    only the ST band is missing), or None: then no choice of variables helps (QA_PIXEL is
    needed by both), and only a new download does.  None also for ``pairing='greenest'``,
    which pairs the two variables."""
    from dataclasses import replace

    if len(opts.variables) < 2 or opts.pairing == "greenest":
        return None
    for var in opts.variables:
        alone = replace(opts, variables=(var,))
        if not set(missing) & set(roles_for(scene, alone, rule)[0]):
            return var
    return None


# Plausible ranges of the MTL scale factors (USGS C2: SR 2.75e-5 / -0.2, ST 0.00341802 / 149).
_SR_MULT_RANGE, _SR_ADD_RANGE = (1e-6, 1e-3), (-1.0, 1.0)
_ST_MULT_RANGE, _ST_ADD_RANGE = (1e-4, 0.1), (0.0, 400.0)


def _scale_problem(scene: Scene, opts: CompositeOptions, lst_ok: bool) -> str | None:
    """A message for MTL scale factors that would give all-NaN LST or a constant EVI: a
    value outside the plausible range, or present but not a finite number (a missing value
    falls back to the Collection 2 constant)."""
    mtl = scene.mtl
    if mtl is None:
        return None
    checks = []
    if "EVI" in opts.variables:
        for role in ("blue", "red", "nir"):
            band = scene.roles()[role][4:]
            checks += [(G_SR, f"REFLECTANCE_MULT_BAND_{band}", _SR_MULT_RANGE),
                       (G_SR, f"REFLECTANCE_ADD_BAND_{band}", _SR_ADD_RANGE)]
    if lst_ok and opts.lst_method == "st":
        st = scene.pid.st_band
        checks += [(G_ST, f"TEMPERATURE_MULT_BAND_{st}", _ST_MULT_RANGE),
                   (G_ST, f"TEMPERATURE_ADD_BAND_{st}", _ST_ADD_RANGE)]
    for group, key, (lo, hi) in checks:
        raw = mtl.get(group, key)
        if raw is None or raw.strip() == "":
            continue
        try:
            val = float(raw)
        except ValueError:
            val = math.nan
        if not (lo <= val <= hi):  # also catches NaN and inf
            shown = raw if len(raw) <= 24 else raw[:20] + f"... ({len(raw)} characters)"
            return (f"MTL scale factor {key} = {shown} is outside the plausible range "
                    f"[{lo:g}, {hi:g}] (Collection 2: SR 2.75e-05 / -0.2, ST 0.00341802 / "
                    f"149.0); it would give {'LST' if 'TEMP' in key else 'EVI'} values that "
                    f"are all NaN or constant. The MTL in {scene.location} is damaged: "
                    f"download the scene again")
    return None
