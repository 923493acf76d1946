// Produces sample orders at a steady rate, keyed by customer id, so each customer's orders land
// on one partition in the order they were placed.
import { Producer } from "@platformatic/kafka";

/** One order as written to Kafka (JSON). `seq` counts the orders of one customer within one run. */
export interface Order {
  orderId: string;
  customer: string;
  amount: number;
  seq: number;
  /** When this demo run started (ms since the epoch): orders of older runs compare lower. */
  run: number;
}

export interface OrderProducer {
  /** Orders acknowledged by the broker. */
  readonly produced: number;
  /** Stops producing and waits for the last batch. */
  stop(): Promise<void>;
}

const TICK_MS = 20;
const MAX_BATCH = 5000;

export function customerId(index: number): string {
  return `customer-${String(index).padStart(3, "0")}`;
}

export function startOrderProducer(
  options: { brokers: string[]; topic: string; customers: number; rate: number },
  onError: (error: Error) => void,
): OrderProducer {
  const producer = new Producer({
    clientId: "pyrallel-demo-producer",
    bootstrapBrokers: options.brokers,
    // Idempotent: a retried batch is never written twice or out of order.
    idempotent: true,
  });
  const run = Date.now();
  const seqByCustomer = new Array<number>(options.customers).fill(0);
  let produced = 0;
  let created = 0;
  let stopped = false;

  function nextOrder(): { key: Buffer; value: Buffer } {
    const index = Math.floor(Math.random() * options.customers);
    const customer = customerId(index);
    const order: Order = {
      orderId: `${run.toString(36)}-${created++}`,
      customer,
      amount: Math.round(Math.random() * 50_000) / 100,
      seq: seqByCustomer[index]!++,
      run,
    };
    return { key: Buffer.from(customer), value: Buffer.from(JSON.stringify(order)) };
  }

  // Sends whatever is due since the start, one batch at a time (so batches stay in order).
  const loop = (async () => {
    const started = performance.now();
    while (!stopped) {
      const due = Math.floor(((performance.now() - started) / 1000) * options.rate) - created;
      if (due <= 0) {
        await new Promise((resolve) => setTimeout(resolve, TICK_MS));
        continue;
      }
      const messages = Array.from(
        { length: Math.min(due, MAX_BATCH) },
        () => ({ topic: options.topic, ...nextOrder() }),
      );
      try {
        await producer.send({ messages });
        produced += messages.length;
      } catch (error) {
        onError(error as Error);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  })();

  return {
    get produced() {
      return produced;
    },
    async stop() {
      stopped = true;
      await loop;
      await producer.close();
    },
  };
}
