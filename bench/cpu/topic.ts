// The CPU benchmark's input topics: 4 partitions (or `--partitions`), keys k0…k99 (or `--keys`) round-robin, 32-byte values
// (records.ts) and a "rounds" header on every record. Named like the harness's topics plus the
// rounds (calibration differs per runtime and run), e.g. pyrallel-bench-cpu-p4-k100-n13300-v32-r7200;
// produced once and reused while the broker keeps them (a topic with the wrong count is produced again).
import { ensureTopic, topicName, type TopicSpec } from "../harness/topics.ts";
import { encodeRounds, VALUE_BYTES, valueOf } from "./records.ts";

/** Partitions unless `--partitions` says otherwise. */
export const PARTITIONS = 4;
/** Keys unless `--keys` says otherwise: with key ordering, at most this many messages run at once. */
export const KEYS = 100;

export interface CpuTopic {
  spec: TopicSpec;
  rounds: number;
}

export function cpuTopic(
  messages: number,
  rounds: number,
  keys: number = KEYS,
  partitions: number = PARTITIONS,
): CpuTopic {
  const shape = { partitions, messages, keys, slowKey: false, valueBytes: VALUE_BYTES };
  const name = `${topicName(shape).replace(/^pyrallel-bench-/, "pyrallel-bench-cpu-")}-r${rounds}`;
  const headers = new Map([["rounds", encodeRounds(rounds)]]);
  return { spec: { name, ...shape, value: valueOf, headers }, rounds };
}

/** Makes sure the topic holds exactly its messages (producing it if not); its log end offsets. */
export async function ensureCpuTopic(
  brokers: string[],
  topic: CpuTopic,
  log: (line: string) => void,
): Promise<bigint[]> {
  return (await ensureTopic(brokers, topic.spec, log)).map(BigInt);
}
