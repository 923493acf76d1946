// The test worker behind a start gate: it loads PYRALLEL_START_GATE_LOADS times, then every
// restart fails while loading (see start-gate.ts). Imports run in order: the gate first.
import "./start-gate.ts";
import "./test-worker.ts";
