"""Multi-node training files (training/deploy/): the SLURM script and the Kubeflow PyTorchJob.

Neither SLURM nor Kubernetes runs on the development machines. Checked here:

- the sbatch script passes shellcheck and runs for real on one node: test doubles of ``srun`` and
  ``scontrol`` stand in for SLURM (one node: this machine); torchrun, its c10d rendezvous,
  ``translate train`` and ``--resume auto`` are the real ones. Its shared-storage guard refuses
  a dataset the nodes cannot see, before anything trains;
- the PyTorchJob (a custom resource, so no Kubernetes schema): the training operator's own
  validation rules, its pod templates against the core/v1 PodTemplate schema (kubernetes-validate,
  strict), the torchrun and ``translate train`` arguments against the real parsers once the
  operator's environment is substituted, and the run folder on a ReadWriteMany volume that every
  replica mounts.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from training.synthetic import make_paired
from translate.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
SBATCH = ROOT / "training" / "deploy" / "slurm" / "train.sbatch"
KUBEFLOW = ROOT / "training" / "deploy" / "kubeflow"
BIN = Path(sys.executable).parent
K8S_VERSIONS = ("1.30.0", "1.37.0")  # as in tests/serving/test_deploy.py

# A training run that takes seconds on a CPU (as in test_resume.py).
TINY_TRAIN = ["--device", "cpu", "--preset", "pix2pix-tiny", "--set", "netG=resnet_6blocks",
              "--set", "netG_kwargs={ngf: 4}", "--set", "load_size=36", "--set", "crop_size=32",
              "--set", "batch_size=2", "--set", "max_steps=2", "--set", "tensorboard=false"]

# Test doubles of SLURM's commands: one node, this machine. srun logs its call, drops its own
# options and runs the command once, as the single task of the single node.
FAKE_SRUN = """#!/bin/bash
echo "srun $*" >> "$FAKE_SRUN_LOG"
while [[ $# -gt 0 && $1 == --* ]]; do shift; done
SLURM_NODEID=0 SLURM_PROCID=0 SLURM_LOCALID=0 exec "$@"
"""
FAKE_SCONTROL = """#!/bin/bash
if [[ "$1 $2" == "show hostnames" ]]; then echo localhost; exit 0; fi
echo "scontrol test double: unsupported: $*" >&2; exit 1
"""


# ============================================================================= SLURM
def _tool(name: str) -> str:
    exe = BIN / name
    found = str(exe) if exe.exists() else shutil.which(name)
    assert found, f"{name} is missing: it is a dev dependency (pip install -e '.[dev]')"
    return found


def test_sbatch_script_passes_shellcheck():
    proc = subprocess.run([_tool("shellcheck"), "--severity=style", "--shell=bash", str(SBATCH)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sbatch_directives_start_one_torchrun_per_node_and_come_back_after_preemption():
    directives = dict(line[len("#SBATCH "):].split("=", 1) if "=" in line else (line[len("#SBATCH "):], "")
                      for line in SBATCH.read_text().splitlines() if line.startswith("#SBATCH "))
    assert directives["--ntasks-per-node"] == "1", "torchrun starts the per-GPU processes; one task per node"
    assert int(directives["--nodes"]) >= 2
    assert "--requeue" in directives
    assert re.fullmatch(r"TERM@\d+", directives["--signal"]), "SIGTERM before the time limit: the trainer saves"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sbatch(tmp_path: Path, args: list[str], job_id: str = "4242") -> tuple[subprocess.CompletedProcess, str]:
    """Run the script as sbatch would on a one-node allocation; returns (process, srun log)."""
    fake = tmp_path / "fake-slurm"
    fake.mkdir(exist_ok=True)
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    log = tmp_path / "srun.log"
    log.write_text("")
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "FAKE_SRUN_LOG": str(log), "SLURM_JOB_ID": job_id, "SLURM_JOB_NUM_NODES": "1",
           "SLURM_JOB_NODELIST": "localhost", "NPROC_PER_NODE": "1", "RDZV_PORT": str(_free_port()),
           "OMP_NUM_THREADS": "1"}
    env.pop("TRANSLATE_VENV", None)
    proc = subprocess.run(["bash", str(SBATCH), *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=240)
    return proc, log.read_text()


def test_sbatch_script_trains_through_torchrun_c10d_rendezvous(tmp_path):
    data = make_paired(tmp_path / "data", n=4, size=32)
    run = tmp_path / "run"
    proc, srun_log = _sbatch(tmp_path, ["pix2pix", "--data", str(data), "--out", str(run), *TINY_TRAIN])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (run / "checkpoints" / "step_00000002.pt").is_file()
    assert "--resume auto: no checkpoint" in proc.stdout  # the script adds --resume auto: requeues continue
    check, launch = srun_log.splitlines()
    assert "test -d" in check and str(data) in check and ".shared-storage-check-4242" in check
    assert not list(run.glob(".shared-storage-check-*")), "the marker is removed"
    torchrun = launch.split(" torchrun ", 1)[1].split()
    assert "--rdzv-backend=c10d" in torchrun and "--rdzv-id=4242" in torchrun
    assert any(a.startswith("--rdzv-endpoint=localhost:") for a in torchrun), "the first node of the job hosts it"
    assert torchrun[-2:] == ["--resume", "auto"]


def test_sbatch_script_refuses_storage_the_nodes_cannot_see(tmp_path):
    missing = tmp_path / "only-on-the-login-node"
    proc, srun_log = _sbatch(tmp_path, ["pix2pix", "--data", str(missing), "--out", str(tmp_path / "run"),
                                        *TINY_TRAIN])
    assert proc.returncode == 2
    assert "must be on storage that every node of the job sees" in proc.stderr
    assert "torchrun" not in srun_log, "nothing may train"
    assert not list((tmp_path / "run").glob(".shared-storage-check-*"))

    proc, _ = _sbatch(tmp_path, ["pix2pix", "--data", str(tmp_path)])
    assert proc.returncode == 2 and "--out is required" in proc.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    proc = subprocess.run(["bash", str(SBATCH), "pix2pix"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "run this script with sbatch" in proc.stderr


# ============================================================================= Kubeflow PyTorchJob
def _job() -> dict:
    (job,) = [d for d in yaml.safe_load_all((KUBEFLOW / "pytorchjob.yaml").read_text()) if d]
    return job


def _pytorch_container(template: dict) -> dict:
    return next(c for c in template["spec"]["containers"] if c["name"] == "pytorch")


def _operator_env(job: dict, replica: str, index: int) -> dict[str, str]:
    """What the training operator sets in a pod of a Master/Worker job (besides the container's env)."""
    specs = job["spec"]["pytorchReplicaSpecs"]
    master_port = next(p["containerPort"] for p in _pytorch_container(specs["Master"]["template"])["ports"]
                       if p["name"] == "pytorchjob-port")
    world = sum(s["replicas"] for s in specs.values())
    rank = index + (1 if replica == "Worker" else 0)
    return {"MASTER_ADDR": f"{job['metadata']['name']}-master-0", "MASTER_PORT": str(master_port),
            "WORLD_SIZE": str(world), "RANK": str(rank), "PYTHONUNBUFFERED": "0"}


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command/args; an unknown variable is a test failure."""
    def sub(m):
        assert m.group(1) in env, f"$({m.group(1)}) is set neither by the container nor by the operator"
        return env[m.group(1)]
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, value)


def test_pytorchjob_follows_the_training_operator_rules():
    """The checks of the operator's ValidateV1PyTorchJob and defaults this job relies on."""
    job = _job()
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", job["metadata"]["name"]), "a DNS-1035 label"
    spec = job["spec"]
    assert set(spec) <= {"runPolicy", "elasticPolicy", "pytorchReplicaSpecs", "nprocPerNode"}
    assert set(spec["runPolicy"]) <= {"backoffLimit", "cleanPodPolicy", "activeDeadlineSeconds",
                                      "ttlSecondsAfterFinished", "schedulingPolicy", "suspend", "managedBy"}
    replicas = spec["pytorchReplicaSpecs"]
    assert set(replicas) == {"Master", "Worker"}
    assert replicas["Master"]["replicas"] == 1, "exactly one Master"
    for name, rs in replicas.items():
        assert set(rs) <= {"replicas", "template", "restartPolicy"}, name
        assert rs["restartPolicy"] in {"Always", "OnFailure", "Never", "ExitCode"}
        container = _pytorch_container(rs["template"])  # the operator requires a container named pytorch
        assert all(c.get("image") for c in rs["template"]["spec"]["containers"])
        assert any(p["name"] == "pytorchjob-port" for p in container["ports"]), "MASTER_PORT comes from this port"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_pytorchjob_pod_templates_and_volume_validate(version):
    import kubernetes_validate as kv  # a dev dependency: a missing one fails here instead of skipping
    job = _job()
    for name, rs in job["spec"]["pytorchReplicaSpecs"].items():
        kv.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": f"{job['metadata']['name']}-"
                                                                                    f"{name.lower()}"},
                     "template": rs["template"]}, version, strict=True)
    for doc in yaml.safe_load_all((KUBEFLOW / "runs-pvc.yaml").read_text()):
        kv.validate(doc, version, strict=True)


@pytest.mark.parametrize("replica", ["Master", "Worker"])
def test_pytorchjob_command_parses_with_torchrun_and_translate(replica):
    from torch.distributed.run import get_args_parser

    job = _job()
    template = job["spec"]["pytorchReplicaSpecs"][replica]["template"]
    container = _pytorch_container(template)
    env = {**_operator_env(job, replica, 0), **{e["name"]: e["value"] for e in container.get("env", [])}}
    command = [_expand(a, env) for a in container["command"] + container["args"]]
    assert command[0] == "torchrun"
    run = get_args_parser().parse_args(command[1:])
    assert run.nnodes == env["WORLD_SIZE"], "one torchrun per pod: nodes = pods"
    assert run.rdzv_backend == "c10d"
    assert run.rdzv_endpoint == f"{job['metadata']['name']}-master-0:{env['MASTER_PORT']}"
    assert run.nproc_per_node == container["resources"]["limits"]["nvidia.com/gpu"], "one process per GPU"
    assert run.module and run.training_script == "translate.cli"
    train = build_parser().parse_args(run.training_script_args)
    assert train.command == "train" and train.resume == "auto", "restarted pods continue from the last checkpoint"
    # --data and --out on the shared ReadWriteMany claim, writable, mounted the same way in every replica
    (pvc,) = [d for d in yaml.safe_load_all((KUBEFLOW / "runs-pvc.yaml").read_text()) if d]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    for path in (train.data, train.out):
        mounts = [m for m in container["volumeMounts"] if Path(path).is_relative_to(m["mountPath"])]
        assert len(mounts) == 1, f"{path} is on no (or several) volumes"
        claim = volumes[mounts[0]["name"]].get("persistentVolumeClaim", {}).get("claimName")
        assert claim == pvc["metadata"]["name"], f"{path} must be on the shared claim, not {volumes[mounts[0]['name']]}"
        assert not mounts[0].get("readOnly", False)
