"""Convert the fork's MERL pose pickle into a plain JSON list of the same records.

    python -m har.tools.merl_pickle_to_json IN.pkl OUT.json

Loading a pickle can run code: do it once, on a file you trust, and point ``data=merl_pose`` at the JSON. numpy
values in the records are written as plain numbers and lists; the records are otherwise unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from har.data.formats.merl_pose import read_records


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def convert(src: str | Path, dst: str | Path) -> int:
    """Write the records of the pickle ``src`` to ``dst`` (atomically); returns the number of records."""
    records = read_records(src, allow_pickle=True)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(dst.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(records, default=_plain))
    tmp.replace(dst)
    return len(records)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="the fork's pickle (list of per-frame records)")
    parser.add_argument("dst", help="JSON file to write")
    args = parser.parse_args(argv)
    print(f"wrote {convert(args.src, args.dst)} records to {args.dst}")


if __name__ == "__main__":
    from har.run.cli import run_tool

    run_tool(main)
