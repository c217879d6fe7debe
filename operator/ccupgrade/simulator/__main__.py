"""`python -m ccupgrade.simulator serve|bench|scenarios`: the CCE simulator from the command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from ccupgrade.simulator.app import Simulator, create_app
from ccupgrade.simulator.gatekeeper import AccessKeyEntry, CredentialsDocument, UserEntry
from ccupgrade.simulator.scenario import load_scenario, shipped_scenarios


async def serve(args: argparse.Namespace) -> None:
    simulator = Simulator()
    document = CredentialsDocument(
        access_keys=[AccessKeyEntry(access_key=ak, secret_key=sk) for ak, sk in (p.split(":", 1) for p in args.aksk)],
        users=[UserEntry(username=u, password=p, domain_name=d) for u, p, d in (x.split(":", 2) for x in args.user)],
        tokens=list(args.token),
    )
    simulator.gatekeeper.configure(document)
    for cluster in args.cluster:
        project, cluster_id = cluster.split("/", 1)
        simulator.load(project, cluster_id, args.scenario, args.speed)
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    runner = web.AppRunner(create_app(simulator), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, ssl_context=context, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if context else "http"
    print(f"CCE simulator listening on {scheme}://{args.host}:{port}", flush=True)
    if args.port_file:
        Path(args.port_file).write_text(str(port))  # noqa: ASYNC240 - once, at start-up
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccupgrade-simulator", description=__doc__)
    commands = parser.add_subparsers(dest="cmd", required=True)
    run = commands.add_parser("serve", help="serve the CCE, IAM and control APIs")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8443, help="0 picks a free port (see --port-file)")
    run.add_argument("--port-file", help="write the bound port here once listening")
    run.add_argument("--cluster", action="append", default=[], metavar="PROJECT/CLUSTER", help="load at start")
    run.add_argument("--scenario", default="standard", help=f"for --cluster; one of {', '.join(shipped_scenarios())}")
    run.add_argument("--speed", type=float, default=1.0, help="scenario seconds per wall second")
    run.add_argument("--aksk", action="append", default=[], metavar="AK:SK", help="an accepted access key pair")
    run.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD:DOMAIN", help="an IAM user")
    run.add_argument("--token", action="append", default=[], help="a static token that never expires")
    run.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    run.add_argument("--tls-key", help="and this key (PEM)")
    bench = commands.add_parser("bench", help="measure list-call throughput on this machine")
    bench.add_argument("--seconds", type=float, default=5.0)
    bench.add_argument("--concurrency", type=int, default=32)
    bench.add_argument("--auth", choices=["token", "aksk"], default="token")
    commands.add_parser("scenarios", help="list the shipped scenarios")
    args = parser.parse_args(argv)
    if args.cmd == "scenarios":
        for name in shipped_scenarios():
            print(f"{name:10} {load_scenario(name).description}")
        return 0
    if args.cmd == "bench":
        from ccupgrade.simulator.bench import run_bench

        return run_bench(args.seconds, args.concurrency, args.auth)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
