"""One HTTP exchange with CCE or IAM: the shared aiohttp session, the endpoint's gate, body-size
and Content-Type limits, and aiohttp's failures as TransportError. No retries, no auth here."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from ccupgrade.cce import auth
from ccupgrade.cce.errors import ResponseError, TransportError
from ccupgrade.cce.ratelimit import GateRegistry

log = logging.getLogger("ccupgrade.cce")

# Observes every HTTP exchange: (endpoint host, status code or error kind, seconds).
ResponseObserver = Callable[[str, str, float], None]


@dataclass
class Answer:
    """An HTTP answer read in full (within the size limit); header names lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes


class Transport:
    """Sends one request through the endpoint's gate and reads a bounded answer; owns the session it creates."""

    def __init__(
        self,
        gates: GateRegistry,
        *,
        session: aiohttp.ClientSession | None = None,
        connect_timeout: float = 5.0,
        total_timeout: float = 30.0,
        max_body_bytes: int = 4 * 1024 * 1024,
        ca_bundle: str | None = None,
        observer: ResponseObserver | None = None,
    ) -> None:
        self.gates = gates
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_body_bytes = max_body_bytes
        self.ca_bundle = ca_bundle
        self._session = session
        self._owns_session = session is None
        self._observer = observer

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use (inside the running loop) unless one was given."""
        if self._session is None:
            ssl_context = ssl.create_default_context(cafile=self.ca_bundle)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_context, limit=200, limit_per_host=50),
                timeout=aiohttp.ClientTimeout(total=self.total_timeout, connect=self.connect_timeout),
                raise_for_status=False,
                auto_decompress=True,
            )
        return self._session

    async def close(self) -> None:
        """Closes the session if this transport created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def exchange(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> Answer:
        """One request and its whole answer, whatever the status; TransportError or ResponseError otherwise."""
        host = auth.host_header(url)
        gate = self.gates(host)
        await gate.admit()  # rate, Retry-After hold, then a place among this endpoint's requests in flight
        started = time.monotonic()
        outcome = "error"
        try:
            async with self.session.request(method, url, headers=headers, data=body, allow_redirects=False) as resp:
                outcome = str(resp.status)
                limit = self.max_body_bytes
                declared = resp.content_length
                if declared is not None and declared > limit:
                    raise ResponseError(f"response of {declared} bytes exceeds the {limit}-byte limit")
                payload = await _read_at_most(resp.content, limit + 1)
                if len(payload) > limit:
                    raise ResponseError(f"response exceeds the {limit}-byte limit")
                answer = Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, payload)
                log.debug("%s %s -> %s (%s)", method, url, resp.status, answer.headers.get("x-request-id", "-"))
                return answer
        except TimeoutError as exc:
            outcome = "timeout"
            raise TransportError(f"CCE did not answer within {self.total_timeout:g}s") from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            outcome = "tls"
            raise TransportError(f"TLS verification of {host} failed: {exc.certificate_error}") from None
        except aiohttp.ClientConnectorError as exc:
            outcome = "connect"
            raise TransportError(f"cannot connect to {host}: {exc.strerror or type(exc).__name__}") from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            outcome = "disconnect"
            raise TransportError(f"connection to {host} dropped: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"HTTP error talking to {host}: {type(exc).__name__}") from None
        finally:
            gate.done()
            if self._observer is not None:
                self._observer(host, outcome, time.monotonic() - started)


async def _read_at_most(content: aiohttp.StreamReader, size: int) -> bytes:
    """The body up to its end or `size` bytes, whichever comes first. One `read(size)` is not that:
    it returns what has arrived so far, so a body longer than a few network reads was cut short
    (a 4 MB pre-check answer came as its first 95 KB, and failed to parse)."""
    payload = bytearray()
    while len(payload) < size:
        chunk = await content.read(size - len(payload))
        if not chunk:
            break
        payload += chunk
    return bytes(payload)


def require_json(answer: Answer) -> None:
    """ResponseError unless the answer says it is JSON (a gateway's HTML maintenance page is not)."""
    content_type = answer.headers.get("content-type", "")
    if "json" not in content_type.split(";")[0].lower():
        raise ResponseError(
            f"CCE answered with Content-Type {content_type or 'none'!r}, not JSON",
            status=answer.status,
            request_id=answer.headers.get("x-request-id"),
        )
