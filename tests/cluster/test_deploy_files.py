"""The deploy files agree with the worker: grace periods, probe paths, and settings the worker accepts.

Nothing here runs Kubernetes or Docker (test_cluster_rollouts.py builds the image and runs a worker from it);
these checks catch the drift that would otherwise only show in production: a SIGKILL before the drain ends, a
probe on a file the worker never writes, a setting the worker refuses at start, a file the image build leaves out.
"""

from __future__ import annotations

import re
from pathlib import Path

from workers.settings import Settings
from workers.tuning import WorkerTuning

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _configmap(text: str) -> dict[str, str]:
    data = text.split("data:", 1)[1].split("---", 1)[0]
    return dict(re.findall(r'^  ([A-Z_]+): "([^"]*)"', data, flags=re.MULTILINE))


def test_kubernetes_grace_period_outlasts_the_worker_drain_and_probes_match_the_worker() -> None:
    text = (DEPLOY / "kubernetes.yaml").read_text()
    env = _configmap(text)
    policy = env.pop("ROLLOUTS_POLICY_PATH")  # a path inside the pod: checked against the mounts below
    assert f"mountPath: {policy}, readOnly: true" in text, "the operators' policy is mounted where the worker reads it"
    assert "ROLLOUTS_LAB_MODE" not in env, "a cluster worker never runs a spec's own router"
    assert "target registry" in text, "the manifest says the mounted policy holds the targets"
    settings, tuning = Settings.from_env(env), WorkerTuning.from_env(env)
    grace = int(re.search(r"terminationGracePeriodSeconds: (\d+)", text).group(1))  # type: ignore[union-attr]
    assert grace > settings.graceful_shutdown.total_seconds() + 5
    assert tuning.ready_file is not None and f'"test", "-f", "{tuning.ready_file}"' in text
    assert tuning.metrics_bind is not None and f"containerPort: {tuning.metrics_bind.rsplit(':', 1)[1]}" in text
    assert settings.tls, "a real cluster is reached over TLS"


def test_the_image_defaults_are_settings_the_worker_accepts() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    env = dict(re.findall(r"(WORKER_[A-Z_]+)=(\S+)", text))
    tuning = WorkerTuning.from_env(env)
    assert tuning.metrics_bind == "0.0.0.0:9464" and "EXPOSE 9464" in text
    assert tuning.ready_file is not None
    assert 'ENTRYPOINT ["python", "-m", "workers"]' in text


def test_the_image_build_sends_every_file_the_dockerfile_copies() -> None:
    """scripts/build_worker_image.sh sends a context of named files only: a new COPY must be added there too."""
    copied = re.findall(r"^COPY (.+) \S+$", (DEPLOY / "Dockerfile").read_text(), flags=re.MULTILINE)
    sources = {path.rstrip("/") for line in copied for path in line.split()}
    script = (DEPLOY.parent / "scripts" / "build_worker_image.sh").read_text()
    context = set(script.split("tar -c --exclude=__pycache__", 1)[1].split("|", 1)[0].replace("\\", " ").split())
    assert sources and sources <= context, sorted(sources - context)
