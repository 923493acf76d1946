// The consumer's event emitter: a listener that throws must not stop the other listeners, nor the
// consumer's own work that emitted (a commit's failure report, a retry).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Emitter } from "../../src/core/emitter.ts";

interface Events {
  ping: (value: number) => void;
  other: (text: string) => void;
}

test("listeners of one event are called in subscription order; unsubscribe removes only that one", () => {
  const emitter = new Emitter<Events>();
  const calls: string[] = [];
  const offA = emitter.on("ping", (value) => void calls.push(`a${value}`));
  emitter.on("ping", (value) => void calls.push(`b${value}`));
  emitter.on("other", (text) => void calls.push(text));
  assert.equal(emitter.emit("ping", 1), true);
  offA();
  emitter.emit("ping", 2);
  assert.deepEqual(calls, ["a1", "b1", "b2"]);
});

test("emit returns false when nobody listens", () => {
  const emitter = new Emitter<Events>();
  assert.equal(emitter.emit("ping", 1), false);
  const off = emitter.on("ping", () => {});
  off();
  assert.equal(emitter.emit("ping", 1), false);
});

test("a throwing listener is reported and the others still run; emit itself does not throw", () => {
  const failures: unknown[] = [];
  const emitter = new Emitter<Events>((error) => failures.push(error));
  const seen: number[] = [];
  const boom = new Error("listener bug");
  emitter.on("ping", () => {
    throw boom;
  });
  emitter.on("ping", (value) => void seen.push(value));
  assert.equal(emitter.emit("ping", 7), true);
  assert.deepEqual(seen, [7]);
  assert.deepEqual(failures, [boom]);
});
