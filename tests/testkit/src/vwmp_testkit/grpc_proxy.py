"""A TCP proxy in front of a gRPC server that loses one answer on purpose: the commit-then-timeout fault.

It forwards every byte unchanged in both directions and reads the HTTP/2 frames as they pass
(`hyperframe` for the frames, `hpack` for the request headers, so it knows each stream's method).
Armed with `lose_answer`, it lets the first matching request through to the server and loses
the server's answer to it: "close" drops the answer and the connection (the client sees
UNAVAILABLE, as when the server dies after its commit); "swallow" drops only that stream's frames
and keeps the connection (the client waits for its deadline: DEADLINE_EXCEEDED). The server did
the work either way; only the client does not know.

Example:
    ```python
    async with GrpcProxy(storage_target) as proxy:
        lost = proxy.lose_answer("RecordTransitions", request=lambda body: b"step-id" in body)
        ...  # point the client at proxy.target
        await asyncio.wait_for(lost.lost.wait(), 30)
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from hpack import Decoder
from hyperframe.frame import ContinuationFrame, DataFrame, Frame, HeadersFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
Matcher = Callable[[bytes], bool]


@dataclass
class LostAnswer:
    """One armed fault: which call, which of its requests and answers, and what happened."""

    method: str
    request: Matcher
    answer: Matcher
    mode: Literal["close", "swallow"]
    on_answer: Callable[[], None] | None
    taken: bool = False  # a request matched: its answer is the one to lose
    request_body: bytes = b""  # the gRPC message of that request
    lost: asyncio.Event = field(default_factory=asyncio.Event)  # set once the answer was dropped


def grpc_messages(payload: bytes) -> tuple[list[bytes], bytes]:
    """The complete length-prefixed gRPC messages in `payload`, and what is left of an incomplete one."""
    messages = []
    while len(payload) >= 5:
        (length,) = struct.unpack(">I", payload[1:5])
        if len(payload) < 5 + length:
            break
        messages.append(payload[5 : 5 + length])
        payload = payload[5 + length :]
    return messages, payload


class _Connection:
    """One client connection and its upstream twin; HPACK state is per connection."""

    def __init__(self, proxy: GrpcProxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client_reader, self.client_writer = client
        self.server_writer: asyncio.StreamWriter | None = None
        self.decoder = Decoder()
        self.paths: dict[int, str] = {}
        self.requests: dict[int, bytes] = {}
        self.answers: dict[int, bytes] = {}
        self.target: dict[int, LostAnswer] = {}
        self.dropping: set[int] = set()

    async def serve(self) -> None:
        host, port = self.proxy.upstream.rsplit(":", 1)
        try:
            server_reader, self.server_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            self.client_writer.close()
            return
        pumps = [asyncio.create_task(self._requests()), asyncio.create_task(self._answers(server_reader))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self.close()

    def close(self) -> None:
        for writer in (self.client_writer, self.server_writer):
            if writer is not None:
                writer.close()

    async def _requests(self) -> None:
        assert self.server_writer is not None
        preface = await self.client_reader.readexactly(len(PREFACE))
        self.server_writer.write(preface)
        block: list[bytes] = []
        while True:
            raw, frame = await _read_frame(self.client_reader)
            if isinstance(frame, HeadersFrame | ContinuationFrame):
                block.append(bytes(frame.data))
                if "END_HEADERS" in frame.flags:
                    headers = dict(self.decoder.decode(b"".join(block)))
                    block = []
                    self.paths[frame.stream_id] = str(headers.get(":path", ""))
            elif isinstance(frame, DataFrame):
                self._request_data(frame)
            self.server_writer.write(raw)
            await self.server_writer.drain()

    def _request_data(self, frame: DataFrame) -> None:
        stream = frame.stream_id
        self.requests[stream] = self.requests.get(stream, b"") + bytes(frame.data)
        if "END_STREAM" not in frame.flags:
            return
        body, _ = grpc_messages(self.requests.pop(stream))
        method = self.paths.get(stream, "").rsplit("/", 1)[-1]
        self.proxy.requests.setdefault(method, []).extend(body)
        for fault in self.proxy.faults:
            if not fault.taken and method == fault.method and body and fault.request(body[0]):
                fault.taken, fault.request_body = True, body[0]
                self.target[stream] = fault
                return

    async def _answers(self, reader: asyncio.StreamReader) -> None:
        while True:
            raw, frame = await _read_frame(reader)
            stream = frame.stream_id
            fault = self.target.get(stream)
            if fault is not None and stream not in self.dropping and self._is_the_answer(fault, frame):
                self.dropping.add(stream)
                if fault.on_answer is not None:
                    fault.on_answer()
                fault.lost.set()
                if fault.mode == "close":
                    return  # the answer and the connection are gone
            if stream in self.dropping:
                continue
            self.client_writer.write(raw)
            await self.client_writer.drain()

    def _is_the_answer(self, fault: LostAnswer, frame: Frame) -> bool:
        if not isinstance(frame, DataFrame):
            return False
        messages, self.answers[frame.stream_id] = grpc_messages(
            self.answers.get(frame.stream_id, b"") + bytes(frame.data))
        return any(fault.answer(message) for message in messages)


async def _read_frame(reader: asyncio.StreamReader) -> tuple[bytes, Frame]:
    header = await reader.readexactly(9)
    frame, length = Frame.parse_frame_header(memoryview(header))
    body = await reader.readexactly(length)
    frame.parse_body(memoryview(body))
    return header + body, frame


class GrpcProxy:
    """Listens on a free loopback port and forwards to `upstream` (`host:port`); see the module doc."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[LostAnswer] = []
        self.connections = 0
        self.requests: dict[str, list[bytes]] = {}  # every request message that passed, by method name
        self._server: asyncio.Server | None = None
        self._open: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def target(self) -> str:
        """Where clients connect instead of the upstream."""
        return f"127.0.0.1:{self.port}"

    def lose_answer(self, method: str, request: Matcher = lambda _: True, answer: Matcher = lambda _: True,
                    mode: Literal["close", "swallow"] = "close",
                    on_answer: Callable[[], None] | None = None) -> LostAnswer:
        """Lose the answer to the next request of `method` whose message `request` accepts.

        `answer` picks the answer message to lose (a streaming call's result, not its log lines);
        `on_answer` runs the moment that answer reaches the proxy (the server has committed).
        """
        fault = LostAnswer(method, request, answer, mode, on_answer)
        self.faults.append(fault)
        return fault

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._open):
            connection.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = _Connection(self, (reader, writer))
        self._open.add(connection)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await connection.serve()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._open.discard(connection)
            self._tasks.discard(task)
            connection.close()

    async def __aenter__(self) -> GrpcProxy:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()
