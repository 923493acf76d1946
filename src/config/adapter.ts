import type { KafkaAdapter } from "../core/ports/kafka-adapter.ts";

/**
 * The methods of {@linkcode KafkaAdapter}, the one list of them: typed as a record of its keys, so
 * the compiler refuses it when the interface gains or loses a method.
 */
const METHODS: Record<keyof KafkaAdapter, true> = {
  start: true,
  pause: true,
  resume: true,
  commit: true,
  fetchPositions: true,
  publish: true,
  close: true,
};

/** Names of every KafkaAdapter method, in declaration order. */
export const ADAPTER_METHODS: readonly string[] = Object.keys(METHODS);

/** The KafkaAdapter methods `value` lacks: all of them when it is not an object. */
export function missingAdapterMethods(value: unknown): string[] {
  if (typeof value !== "object" || value === null) return [...ADAPTER_METHODS];
  const candidate = value as Record<string, unknown>;
  return ADAPTER_METHODS.filter((name) => typeof candidate[name] !== "function");
}

/** Whether `value` has every KafkaAdapter method (a class instance's prototype methods count). */
export function isAdapter(value: unknown): value is KafkaAdapter {
  return missingAdapterMethods(value).length === 0;
}

/** The ConfigError line for an adapter that lacks methods, naming each missing one. */
export function adapterMessage(value: unknown): string {
  if (typeof value !== "object" || value === null) {
    return `adapter must be an object implementing the KafkaAdapter methods ${ADAPTER_METHODS.join(", ")}`;
  }
  return `adapter must implement every KafkaAdapter method (${ADAPTER_METHODS.join(", ")}); ` +
    `missing: ${missingAdapterMethods(value).join(", ")}`;
}
