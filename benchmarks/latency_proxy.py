#!/usr/bin/env python3
"""A TCP relay on 127.0.0.1 that delays every chunk by a fixed time in each direction.

    python benchmarks/latency_proxy.py --target-port 8443 [--delay-ms 20]
        [--listen-port 0]

prints ``listening 127.0.0.1:<port>`` once it accepts connections. With
``--delay-ms 20``
a request/answer exchange costs 40 ms more (one round trip), as between an Odoo in one
data centre and a mail server in another.

It relays bytes, nothing else: TLS passes through untouched (the server's certificate
is for 127.0.0.1, whatever the port). Each direction of each connection has a reader
that timestamps every chunk as it arrives and a writer that sends the chunks in order,
each at its arrival time + delay, so the delay is added to latency only: bandwidth is
not reduced, and order is preserved. Both sockets use TCP_NODELAY so Nagle's algorithm
adds nothing on top. Standard library only.

From Python: ``proc, port = start_proxy_process(target_port, delay_ms=20)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

CHUNK = 256 * 1024
QUEUE_CHUNKS = 1024  # back-pressure beyond ~256 MB in flight per direction
_EOF = object()


def _nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _pump(reader, writer, delay, stats, key):
    """Copies reader -> writer, each chunk sent `delay` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(QUEUE_CHUNKS)

    async def read_side():
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                stats[key] += len(data)
                await queue.put((loop.time() + delay, data))
        except (ConnectionError, OSError):
            pass
        finally:
            await queue.put((loop.time() + delay, _EOF))

    async def write_side():
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is _EOF:
                    if writer.can_write_eof():
                        writer.write_eof()
                    await writer.drain()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    await asyncio.gather(read_side(), write_side())


async def _handle(client_reader, client_writer, target, delay, stats):
    stats["connections"] += 1
    try:
        up_reader, up_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    _nodelay(client_writer)
    _nodelay(up_writer)
    try:
        await asyncio.gather(
            _pump(client_reader, up_writer, delay, stats, "up"),
            _pump(up_reader, client_writer, delay, stats, "down"),
        )
    except asyncio.CancelledError:  # the relay is shutting down
        pass
    finally:
        for w in (up_writer, client_writer):
            with contextlib.suppress(Exception):
                w.close()


async def serve(
    target_host,
    target_port,
    listen_host="127.0.0.1",
    listen_port=0,
    delay_ms=20.0,
    ready=None,
):
    stats = {"connections": 0, "up": 0, "down": 0}
    delay = delay_ms / 1000.0
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, (target_host, target_port), delay, stats),
        listen_host,
        listen_port,
    )
    port = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print(
        f"proxy stats: connections={stats['connections']} up_bytes={stats['up']} "
        f"down_bytes={stats['down']}",
        file=sys.stderr,
        flush=True,
    )


def start_proxy_process(
    target_port, delay_ms=20.0, target_host="127.0.0.1", timeout=15
) -> tuple[subprocess.Popen, int]:
    """Starts the relay as its own process (own session); returns (process, port).
    The caller stops it (process.terminate() / kill by its pid)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--target-host",
            target_host,
            "--target-port",
            str(target_port),
            "--delay-ms",
            str(delay_ms),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()  # blocks until the relay prints its port
    if not line.startswith("listening ") or time.monotonic() > deadline:
        proc.kill()
        raise RuntimeError(f"latency proxy did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-host", default="127.0.0.1")
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=20.0,
        help="one-way delay per chunk (round trip = twice this)",
    )
    args = parser.parse_args(argv)

    def ready(port):
        print(f"listening {args.listen_host}:{port}", flush=True)

    asyncio.run(
        serve(
            args.target_host,
            args.target_port,
            args.listen_host,
            args.listen_port,
            args.delay_ms,
            ready,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
