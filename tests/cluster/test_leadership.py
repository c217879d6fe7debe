"""Leader election survives an API server it cannot reach yet (a Pod that starts before its node's
Service rules exist): it must keep trying, not die and leave a replica that can never lead."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading

import pytest
from kubernetes import client, config

from ccupgrade.kube.leadership import Leadership, LeaseConfig
from tests.support.blackhole import BlackHole
from tests.support.kube import Kube

pytestmark = pytest.mark.cluster


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _forward(target_port: int, listen: socket.socket) -> asyncio.Server:
    """A TCP forwarder to the API server, opened late on an already reserved port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    return await asyncio.start_server(handle, sock=listen)


async def test_election_keeps_trying_until_the_api_server_answers(kube: Kube, namespace: str) -> None:
    if kube.control_plane is None:
        pytest.skip("needs the local control plane's address")
    listen = socket.socket()
    listen.bind(("127.0.0.1", 0))  # reserved, but nothing accepts yet: connections are refused
    port = listen.getsockname()[1]
    api = config.new_client_from_config(str(kube.kubeconfig))
    api.configuration.host = f"https://127.0.0.1:{port}"
    api.configuration.retries = 0
    failed = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "cannot reach the API server" in record.getMessage():
                failed.set()

    logging.getLogger("ccupgrade.leadership").addHandler(handler := Seen())
    leadership = Leadership(api, LeaseConfig(namespace, lease_duration=4, renew_deadline=3, retry_period=1))
    leadership.start()
    server = None
    try:
        assert await asyncio.to_thread(failed.wait, 30), "no failed attempt was logged"
        listen.listen()
        server = await _forward(kube.control_plane.apiserver_port, listen)
        async with asyncio.timeout(30):
            await leadership.leading.wait()
        lease = client.CoordinationV1Api(kube.api).read_namespaced_lease("cce-upgrade-operator", namespace)
        assert lease.spec is not None
        assert lease.spec.holder_identity == leadership.identity
    finally:
        if server is not None:
            server.close()
        listen.close()
        logging.getLogger("ccupgrade.leadership").removeHandler(handler)
        api.close()


async def test_a_leader_whose_lease_requests_hang_stops_before_a_standby_takes_over(kube: Kube, namespace: str) -> None:
    """Two replicas, the leader's Lease API accepting and never answering: the leader must be
    stopped (`lost`) before the standby leads, or both would write."""
    if kube.control_plane is None:
        pytest.skip("needs the local control plane's address")
    hole = BlackHole(kube.control_plane.apiserver_port)
    through_hole = config.new_client_from_config(str(kube.kubeconfig))
    through_hole.configuration.host = f"https://127.0.0.1:{hole.port}"
    direct = config.new_client_from_config(str(kube.kubeconfig))
    settings = LeaseConfig(namespace, lease_duration=4, renew_deadline=3, retry_period=1)
    leader = Leadership(through_hole, settings)
    leader.start()
    try:
        async with asyncio.timeout(30):
            await leader.leading.wait()
        standby = Leadership(direct, settings)
        standby.start()
        await asyncio.sleep(0)
        hole.swallow.set()
        async with asyncio.timeout(30):
            await standby.leading.wait()
        assert leader.lost.is_set(), "the standby leads while the old leader still leads: two writers"
        await leader.release()  # lost: nothing to release, and nothing waits on the hanging requests
        await standby.release()
    finally:
        hole.close()
        through_hole.close()
        direct.close()
