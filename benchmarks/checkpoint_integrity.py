"""What checkpoint integrity costs on a real checkpoint: commit's sha256 pass, resume's checks.

    llmkit finetune textcls -o /tmp/minilm training.max_steps=2 training.save_strategy=steps \
        training.save_steps=2 training.eval_strategy=no training.load_best_model_at_end=false
    python benchmarks/checkpoint_integrity.py /tmp/minilm/checkpoint-2

Copies the checkpoint's files into fresh staging folders (freshly written, as Trainer leaves them) and
times, median of 3: the old commit pass (fsync only), the new one (sha256 while reading, then fsync), a
whole ``commit()``, the verification ``--resume`` does (``rejection()``) with the files in the page
cache and evicted from it, the safe pre-loads of every pickle and safetensors header, and, for
comparison, xxh3-128 over the same bytes (``xxhash`` comes with ``datasets``).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from llmkit.train.checkpoints import MARKER, _digest_and_fsync, _fsync_file, commit, rejection, unsafe_file


def _evict(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)


def _timed(action: Callable[[], object], before: Callable[[], object] = lambda: None, reps: int = 3) -> str:
    times = []
    for _ in range(reps):
        before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return f"median {statistics.median(times):.3f} s ({', '.join(f'{t:.3f}' for t in times)})"


def main(source: Path) -> None:
    files = [p for p in sorted(source.iterdir()) if p.is_file() and p.name != MARKER]
    total = sum(p.stat().st_size for p in files)
    print(f"{source}: {len(files)} files, {total / 1e6:.1f} MB; load average {os.getloadavg()[0]:.1f}")
    work = Path(tempfile.mkdtemp(prefix="llmkit-ckpt-bench-"))
    staging = work / ".llmkit-staging" / "checkpoint-1"

    def fresh() -> None:  # a newly written copy, dirty in the page cache as Trainer leaves it
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for path in files:
            shutil.copyfile(path, staging / path.name)

    def each_file(step: Callable[[Path], object]) -> Callable[[], None]:
        return lambda: [step(staging / path.name) for path in files]

    final = work / "checkpoint-1"
    print("old commit pass, fsync only:      ", _timed(each_file(_fsync_file), fresh))
    print("new commit pass, sha256 + fsync:  ", _timed(each_file(_digest_and_fsync), fresh))
    print("whole commit():                   ", _timed(lambda: commit(staging, final, 1, "h", 1), fresh))
    print("verify at --resume, warm cache:   ", _timed(lambda: rejection(final, 1)))
    print("verify at --resume, cold cache:   ", _timed(lambda: rejection(final, 1), lambda: _evict(final)))
    unsafe_file(final)  # imports torch and transformers once
    print("safe pre-loads (pickles, headers):", _timed(lambda: unsafe_file(final)))
    try:
        import xxhash
    except ImportError:
        xxhash = None
    if xxhash is not None:

        def xxh3() -> None:
            for path in files:
                digest = xxhash.xxh3_128()
                with (final / path.name).open("rb") as handle:
                    while block := handle.read(1 << 20):
                        digest.update(block)

        print("for comparison, xxh3-128, warm:   ", _timed(xxh3))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
