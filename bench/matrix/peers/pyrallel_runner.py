"""Peer row of the shape matrix: Pyrallel Consumer 1.0.0 (Python, async engine), and the plain
confluent-kafka Consumer it is built on as that peer's raw baseline. Run by bench/matrix/peers.ts
with the venv of bench/matrix/peers/setup.sh; prints one line "RESULT {json}" at the end.

  --mode raw|pyrallel --brokers H:P --topic T --target N [--handler-ms 5] [--concurrency 100]
  [--window S] [--stall S] [--hot-key K]

raw:      a confluent_kafka.Consumer (fresh group, earliest, no auto-commit) reads N records.
pyrallel: PyrallelConsumer, ordering "key_hash", async engine; its execution.max_in_flight is both
          its dispatch limit and its async concurrency, so it is set to --concurrency (its buffer is
          queue_max_messages, default 5000). The worker awaits asyncio.sleep(handler-ms) and counts;
          the run ends at N completions or `window` seconds after the first worker call.
          With --hot-key, the handler time of that key's messages is also reported on its own.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import time


def result(**fields):
    print("RESULT " + json.dumps(fields), flush=True)


def fail(why):
    result(error=why)
    sys.stdout.flush()
    os._exit(1)


def group_id():
    return f"pyrallel-bench-peer-py-{time.time_ns():x}"


def run_raw(args):
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": group_id(),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([args.topic])
    started = time.perf_counter()
    first = 0.0
    count = 0
    last_moved = started
    while count < args.target:
        messages = consumer.consume(num_messages=1000, timeout=0.1)
        now = time.perf_counter()
        got = 0
        for message in messages:
            if message.error() is None:
                got += 1
        if got:
            if first == 0.0:
                first = now
            count += got
            last_moved = now
        elif now - last_moved > args.stall:
            fail(f"no progress for {args.stall} s ({count}/{args.target})")
    end = time.perf_counter()
    result(
        messages=count,
        seconds=end - started,
        steadySeconds=end - first,
        firstMessageSeconds=first - started,
        handlerMeanMs=None,
        hotHandlerMeanMs=None,
    )
    consumer.close()


async def run_pyrallel(args):
    from pyrallel_consumer import (
        ExecutionConfig,
        KafkaConfig,
        ParallelConsumerConfig,
        PyrallelConsumer,
    )

    config = KafkaConfig(
        BOOTSTRAP_SERVERS=[args.brokers],
        CONSUMER_GROUP=group_id(),
        AUTO_OFFSET_RESET="earliest",
        dlq_enabled=False,
        parallel_consumer=ParallelConsumerConfig(
            ordering_mode="key_hash",
            execution=ExecutionConfig(mode="async", max_in_flight=args.concurrency),
        ),
    )
    state = {"done": 0, "first": 0.0, "end": 0.0, "handler": 0.0, "handlers": 0, "hot": 0.0, "hots": 0}
    hot_key = args.hot_key.encode() if args.hot_key is not None else None
    finished = asyncio.Event()
    first_call = asyncio.Event()
    delay = args.handler_ms / 1000.0

    async def worker(item):
        t0 = time.perf_counter()
        if state["first"] == 0.0:
            state["first"] = t0
            first_call.set()
        if delay > 0:
            await asyncio.sleep(delay)
        t1 = time.perf_counter()
        state["handler"] += t1 - t0
        state["handlers"] += 1
        if hot_key is not None:
            key = item.key.encode() if isinstance(item.key, str) else item.key
            if key == hot_key:
                state["hot"] += t1 - t0
                state["hots"] += 1
        state["done"] += 1
        if state["done"] == args.target:
            state["end"] = t1
            finished.set()

    consumer = PyrallelConsumer(config, worker, args.topic)
    started = time.perf_counter()
    await consumer.start()
    last_moved = time.perf_counter()
    while not first_call.is_set():
        try:
            await asyncio.wait_for(first_call.wait(), 0.25)
        except asyncio.TimeoutError:
            if time.perf_counter() - last_moved > args.stall:
                fail(f"no message in {args.stall} s")
    window_end = state["first"] + args.window if args.window > 0 else float("inf")
    last_count = -1
    while not finished.is_set():
        try:
            await asyncio.wait_for(finished.wait(), 0.1)
        except asyncio.TimeoutError:
            pass
        now = time.perf_counter()
        if finished.is_set():
            break
        if now >= window_end:
            state["end"] = now
            break
        if state["done"] != last_count:
            last_count = state["done"]
            last_moved = now
        elif now - last_moved > args.stall:
            fail(f"no progress for {args.stall} s ({state['done']}/{args.target})")
    counted = min(state["done"], args.target)
    result(
        messages=counted,
        seconds=state["end"] - started,
        steadySeconds=state["end"] - state["first"],
        firstMessageSeconds=state["first"] - started,
        handlerMeanMs=(state["handler"] / state["handlers"] * 1000.0) if state["handlers"] else None,
        hotHandlerMeanMs=(state["hot"] / state["hots"] * 1000.0) if state["hots"] else None,
    )
    # Not measured: do not wait long for the remaining work.
    try:
        await asyncio.wait_for(consumer.stop(), 10)
    except BaseException:
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="pyrallel", choices=["raw", "pyrallel"])
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--handler-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--window", type=float, default=0.0)
    parser.add_argument("--stall", type=float, default=60.0)
    parser.add_argument("--hot-key", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pyrallel_consumer").setLevel(logging.ERROR)
    if args.mode == "raw":
        run_raw(args)
    else:
        asyncio.run(run_pyrallel(args))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
