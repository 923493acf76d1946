// A batch of tasks as it travels to a worker: every task's fields and payload bytes in one
// transferred buffer, beside the batch's distinct strings (topics, header names). Structured
// cloning an object per task cost about 2 µs a message across the two threads; this costs a
// fraction, and the worker builds each message only when it starts it.
import {
  type ConsumerMessage,
  headerListOf,
  headerMap,
  type MessageHeader,
  NO_HEADER_LIST,
} from "../../core/message.ts";

/**
 * What the worker receives: `count` messages in `buffer`, naming strings by index into `names`.
 * A task is one message, or (batch handlers) several consecutive ones.
 */
export interface WireBatch {
  readonly count: number;
  readonly names: string[];
  readonly buffer: ArrayBuffer;
}

/** A task to send: its id, board slot and attempt number, and the message (or a batch's messages). */
export interface OutgoingTask {
  readonly id: number;
  readonly slot: number;
  readonly message: ConsumerMessage;
  /** Batch handlers: the batch's messages (`message` is the first); absent for one message. */
  readonly messages?: readonly ConsumerMessage[] | undefined;
  readonly context: { readonly attempt: number };
  /** Chains: the task it must run after (on the same worker), once that one succeeded. */
  readonly after?: { readonly id: number } | undefined;
  /** Chains: a task runs after it (the worker keeps its outcome for that one). */
  readonly follower?: object | undefined;
}

// Int32 fields per message; then every header as (name, start, length). Bytes are a (start, length)
// pair, the start into the payload region; a length of -1 is a null key, value or header value.
// A task's first message carries its slot, attempt, id and how many messages it has (and, in a
// chain, the id of the task it runs after, and whether one runs after it); a batch's other messages
// follow it, with a message count of 0.
const SLOT = 0;
const ATTEMPT = 1;
const TOPIC = 2;
const PARTITION = 3;
const KEY_START = 4; // and its length at 5
const VALUE_START = 6; // and its length at 7
const HEADER_START = 8;
const HEADER_COUNT = 9;
const MESSAGES = 10;
const FOLLOWED = 11;
const FIELDS = 12;
/** Float64 fields per message: its task's id, its timestamp, the id of the task it runs after (-1: none). */
const FLOATS = 3;

/** Byte layout: offsets (BigInt64), ids, timestamps and predecessors (Float64), Int32 fields, payload bytes. */
function layout(count: number, headers: number) {
  const floats = count * 8;
  const ints = floats + count * 8 * FLOATS;
  const payloads = ints + (count * FIELDS + headers * 3) * 4;
  return { floats, ints, payloads };
}

/**
 * Main side: encodes a batch, payloads copied into the batch's own buffer (to be transferred).
 * Never send a message's own `bytes.buffer`: a fetched message is a view into a large buffer
 * shared with other messages (cloning would copy all of it, transferring would detach the others).
 */
export function encodeBatch(batch: readonly OutgoingTask[]): WireBatch {
  let count = 0;
  let headerCount = 0;
  let payloadSize = 0;
  const measure = (message: ConsumerMessage): void => {
    count++;
    payloadSize += (message.key?.byteLength ?? 0) + (message.value?.byteLength ?? 0);
    for (const [, bytes] of headerListOf(message)) {
      headerCount++;
      payloadSize += bytes?.byteLength ?? 0;
    }
  };
  for (const { message, messages } of batch) {
    if (messages === undefined) measure(message);
    else for (const each of messages) measure(each);
  }
  const at = layout(count, headerCount);
  const buffer = new ArrayBuffer(at.payloads + payloadSize);
  const offsets = new BigInt64Array(buffer, 0, count);
  const floats = new Float64Array(buffer, at.floats, FLOATS * count);
  const ints = new Int32Array(buffer, at.ints, count * FIELDS + headerCount * 3);
  const payloads = new Uint8Array(buffer, at.payloads);
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const name = (text: string): number => {
    let index = nameIndex.get(text);
    if (index === undefined) nameIndex.set(text, index = names.push(text) - 1);
    return index;
  };
  let end = 0;
  // Writes the bytes (null, or undefined from an untyped caller, is the span [0, -1]).
  const place = (bytes: Uint8Array | null | undefined, field: number): void => {
    if (!bytes) {
      ints[field] = 0;
      ints[field + 1] = -1;
      return;
    }
    payloads.set(bytes, end);
    ints[field] = end;
    ints[field + 1] = bytes.byteLength;
    end += bytes.byteLength;
  };
  let header = count * FIELDS;
  let i = 0;
  const write = (message: ConsumerMessage, task: OutgoingTask, messages: number): void => {
    const base = i * FIELDS;
    offsets[i] = message.offset;
    floats[i] = task.id;
    floats[count + i] = message.timestamp;
    floats[2 * count + i] = task.after?.id ?? -1;
    ints[base + SLOT] = task.slot;
    ints[base + ATTEMPT] = task.context.attempt;
    ints[base + MESSAGES] = messages;
    ints[base + FOLLOWED] = task.follower === undefined ? 0 : 1;
    ints[base + TOPIC] = name(message.topic);
    ints[base + PARTITION] = message.partition;
    place(message.key, base + KEY_START);
    place(message.value, base + VALUE_START);
    ints[base + HEADER_START] = header;
    const headers = headerListOf(message);
    ints[base + HEADER_COUNT] = headers.length;
    for (const [headerName, bytes] of headers) {
      ints[header] = name(headerName);
      place(bytes, header + 1);
      header += 3;
    }
    i++;
  };
  for (const task of batch) {
    const messages = task.messages;
    if (messages === undefined) write(task.message, task, 1);
    else messages.forEach((message, index) => write(message, task, index === 0 ? messages.length : 0));
  }
  return { count, names, buffer };
}

/** Worker side: reads the tasks of a received batch; each message's bytes are views of its buffer. */
export class BatchReader {
  readonly count: number;
  readonly #names: string[];
  readonly #buffer: ArrayBuffer;
  readonly #offsets: BigInt64Array;
  readonly #floats: Float64Array;
  readonly #ints: Int32Array;
  readonly #payloads: number;

  constructor(batch: WireBatch) {
    const { count, names, buffer } = batch;
    const at = layout(count, 0);
    this.count = count;
    this.#names = names;
    this.#buffer = buffer;
    this.#offsets = new BigInt64Array(buffer, 0, count);
    this.#floats = new Float64Array(buffer, at.floats, FLOATS * count);
    // The header triples follow the task fields; the last task says where they end.
    const fields = new Int32Array(buffer, at.ints, count * FIELDS);
    const last = (count - 1) * FIELDS;
    const intCount = count === 0 ? 0 : fields[last + HEADER_START]! + fields[last + HEADER_COUNT]! * 3;
    this.#ints = new Int32Array(buffer, at.ints, intCount);
    this.#payloads = at.ints + intCount * 4;
  }

  /** Messages of the task starting at `i` (1 for one message); 0 for a batch's later messages. */
  messages(i: number): number {
    return this.#ints[i * FIELDS + MESSAGES]!;
  }

  id(i: number): number {
    return this.#floats[i]!;
  }

  slot(i: number): number {
    return this.#ints[i * FIELDS + SLOT]!;
  }

  attempt(i: number): number {
    return this.#ints[i * FIELDS + ATTEMPT]!;
  }

  /** The id of the task that task `i` runs after once it succeeded, or -1. */
  after(i: number): number {
    return this.#floats[2 * this.count + i]!;
  }

  /** Whether a task runs after task `i` (in a chain). */
  followed(i: number): boolean {
    return this.#ints[i * FIELDS + FOLLOWED] === 1;
  }

  /** Message `i`, as handed to the handler. */
  message(i: number): ConsumerMessage {
    const ints = this.#ints;
    const base = i * FIELDS;
    const headerCount = ints[base + HEADER_COUNT]!;
    let headerList = NO_HEADER_LIST;
    if (headerCount > 0) {
      const list: MessageHeader[] = new Array(headerCount);
      for (let k = 0, h = ints[base + HEADER_START]!; k < headerCount; k++, h += 3) {
        list[k] = [this.#names[ints[h]!]!, this.#bytes(h + 1)];
      }
      headerList = list;
    }
    return {
      topic: this.#names[ints[base + TOPIC]!]!,
      partition: ints[base + PARTITION]!,
      offset: this.#offsets[i]!,
      key: this.#bytes(base + KEY_START),
      value: this.#bytes(base + VALUE_START),
      headers: headerMap(headerList),
      headerList,
      timestamp: this.#floats[this.count + i]!,
    };
  }

  #bytes(field: number): Uint8Array | null {
    const length = this.#ints[field + 1]!;
    return length < 0 ? null : new Uint8Array(this.#buffer, this.#payloads + this.#ints[field]!, length);
  }
}
