"""The --nproc hand-off: torchrun's options for a topology, and the command line the workers get."""

from pathlib import Path

import pytest

from llmkit.cli.commands.train import worker_argv
from llmkit.cli.invocations import TrainInvocation
from llmkit.cli.launch import Topology, inside_launcher, launcher_args
from llmkit.errors import UsageError


def test_one_machine_uses_a_standalone_rendezvous():
    assert launcher_args(Topology(nproc=2)) == ["--nproc_per_node", "2", "--standalone"]


def test_several_machines_use_torchruns_static_options():
    args = launcher_args(Topology(nproc=8, nnodes=2, node_rank=1, master_addr="10.0.0.1"))
    assert args == [
        "--nproc_per_node", "8", "--nnodes", "2", "--node_rank", "1",
        "--master_addr", "10.0.0.1", "--master_port", "29500",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("topology", "message"),
    [
        (Topology(nproc=0), "--nproc"),
        (Topology(nproc=2, nnodes=2, node_rank=2, master_addr="h"), "--node-rank"),
        (Topology(nproc=2, nnodes=2), "--master-addr"),
    ],
)
def test_impossible_topologies_are_usage_errors(topology, message):
    with pytest.raises(UsageError, match=message):
        launcher_args(topology)


def test_workers_get_the_same_command_without_launch_options():
    invocation = TrainInvocation(
        output_dir=Path("runs/x"), from_run=Path("runs/old"), resume=True, allow_config_change=True,
        dry_run=True, verbose=True, topology=Topology(nproc=2),
    )  # fmt: skip
    argv = worker_argv("finetune", "textcls", ["training.seed=3"], invocation)
    assert argv == [
        "finetune", "textcls", "training.seed=3", "--output-dir", "runs/x",
        "--resume", "--allow-config-change", "--verbose",
    ]  # fmt: skip


def test_inside_launcher_reads_what_torchrun_sets(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert not inside_launcher()
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert inside_launcher()
