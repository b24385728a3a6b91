#!/usr/bin/env python3
"""Regenerates the cbor2 interop files that tests/codec_cbor2.rs checks.

    pip install cbor2==6.1.4
    python3 crates/cache-core/tests/data/cbor2/regenerate.py

1. written-by-cbor2/<name>.cbor and <name>.canonical.cbor: Python values as
   cbor2 writes them (default and canonical mode). The Rust test decodes each
   into the matching Rust type and compares with the value it expects.
2. read-by-cbor2/<name>.cbor: every file of the codec's corpus
   (../codec-corpus, written by our encoder, which the corpus test keeps
   byte for byte) decoded by cbor2 and written again by cbor2. This fails
   here if cbor2 cannot read one of our files; the Rust test then checks that
   what cbor2 understood is the value we wrote.
"""

import datetime
import decimal
import math
import pathlib
import sys

import cbor2

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE.parent / "codec-corpus"

PROFILE = {
    "id": 4815162342,
    "name": "Ada Lovelace",
    "email": "ada.lovelace@example.com",
    "tags": ["admin", "beta-tester", "early-adopter", "eu-west", "newsletter"],
    "location": {"latitude": 51.507351, "longitude": -0.127758, "accuracy_m": 12.5},
    "verified": True,
    "nickname": "Countess",
}

# name -> value; the Rust test knows the type and the expected value of each.
WRITTEN = {
    "profile": PROFILE,
    "profile_without_nickname": {**PROFILE, "nickname": None},
    "unsigned": [0, 23, 24, 255, 256, 65535, 65536, 2**32, 2**64 - 1],
    "signed": [-1, -24, -25, -256, -257, -(2**63), 2**63 - 1],
    "bignum_positive": 2**64,
    "bignum_negative": -(2**64) - 1,
    "negative_2e64": -(2**64),
    "floats": [0.0, -0.0, 1.1, 1.5, 12.5, 65504.0, 1.0e300, -4.1, math.inf, -math.inf],
    "nan": math.nan,
    "text": "Zoë Ångström — 東京 🚀",
    "long_text": "x" * 100_000,
    "bytes": bytes(range(256)) * 20,
    "nested_lists": [[], [1], [2, 3]],
    "string_map": {"a": 1, "b": -2, "": 0},
    "integer_map": {0: "zero", 300: "three hundred"},
    "null": None,
    "undefined": cbor2.undefined,
    "true": True,
    "tuple": (1, "two"),
    "set": {1, 2, 3},
    "datetime": datetime.datetime(2013, 3, 21, 20, 4, 0, tzinfo=datetime.timezone.utc),
    "decimal": decimal.Decimal("273.15"),
    "enum_unit": "Unit",
    "enum_struct": {"Struct": {"seats": 3, "note": None}},
    "enum_newtype": {"Newtype": 42},
}


def main():
    written = HERE / "written-by-cbor2"
    read = HERE / "read-by-cbor2"
    for directory in (written, read):
        directory.mkdir(exist_ok=True)
        for old in directory.glob("*.cbor"):
            old.unlink()
    for name, value in WRITTEN.items():
        (written / f"{name}.cbor").write_bytes(cbor2.dumps(value))
        (written / f"{name}.canonical.cbor").write_bytes(cbor2.dumps(value, canonical=True))
    count = 0
    for path in sorted(CORPUS.glob("*.cbor")):
        value = cbor2.loads(path.read_bytes())
        (read / path.name).write_bytes(cbor2.dumps(value))
        count += 1
    print(f"cbor2 {cbor2.__version__ if hasattr(cbor2, '__version__') else ''}: "
          f"wrote {2 * len(WRITTEN)} files, read and rewrote {count} corpus files", file=sys.stderr)


if __name__ == "__main__":
    main()
