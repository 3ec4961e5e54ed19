"""Encrypted result storage against a plain copy, in one run: store ≈ cp + fsync, and memory stays flat.

Rounds alternate (cp + fsync, encrypt-and-store, decrypt) on the same source file so all three see the same
machine noise; medians are compared. The store drops what it wrote from the page cache, so "decrypt-to-file"
reads a cold ciphertext, as a later download would; "decrypt-stream" then decrypts the same file from a warm
cache without writing it, which is the AES-GCM segment pipeline alone. Peak RSS of a store and of a decrypt is measured in fresh child
processes for files of 64 MiB, 256 MiB and 1 GiB (made on the fly, never held in memory). The last line
prints the ratios (targets: store >= 0.8x of cp + fsync; peak RSS <= 64 MiB and flat).

    .venv/bin/python bench/storage.py [--size 1G] [--rounds 3] [--dir DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from cloudai_tasks.storage.file_store import FileStore, ResultLocation  # noqa: E402
from cloudai_tasks.storage.kek import Kek, format_kek_value, parse_kek_value  # noqa: E402
from cloudai_tasks.storage.user_keys import (  # noqa: E402
    UserPrivateKey,
    WrappedUserKey,
    generate_user_key,
    unwrap_user_key,
    wrap_user_key,
)

MIB = 1 << 20
LOCATION = ResultLocation("bench", "storage", "20250101T000000Z", "bench-task")
PERIOD = MIB + 4093


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    return int(text[:-1]) * units[text[-1]] if text[-1:] in units else int(text)


class Generated(io.RawIOBase):
    """``size`` pseudo-random bytes made on the fly; byte i is ``block[i % PERIOD]`` whatever the read sizes."""

    def __init__(self, size: int, block: bytes) -> None:
        self.size, self.pos, self.block = size, 0, block

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = min(len(b), self.size - self.pos, PERIOD)
        start = self.pos % PERIOD
        b[:n] = self.block[start : start + n]
        self.pos += n
        return n


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_source(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        shutil.copyfileobj(Generated(size, os.urandom(PERIOD) * 2), out, 4 * MIB)
        out.flush()
        os.fsync(out.fileno())


def child(mode: str, work: Path, size: int) -> None:
    """One store or one decrypt in a fresh process; prints its peak RSS. The bench key comes wrapped on stdin."""
    key = receive_key(sys.stdin.read())
    store = FileStore(work / "rss-root")
    relpath = f"rss-{size}.bin"
    if mode == "store":
        store.store(Generated(size, os.urandom(PERIOD) * 2), LOCATION, relpath, key.recipient)
    else:
        stored_key = "/".join((*LOCATION.parts(), relpath))
        from cloudai_tasks.storage.file_store import file_id_for

        target = work / f"rss-{size}.out"
        store.decrypt_to_path(stored_key, target, key, file_id=file_id_for(LOCATION, relpath))
        target.unlink()
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's own peak RSS (VmHWM); ru_maxrss would include the parent's peak inherited across exec."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def send_key(key: UserPrivateKey) -> str:
    """The throwaway bench key, wrapped under a throwaway KEK, for a child's stdin (never on its command line)."""
    kek = Kek.generate("bench")
    wrapped = wrap_user_key(key, kek)
    return json.dumps({"kek": format_kek_value([kek]), "version": wrapped.version, "kem": wrapped.kem,
                       "public": wrapped.public_bytes.hex(), "wrapped": wrapped.wrapped_private.hex()})


def receive_key(message: str) -> UserPrivateKey:
    m = json.loads(message)
    wrapped = WrappedUserKey("bench", m["version"], m["kem"], bytes.fromhex(m["public"]), "bench",
                             bytes.fromhex(m["wrapped"]))
    return unwrap_user_key(wrapped, parse_kek_value(m["kek"]))


def peak_rss(mode: str, work: Path, size: int, key: UserPrivateKey) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--dir", str(work), "--size", str(size)],
        input=send_key(key), capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout)["peak_rss_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="file size for the throughput rounds (default 1G)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where temporary files go (default: a temp dir)")
    parser.add_argument("--child", choices=["store", "decrypt"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = parse_size(args.size)
    if args.child:
        return child(args.child, args.dir, size)

    work = Path(tempfile.mkdtemp(prefix="cloudai-bench-storage-", dir=args.dir))
    try:
        run(work, size, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, size: int, rounds: int) -> None:
    key = generate_user_key("bench")
    src, copy, restored = work / "source.bin", work / "copy.bin", work / "restored.bin"
    make_source(src, size)
    store = FileStore(work / "root")
    times: dict[str, list[float]] = {"cp+fsync": [], "store": [], "store-digest-known": [], "decrypt-to-file": [],
                                     "decrypt-stream": []}
    # run_job's path: the sandbox hashed each output while collecting it, so the store does not hash again.
    digest = hashlib.sha256()
    with open(src, "rb") as fh:
        while chunk := fh.read(MIB):
            digest.update(chunk)
    known = digest.hexdigest()
    print(f"{size / MIB:.0f} MiB file, {rounds} rounds, in {work}")
    for i in range(rounds + 1):  # round 0 warms the page cache and the allocator, and is not counted
        t_cp = timed(lambda: (subprocess.run(["cp", str(src), str(copy)], check=True), fsync_path(copy)))
        stored = []
        t_store = timed(lambda: stored.append(store.store(src, LOCATION, "big.bin", key.recipient)))
        t_known = timed(lambda: stored.append(store.store(src, LOCATION, "big.bin", key.recipient, sha256=known)))
        if stored[0].sha256 != known:
            raise SystemExit("store computed a different digest: the benchmark measured nothing useful")
        t_dec = timed(lambda: store.decrypt_to_path(stored[0].key, restored, key, file_id=stored[0].file_id))
        t_stream = timed(lambda: sum(len(s) for s in store.iter_plaintext(stored[0].key, key, file_id=stored[0].file_id)))
        for path in (copy, restored, stored[0].path):
            path.unlink()
        if i:
            for name, t in zip(times, (t_cp, t_store, t_known, t_dec, t_stream)):
                times[name].append(t)
            print(f"round {i}: " + "  ".join(f"{n} {t:.2f}s" for n, t in
                                            zip(times, (t_cp, t_store, t_known, t_dec, t_stream))))
    med = {name: statistics.median(values) for name, values in times.items()}
    for name, t in med.items():
        print(f"median {name:16s} {t:6.2f} s  {size / t / 1e9:5.2f} GB/s")

    rss_sizes = [64 * MIB, 256 * MIB, 1024 * MIB]
    rss = {mode: [peak_rss(mode, work, n, key) for n in rss_sizes] for mode in ("store", "decrypt")}
    for mode, values in rss.items():
        print(f"peak RSS {mode:8s}" + "".join(f"  {n // MIB} MiB: {v:.1f} MiB" for n, v in zip(rss_sizes, values)))
    flat = max(max(v) - min(v) for v in rss.values())
    print(
        f"RATIOS store/cp+fsync {med['cp+fsync'] / med['store']:.2f}x hashing, "
        f"{med['cp+fsync'] / med['store-digest-known']:.2f}x with the digest from collection (run_job's path; "
        f"target >= 0.8x); "
        f"decrypt-to-file/cp+fsync {med['cp+fsync'] / med['decrypt-to-file']:.2f}x; "
        f"decrypt-stream {size / med['decrypt-stream'] / 1e9:.2f} GB/s; "
        f"peak RSS store {max(rss['store']):.0f} MiB, decrypt {max(rss['decrypt']):.0f} MiB "
        f"(target <= 64), growth 64 MiB -> 1 GiB {flat:.1f} MiB"
    )


if __name__ == "__main__":
    main()
