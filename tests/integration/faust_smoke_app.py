"""A minimal faust-streaming app, run as a real worker process by test_faust_compat.py.

An agent counts records per key in a changelog-backed table and publishes each new count. That is
enough to exercise what our processors rely on: consumer groups (classic protocol), the table
changelog, co-partitioning and producing from an agent.
"""

import os

import faust

app = faust.App(
    os.environ["SMOKE_APP_ID"],
    broker=f"kafka://{os.environ['SMOKE_BOOTSTRAP']}",
    store="memory://",
    topic_partitions=3,
    topic_replication_factor=1,
    web_enabled=False,
    key_serializer="raw",
    value_serializer="raw",
)
source = app.topic(os.environ["SMOKE_IN"], partitions=3)
sink = app.topic(os.environ["SMOKE_OUT"], partitions=1)
counts = app.Table("counts", default=int, partitions=3)


@app.agent(source)
async def count(stream):  # type: ignore[no-untyped-def]
    async for key, _value in stream.items():
        counts[key] += 1
        await sink.send(key=key, value=str(counts[key]).encode())


if __name__ == "__main__":
    app.main()
