import type { OutgoingRecord } from "./ports/kafka-adapter.ts";
import { type ConsumerMessage, headerListOf, type MessageHeader } from "./message.ts";
import { describeThrown, nameOfThrown } from "./thrown.ts";

/** Where failed messages go once their retries are exhausted. */
export interface DeadLetterSettings {
  /** Appended to the source topic's name. */
  readonly topicSuffix: string;
  /** `full` copies key, value and headers; `metadataOnly` sends provenance headers only. */
  readonly payload: "full" | "metadataOnly";
}

/** Provenance headers on every dead letter, so it can be traced and replayed. */
export const DEAD_LETTER_HEADERS = {
  errorMessage: "pyrallel.error.message",
  errorName: "pyrallel.error.name",
  attempts: "pyrallel.attempts",
  sourceTopic: "pyrallel.source.topic",
  sourcePartition: "pyrallel.source.partition",
  sourceOffset: "pyrallel.source.offset",
  sourceKey: "pyrallel.source.key",
  sourceTimestamp: "pyrallel.source.timestamp",
  /** Set when the dead letter was too large for its topic and went without the message's payload. */
  payloadOmitted: "pyrallel.payload.omitted",
} as const;

const encoder = new TextEncoder();
const PROVENANCE: ReadonlySet<string> = new Set(Object.values(DEAD_LETTER_HEADERS));

/** The dead letter for `message`, which failed `attempts` times with `error`. */
export function deadLetterRecord(
  settings: DeadLetterSettings,
  message: ConsumerMessage,
  attempts: number,
  error: unknown,
): OutgoingRecord {
  const full = settings.payload === "full";
  // The message's own headers as they came (repeated names too), but not the provenance of an
  // earlier dead-lettering (a replayed letter that failed again): this failure's replaces it.
  const headers: MessageHeader[] = full ? headerListOf(message).filter(([name]) => !PROVENANCE.has(name)) : [];
  const text = (name: string, value: string): void => void headers.push([name, encoder.encode(value)]);
  text(DEAD_LETTER_HEADERS.errorMessage, describeThrown(error).slice(0, 2048));
  text(DEAD_LETTER_HEADERS.errorName, nameOfThrown(error));
  text(DEAD_LETTER_HEADERS.attempts, String(attempts));
  text(DEAD_LETTER_HEADERS.sourceTopic, message.topic);
  text(DEAD_LETTER_HEADERS.sourcePartition, String(message.partition));
  text(DEAD_LETTER_HEADERS.sourceOffset, String(message.offset));
  text(DEAD_LETTER_HEADERS.sourceTimestamp, String(message.timestamp));
  if (message.key !== null) headers.push([DEAD_LETTER_HEADERS.sourceKey, message.key]);
  return {
    topic: `${message.topic}${settings.topicSuffix}`,
    // Same key: dead letters of one key stay in order in one partition.
    key: message.key,
    value: full ? message.value : null,
    headers,
  };
}

/**
 * `record` without the message's payload (its value and own headers), saying so: for a dead letter
 * too large for its topic. Its provenance headers say where the message is.
 */
export function withoutPayload(record: OutgoingRecord): OutgoingRecord {
  const headers = record.headers.filter(([name]) => PROVENANCE.has(name));
  headers.push([DEAD_LETTER_HEADERS.payloadOmitted, encoder.encode(`too large for ${record.topic}`)]);
  return { ...record, value: null, headers };
}
