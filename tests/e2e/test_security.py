"""No credential leaks anywhere the operator writes; credentials go only where they may; TLS is verified."""

from __future__ import annotations

import base64
import json
import socket
import threading
import urllib.request
import uuid
from pathlib import Path

import pytest

from ccupgrade.simulator.control import SimulatorControl
from ccupgrade.testbed.controlplane import free_port
from ccupgrade.testbed.pki import create_ca, issue_serving_pair
from ccupgrade.testbed.services import start_simulator
from tests.e2e.conftest import Env

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def _forms(secret: str) -> list[str]:
    return [secret, base64.b64encode(secret.encode()).decode()]


def test_canary_credentials_appear_nowhere(env: Env) -> None:
    tag = uuid.uuid4().hex[:10]
    ak, sk, security = f"CANARYAK{tag.upper()}", f"canary-sk-{tag}", f"canary-st-{tag}"
    user, password, token = f"canary-user-{tag}", f"canary-pw-{tag}", f"canary-token-{tag}"
    wrong = f"canary-wrong-{tag}"
    env.control.credentials(
        accessKeys=[{"accessKey": ak, "secretKey": sk, "securityToken": security}],
        users=[{"username": user, "password": password, "domainName": "dom"}],
        tokens=[token],
    )
    env.load()
    env.control.time(env.project, env.cluster, set=31)
    env.create_secret("aksk", accessKey=ak, secretKey=sk, securityToken=security)
    env.create_secret("password", username=user, password=password, domainName="dom")
    env.create_secret("token", token=token)
    env.create_secret("wrong", accessKey=ak, secretKey=wrong, securityToken=security)
    operator = env.start_operator()  # at DEBUG level
    for name in ("aksk", "password", "token"):
        env.create_upgrade(name, credentialsSecretRef={"name": name})
        env.wait_condition("Reconciling", "True", "UpgradeInProgress", name=name)
    env.create_upgrade("wrong", credentialsSecretRef={"name": "wrong"})
    env.wait_condition("Stalled", "True", "AuthenticationFailed", name="wrong")
    for name in ("aksk", "password", "token", "wrong"):  # what is checked below must be there
        env.wait_events(bool, name, what=f"{name}'s Events")

    produced = {
        "log": operator.log_text(),
        "events": json.dumps(env.events("aksk") + env.events("password") + env.events("token") + env.events("wrong")),
        "status": json.dumps([env.get(n) for n in ("aksk", "password", "token", "wrong")]),
        "metrics": urllib.request.urlopen(f"{operator.url}/metrics", timeout=5).read().decode(),
    }
    assert "DEBUG" in produced["log"]
    for secret in (sk, security, password, token, wrong):
        for form in _forms(secret):
            hits = [where for where, text in produced.items() if form in text]
            assert hits == [], f"a credential leaked into {hits}"


def test_credentials_go_only_to_allowed_endpoints(env: Env) -> None:
    sim_port = env.simulator_url.rsplit(":", 1)[1]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.5)
    connections: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                connections.append(conn.recv(65536))
                conn.close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        env.load()
        env.create_secret()
        env.start_operator("--allowed-endpoints", f"http://127.0.0.1:{sim_port}")
        env.create_upgrade("elsewhere", endpoint=f"http://127.0.0.1:{listener.getsockname()[1]}")
        status = env.wait_condition("Stalled", "True", "EndpointNotAllowed", name="elsewhere")
        message = next(c for c in status["conditions"] if c["type"] == "Ready")["message"]
        assert "not on the operator's allow-list" in message
        env.create_upgrade("allowed")
        env.wait_condition("Ready", "False", "UpgradeInitializing", name="allowed")
        assert connections == []
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_secret_is_read_only_from_the_objects_namespace(env: Env) -> None:
    elsewhere = f"other-{uuid.uuid4().hex[:8]}"
    env.kube.core.create_namespace({"metadata": {"name": elsewhere}})
    env.kube.core.create_namespaced_secret(
        elsewhere, {"metadata": {"name": "cce-credentials"}, "stringData": {"accessKey": "A", "secretKey": "B"}}
    )
    env.load()
    env.start_operator()
    env.create_upgrade()
    status = env.wait_condition("Stalled", "True", "SecretNotFound")
    assert f"namespace '{env.namespace}'" in next(c for c in status["conditions"] if c["type"] == "Ready")["message"]


def test_tls_is_verified_and_a_custom_ca_bundle_works(env: Env, tmp_path: Path) -> None:
    ca_cert, ca_key = create_ca(tmp_path, "simulator-test-ca")
    issue_serving_pair(ca_cert, ca_key, ["127.0.0.1", "localhost"], tmp_path / "tls.crt", tmp_path / "tls.key")
    port = free_port()
    tls = ["--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key"), "--aksk", "TLSAK:tls-sk"]
    https = start_simulator(tmp_path, port, tls, scheme="https", ca_file=ca_cert)
    try:
        control = SimulatorControl(https.url, ca_file=str(ca_cert))
        control.load(env.project, env.cluster, "standard", paused=True)
        env.create_secret(accessKey="TLSAK", secretKey="tls-sk")
        untrusting = env.start_operator("--allowed-endpoints", "https://127.0.0.1:*", "--cce-timeout", "2")
        env.create_upgrade(endpoint=https.url)
        status = env.wait_condition("Ready", "Unknown", "CloudAPIUnavailable", timeout=60)
        assert "TLS verification" in next(c for c in status["conditions"] if c["type"] == "Ready")["message"]
        untrusting.stop()
        env.start_operator("--allowed-endpoints", "https://127.0.0.1:*", "--ca-bundle", str(ca_cert))
        env.wait_condition("Ready", "False", "UpgradeInitializing", timeout=60)
    finally:
        https.stop()
