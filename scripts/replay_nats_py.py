"""A straightforward nats-py replay, the baseline for `cargo bench --bench replay`.

Usage: replay_nats_py.py NATS_URL STREAM FILTER TARGET_PREFIX COUNT

Reads COUNT messages from STREAM (ordered push consumer from the start) and republishes each
under TARGET_PREFIX with a Nats-Msg-Id, awaiting each ack: what a team writes by hand.
Prints the messages per second.
"""
import asyncio
import sys
import time

import nats


async def main() -> None:
    url, stream, subject_filter, prefix, count = sys.argv[1:6]
    count = int(count)
    nc = await nats.connect(url)
    js = nc.jetstream()
    done = asyncio.Event()
    seen = 0
    started = time.perf_counter()

    async def handle(msg):
        nonlocal seen
        seq = msg.metadata.sequence.stream
        await js.publish(f"{prefix}.{msg.subject}", msg.data, headers={"Nats-Msg-Id": f"py:{stream}:{seq}"})
        seen += 1
        if seen >= count:
            done.set()

    sub = await js.subscribe(subject_filter, stream=stream, ordered_consumer=True, cb=handle)
    await done.wait()
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    await nc.close()
    print(f"{count / elapsed:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
