"""Every server the project starts listens on 127.0.0.1 only, never on other interfaces."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from evokd.teacher.local.server import TeacherServer, bind_socket, start
from fakes.openai_server import FakeOpenAI
from tests.test_local_teacher_server import ScriptedEngine


def _outside_address() -> str | None:
    """This machine's address on a non-loopback interface, if it has one."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # UDP: picks a route, sends nothing
        address = probe.getsockname()[0]
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


def _assert_loopback_only(port: int, hosts: Iterator[str]) -> None:
    assert all(host == "127.0.0.1" for host in hosts)
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    outside = _outside_address()
    if outside is not None:
        with pytest.raises(OSError):
            socket.create_connection((outside, port), timeout=2).close()


async def test_the_local_teacher_server_binds_loopback_only() -> None:
    runner, port = await start(TeacherServer(ScriptedEngine(), "scripted-model"), 0)
    try:
        _assert_loopback_only(port, (address[0] for address in runner.addresses))
    finally:
        await runner.cleanup()
    sock = bind_socket()  # what the teacher's subprocess launcher serves on
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()


def test_the_run_viewer_binds_loopback_only() -> None:
    viewer = pytest.importorskip("evokd.inspection.viewer")
    sock = viewer._bind(0)
    try:
        sock.listen(1)
        _assert_loopback_only(sock.getsockname()[1], iter([sock.getsockname()[0]]))
    finally:
        sock.close()


def test_the_fake_endpoint_of_the_tests_binds_loopback_only() -> None:
    with FakeOpenAI() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        _assert_loopback_only(server.port, iter(["127.0.0.1"]))
