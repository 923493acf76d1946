import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Lifecycle } from "../../../src/core/control-plane/lifecycle.ts";
import { LifecycleError } from "../../../src/core/errors.ts";

const view = (lifecycle: Lifecycle) => ({
  phase: lifecycle.phase,
  active: lifecycle.active,
  startsWork: lifecycle.startsWork,
  failed: lifecycle.failed,
});

describe("Lifecycle", () => {
  test("a normal life: idle, starting, running, closing, closed", () => {
    const lifecycle = new Lifecycle();
    assert.deepEqual(view(lifecycle), { phase: "idle", active: false, startsWork: false, failed: false });
    lifecycle.beginStart();
    assert.deepEqual(view(lifecycle), { phase: "starting", active: false, startsWork: false, failed: false });
    lifecycle.started();
    assert.deepEqual(view(lifecycle), { phase: "running", active: true, startsWork: true, failed: false });
    lifecycle.beginClose();
    assert.deepEqual(
      view(lifecycle),
      { phase: "closing", active: true, startsWork: true, failed: false },
      "the drain still starts work",
    );
    assert.equal(lifecycle.stopStartingWork(), true);
    assert.deepEqual(view(lifecycle), { phase: "closing", active: true, startsWork: false, failed: false });
    lifecycle.closed();
    assert.deepEqual(view(lifecycle), { phase: "closed", active: false, startsWork: false, failed: false });
  });

  test("beginStart a second time throws a LifecycleError saying why, in any later phase", () => {
    for (
      const [advance, why] of [
        [(_: Lifecycle) => {}, /already started/],
        [(l: Lifecycle) => l.started(), /already started/],
        [(l: Lifecycle) => (l.started(), l.beginClose()), /is closed: .*create a new one/],
        [(l: Lifecycle) => l.closed(), /is closed: .*create a new one/],
      ] as const
    ) {
      const lifecycle = new Lifecycle();
      lifecycle.beginStart();
      advance(lifecycle);
      const phase = lifecycle.phase;
      assert.throws(
        () => lifecycle.beginStart(),
        (error: unknown) =>
          error instanceof LifecycleError && error.code === "PYRALLEL_LIFECYCLE" && why.test(error.message),
      );
      assert.equal(lifecycle.phase, phase, "a refused start changes nothing");
    }
    const closedBeforeStart = new Lifecycle();
    closedBeforeStart.closed();
    assert.throws(() => closedBeforeStart.beginStart(), /is closed: .*create a new one/);
  });

  test("stopStartingWork is one-way and says whether work was still starting", () => {
    const lifecycle = new Lifecycle();
    lifecycle.beginStart();
    lifecycle.started();
    assert.equal(lifecycle.stopStartingWork(), true);
    assert.equal(lifecycle.stopStartingWork(), false);
    assert.equal(lifecycle.startsWork, false);
    assert.equal(lifecycle.active, true, "still ticking and committing");
  });

  test("startsWork needs an active phase even before anything stopped it", () => {
    const lifecycle = new Lifecycle();
    assert.equal(lifecycle.startsWork, false);
    lifecycle.beginStart();
    assert.equal(lifecycle.startsWork, false);
    lifecycle.started();
    assert.equal(lifecycle.startsWork, true);
    lifecycle.closed();
    assert.equal(lifecycle.startsWork, false);
  });

  test("fail marks the failure and nothing else", () => {
    const lifecycle = new Lifecycle();
    lifecycle.beginStart();
    lifecycle.started();
    lifecycle.fail();
    assert.deepEqual(view(lifecycle), { phase: "running", active: true, startsWork: true, failed: true });
  });

  test("requestClose answers true only for the first close during start", () => {
    const lifecycle = new Lifecycle();
    lifecycle.beginStart();
    assert.equal(lifecycle.closeRequested, false);
    assert.equal(lifecycle.requestClose(), true);
    assert.equal(lifecycle.closeRequested, true);
    assert.equal(lifecycle.requestClose(), false);
    assert.equal(lifecycle.phase, "starting", "requesting does not change the phase");
  });

  test("closedWhileStarting says whether the consumer failed or was closed", () => {
    const lifecycle = new Lifecycle();
    const closed = lifecycle.closedWhileStarting();
    assert.ok(closed instanceof LifecycleError);
    assert.equal(closed.code, "PYRALLEL_LIFECYCLE");
    assert.match(closed.message, /close\(\) was called while start\(\) was in progress/);
    lifecycle.fail();
    assert.match(lifecycle.closedWhileStarting().message, /failed while starting/);
  });
});
