"""Step log batching: lines streamed one by one are written together, none is lost or reordered."""

from __future__ import annotations

import asyncio

from vwmp_engine.step_logs import Lines, StepLogBuffer


class Written:
    """The batches a buffer wrote, in order."""

    def __init__(self) -> None:
        self.batches: list[Lines] = []

    async def __call__(self, lines: Lines) -> None:
        self.batches.append(lines)


async def test_lines_arriving_together_are_written_as_one_batch_after_the_delay() -> None:
    written = Written()
    buffer = StepLogBuffer(written, max_delay=0.05)
    for n in range(3):
        buffer.add("stdout", f"line {n}")
    assert written.batches == []
    await asyncio.sleep(0.1)
    assert written.batches == [[("stdout", "line 0"), ("stdout", "line 1"), ("stdout", "line 2")]]
    buffer.add("stderr", "later")
    await asyncio.sleep(0.1)
    assert written.batches[-1] == [("stderr", "later")]


async def test_flush_writes_what_is_left_at_once_and_nothing_when_empty() -> None:
    written = Written()
    buffer = StepLogBuffer(written, max_delay=10)
    await buffer.flush()
    assert written.batches == []
    buffer.add("info", "done")
    await buffer.flush()
    assert written.batches == [[("info", "done")]]
    await asyncio.sleep(0)
    assert written.batches == [[("info", "done")]]


async def test_a_cancelled_attempt_still_writes_its_last_lines() -> None:
    written = Written()
    buffer = StepLogBuffer(written, max_delay=10)

    async def attempt() -> None:
        buffer.add("stdout", "before the cancel")
        try:
            await asyncio.sleep(10)
        finally:
            await buffer.flush()

    task = asyncio.create_task(attempt())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert written.batches == [[("stdout", "before the cancel")]]
