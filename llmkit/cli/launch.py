"""`--nproc N`: hand the run to torch's own launcher (``torch.distributed.run``, i.e. torchrun).

llmkit has no launcher of its own: ``llmkit finetune R --nproc 2`` runs exactly
``torchrun --standalone --nproc_per_node 2 -m llmkit finetune R`` (several machines: ``--nnodes``,
``--node-rank``, ``--master-addr``, ``--master-port``, a static rendezvous as torchrun documents).
torchrun stops every rank when one fails; this module turns its ``ChildFailedError`` into one line
that names the failed rank. Torch is imported only when a hand-off happens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from llmkit.errors import LlmkitError, UsageError


class RankFailedError(LlmkitError):
    """A worker of a multi-process run failed; torchrun stopped the others."""

    kind = "distributed run failed"

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Topology:
    """Processes per machine, machines, and how they find each other."""

    nproc: int | None = None
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None

    @property
    def requested(self) -> bool:
        """Whether the user asked for a hand-off at all."""
        return self.nproc is not None or self.nnodes > 1


def inside_launcher() -> bool:
    """Whether this process was started by torchrun/accelerate (they set LOCAL_RANK and WORLD_SIZE)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def launcher_args(topology: Topology) -> list[str]:
    """torchrun's own options for a topology."""
    if topology.nproc is not None and topology.nproc < 1:
        raise UsageError("--nproc: needs at least 1 process")
    if topology.nnodes < 1 or not 0 <= topology.node_rank < topology.nnodes:
        raise UsageError(f"--node-rank: must be between 0 and --nnodes - 1 ({topology.nnodes - 1})")
    args = ["--nproc_per_node", str(topology.nproc or 1)]
    if topology.nnodes == 1 and topology.master_addr is None:
        return [*args, "--standalone"]  # a free local port, nothing to configure
    if topology.master_addr is None:
        raise UsageError("--master-addr: several machines need the address of the node-rank 0 machine")
    args += ["--nnodes", str(topology.nnodes), "--node_rank", str(topology.node_rank)]
    args += ["--master_addr", topology.master_addr, "--master_port", str(topology.master_port or 29500)]
    return args


def handoff(topology: Topology, child_argv: list[str]) -> None:
    """Run ``python -m llmkit CHILD_ARGV`` under torchrun; raise RankFailedError naming the first failed rank."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args([*launcher_args(topology), "-m", "llmkit", *child_argv])
    try:
        run(args)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        code = failure.exitcode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        others = sorted(r for r in exc.failures if r != rank)
        also = f" (also failed: rank {', '.join(map(str, others))})" if others else ""
        raise RankFailedError(
            f"rank {rank} {how}{also}; torchrun stopped the other ranks. Its own message is above.",
            code if 0 < code < 256 else 1,
        ) from None
