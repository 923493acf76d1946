// Settings of the demo, from the environment. Every one has a default, so `npm run demo` just works.

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`${name} must be a number >= 0, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

export interface DemoConfig {
  brokers: string[];
  topic: string;
  partitions: number;
  groupId: string;
  customers: number;
  /** Orders produced per second. */
  rate: number;
  /** Stop after this many seconds; 0 runs until Ctrl-C. */
  seconds: number;
  /** Share of orders whose handler takes 500 ms instead of 1-20 ms. */
  slowShare: number;
  metricsPort: number;
  maxInFlight: number;
  concurrency: number;
}

export const config: DemoConfig = {
  brokers: [process.env.DEMO_BROKER ?? `127.0.0.1:${process.env.PYRALLEL_KAFKA_PORT ?? 9092}`],
  topic: "demo-orders",
  partitions: 6,
  groupId: "demo-orders-processor",
  customers: 200,
  rate: envNumber("DEMO_RATE", 2000),
  seconds: envNumber("DEMO_SECONDS", 0),
  slowShare: envNumber("DEMO_SLOW_SHARE", 0.01),
  metricsPort: envNumber("DEMO_METRICS_PORT", 9464),
  maxInFlight: 2000,
  concurrency: 200,
};
