"""Bounded mutational fuzzing of the image-loading and contract-parsing paths (no TensorFlow).

    python scripts/fuzz.py [--seconds 60] [--data DIR] [--seed 0]

Mutates real PNG/JPEG/BMP bytes and a real shipped model (bit flips, byte overwrites, truncation,
splices, huge-dimension headers) and feeds them to edge_runtime.images.decode + preprocess, and to
the flatbuffer/contract readers. A finding is any exception other than our named errors, or a
call slower than 2 s. Prints counts; exits 1 on findings.
"""

import argparse
import os
import random
import struct
import time
import traceback
from collections import Counter
from pathlib import Path

import cv2

from edge_runtime import images
from edge_runtime.contract import InputSpec, read_contract
from edge_runtime.errors import CaptchaEdgeError
from edge_runtime.flatbuf import has_per_channel_fully_connected
from edge_runtime.preprocess import prepare
from edge_runtime.registry import shipped_models
from _paths import default_data

SPEC = InputSpec(50, 200)


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0 and b:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1 and b:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 2:
        b = b[: rng.randrange(len(b) + 1)]
    elif kind == 3 and len(b) > 4:
        i, j = sorted(rng.sample(range(len(b)), 2))
        b = b[:i] + b[j:] + b[i:j]
    elif kind == 4 and len(b) > 24 and b[:8] == images.PNG_SIGNATURE:
        b[16:24] = struct.pack(">II", rng.choice([0, 1, 65535, 2**31 - 1]), rng.choice([0, 7, 65535, 2**31 - 1]))
    else:
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = os.urandom(rng.randint(1, 64))
    return bytes(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default=None, help="Folder to save findings' inputs in.")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    src = sorted(Path(args.data).glob("*.png"))[:20]
    gray = cv2.imread(str(src[0]), cv2.IMREAD_GRAYSCALE)
    seeds_img = [p.read_bytes() for p in src] + [cv2.imencode(e, gray)[1].tobytes() for e in (".jpg", ".bmp", ".webp", ".tiff")]
    seeds_model = [p.read_bytes() for p in shipped_models().values()]
    outcomes: Counter = Counter()
    findings = []
    end = time.monotonic() + args.seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        target = "model" if n % 4 == 0 else "image"
        data = mutate(rng.choice(seeds_model if target == "model" else seeds_img), rng)
        t0 = time.monotonic()
        try:
            if target == "image":
                prepare(images.decode(data), SPEC)
            else:
                has_per_channel_fully_connected(data)
                read_contract(data)
            outcomes[f"{target}: accepted"] += 1
        except CaptchaEdgeError as exc:
            outcomes[f"{target}: {type(exc).__name__}"] += 1
        except Exception:  # a finding
            outcomes[f"{target}: FINDING"] += 1
            findings.append(traceback.format_exc(limit=3))
        if time.monotonic() - t0 > 2:
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                (Path(args.save) / f"slow-{n}.bin").write_bytes(data)
            findings.append(f"slow {target} input: {time.monotonic() - t0:.1f} s, {len(data)} bytes starting "
                            f"{data[:4]!r}, header size {images.header_size(data)}")
    print(f"{n} inputs in {args.seconds:.0f} s ({n / args.seconds:.0f}/s)")
    for k, v in sorted(outcomes.items()):
        print(f"  {k:32} {v}")
    print(f"findings: {len(findings)}")
    for f in findings[:5]:
        print(f)
    raise SystemExit(1 if findings else 0)


if __name__ == "__main__":
    main()
