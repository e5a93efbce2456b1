#!/usr/bin/env python
"""Vectorisation evidence for the trend kernels: instruction mix per function and SIMD target.

    python bench/vec_report.py [BUILD_DIR]        (default: build/dev, the editable build)

Disassembles each target's kernels_target.cpp.o (objdump -d) and, for the hot functions of the
trend fast path, counts instructions using zmm / ymm registers and packed vs scalar double
arithmetic.  A vectorised kernel shows packed (…pd) arithmetic on the target's widest registers
and (almost) no scalar (…sd) arithmetic.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

FUNCS = [
    ("Sen median network (19 rows)", r"net::median_pairs_19<"),
    ("sort of 19 values", r"net::sort_19<"),
    ("finish<19> (ties, MK/Sen outputs, Hurst)", r"fastpath::finish<19>"),
    ("load<19, float> (listwise deletion)", r"fastpath::load<19, float>"),
    ("pads_and_g<19>", r"fastpath::pads_and_g<19>"),
    ("generic path block (T > 19)", r"trend_block_generic<16, float>"),
]
ARITH = r"(min|max|add|sub|mul|div|sqrt)"


def functions(obj: Path) -> dict[str, list[str]]:
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", str(obj)],
                         capture_output=True, text=True, check=True).stdout
    funcs: dict[str, list[str]] = {}
    name = None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            name = m.group(1)
            funcs[name] = []
        elif name and re.match(r"^\s+[0-9a-f]+:\s", line):
            funcs[name].append(line)
    return funcs


def main() -> int:
    build = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "build" / "dev"
    objs = sorted(build.glob("CMakeFiles/mlri_kernels_*.dir/cpp/src/kernels_target.cpp.o"))
    if not objs:
        print(f"no kernel objects under {build} (build first)")
        return 1
    for obj in objs:
        target = obj.parent.parent.parent.name.removeprefix("mlri_kernels_").removesuffix(".dir")
        funcs = functions(obj)
        print(f"== {target}")
        for label, pat in FUNCS:
            body = [ln for name, lines in funcs.items() if re.search(pat, name) for ln in lines]
            if not body:
                continue
            n = len(body)
            z = sum("%zmm" in ln for ln in body)
            y = sum("%ymm" in ln for ln in body)
            pd = sum(bool(re.search(rf"\sv?{ARITH}pd\s", ln)) for ln in body)
            sd = sum(bool(re.search(rf"\sv?{ARITH}sd\s", ln)) for ln in body)
            print(f"  {label:44s} {n:6d} insns  zmm {z:5d}  ymm {y:5d}  "
                  f"packed-double arith {pd:5d}  scalar-double arith {sd:4d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
