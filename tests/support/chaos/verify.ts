// The chaos suite's checks, as pure functions over what a run left behind: the log read back from
// the broker, the attempt records of every consumer process, the kills, the committed offsets
// sampled during the run, and (stalls()) the consumers' metrics around faults of the cluster.
import { doneOffsets } from "../offset-map.ts";
import type { Committed, LogRecord } from "./kafka.ts";

/** One finished handler attempt, as tests/support/chaos/child.ts records it. */
export interface AttemptRecord {
  /** Consumer id, e.g. "c2.3" (slot 2, third process of that slot). */
  c: string;
  pid: number;
  p: number;
  o: number;
  k: string | null;
  /** Attempt number, 1 for the first. */
  a: number;
  /** Ownership epoch: one per partition assignment within the process. */
  ep: number;
  /** Start / end sequence numbers within the process. */
  s: number;
  e: number;
  /** Start / end Date.now(). */
  ts: number;
  te: number;
  ok: boolean;
}

/** A SIGKILL of a consumer process, with its last in-flight sample before the kill. */
export interface KillEvent {
  id: string;
  pid: number;
  at: number;
  /** getMetrics().totalInFlight in the last sample before the kill (0 if none yet). */
  inFlight: number;
  /** Age of that sample at the kill, in ms. */
  sampleAgeMs: number;
}

/** One owned partition in a metrics sample: partition, lastFetchedOffset, committedOffset (-1: none yet). */
export type PartitionSample = [partition: number, lastFetched: number, committed: number];

/** A getMetrics() sample printed by a consumer process. */
export interface ProcessSample {
  pid: number;
  t: number;
  inFlight: number;
  commits: number;
  owned: number[];
  partitions: PartitionSample[];
  /** The owned partitions paused at the sample: partition, pause reason, buffered and in-flight counts. */
  held?: [partition: number, reason: string, buffered: number, inFlight: number][];
}

/** A fault of the cluster as it happened (a broker restart, a broker killed and restarted). */
export interface FaultWindow {
  name: string;
  /** The node it took down. */
  victim: number;
  /** When it started (e.g. the kill) and when the cluster was whole again (Date.now()). */
  from: number;
  to: number;
  /** Named moments in between, e.g. leadersMoved, restarting, restarted. */
  marks: Record<string, number>;
  /**
   * While the victim was down and the cluster had moved its leaderships away (from `[0]` until its
   * restart at `[1]`): fetching its partitions must resume in there, from their new leaders.
   */
  followWindow?: [number, number];
  /** Partitions of the topic whose leader it took down. */
  partitions: number[];
}

/** A send the test's producer had acknowledged: when, and the last offset it wrote. */
export interface ProducerAck {
  t: number;
  partition: number;
  /** -1 when the client did not say. */
  offset: number;
}

/** How long one partition's fetching and committing stood still around a fault. */
export interface PartitionStall {
  partition: number;
  /** The fault took down its leader. */
  ledByVictim: boolean;
  /**
   * Longest time between two advances of its fetched offset (lastFetchedOffset, over whichever
   * process owned it) that overlaps the fault, ms; and when that stall ended (null: not before the
   * samples end, with acknowledged records still beyond it; once it holds every acknowledged
   * record, a partition the producer sent nothing more to is not stalled).
   */
  fetchMs: number;
  fetchResumedAt: number | null;
  /** The same for its committed offset (committedOffset in the consumers' metrics). */
  commitMs: number;
  commitResumedAt: number | null;
  /** First advance of its fetched offset within the fault's `followWindow`; null when none (or no window). */
  fetchedInFollowWindow: number | null;
  /**
   * The consumers' own part: the longest time from a send acknowledged in the fault's window (for a
   * partition it led: or from when its leadership had moved, if later) until the metrics showed its
   * records fetched, i.e. the time to follow a moved leader, ms; -1 without sends.
   */
  fetchDelayMs: number;
  /**
   * When fetching did not resume (`fetchResumedAt` null): what the samples show from its last
   * advance on (who owned it, whether it was paused), for the failure message.
   */
  trail?: string;
}

export interface StallReport {
  fault: string;
  victim: number;
  partitions: PartitionStall[];
  /** Longest fetch stall over the partitions it took the leader of, and over the others. */
  ledFetchMs: number;
  otherFetchMs: number;
  /** Longest fetch delay (acknowledged → fetched) over the partitions it led, and over the others. */
  ledDelayMs: number;
  otherDelayMs: number;
  /** Longest commit stall over all partitions. */
  commitMs: number;
}

/** A consumer process asked to close gracefully (it gives up all its partitions). */
export interface CloseEvent {
  pid: number;
  at: number;
}

/** Committed offsets of every partition, sampled between `tReq` and `tRes` (Date.now()). */
export interface CommitSample {
  tReq: number;
  tRes: number;
  committed: Committed[];
}

export interface VerifyInput {
  /** Every record of the topic, read back at the end. */
  log: readonly LogRecord[];
  /** Every record of the dead-letter topic. */
  dlq: readonly LogRecord[];
  records: readonly AttemptRecord[];
  kills: readonly KillEvent[];
  closes: readonly CloseEvent[];
  processSamples: readonly ProcessSample[];
  samples: readonly CommitSample[];
  endOffsets: readonly number[];
  finalCommitted: readonly Committed[];
  poisonKey: string;
  commitIntervalMs: number;
  sampleMs: number;
}

export interface KillBound {
  id: string;
  pid: number;
  /** Last totalInFlight sample before the kill. */
  inFlight: number;
  /**
   * Completions of the killed process since its last acknowledged commit could have been prepared:
   * the last commit interval (plus sampling slack) before the kill, or longer if its commits failed.
   */
  commitAllowance: number;
  /** Length of that window, ms; null when the process never had a commit acknowledged (its whole life). */
  windowMs: number | null;
  /** Duplicates whose earlier run was by this process within that window. */
  duplicates: number;
}

export interface VerifyReport {
  inLog: number;
  poison: { partition: number; offset: number } | null;
  /** Distinct offsets (poison excluded) with a successful attempt. */
  processed: number;
  /** Successful attempts in all (≥ processed). */
  executions: number;
  /** Offsets of the log (poison excluded) never processed successfully: "partition@offset". */
  lost: string[];
  /** Offsets processed successfully more than once. */
  duplicatedOffsets: number;
  /** Successful executions beyond the first of each offset. */
  extraExecutions: number;
  /** Extra executions whose earlier run was by a killed process in its window before the kill. */
  duplicatesFromKills: number;
  /** The others: the earlier run's process handed the partition over gracefully (rebalance, close). */
  duplicatesFromHandovers: number;
  kills: KillBound[];
  /** Σ over kills of in-flight + commit allowance. */
  duplicateBound: number;
  /** Partitions given up gracefully (rebalances, closes), seen in the processes' samples. */
  handovers: number;
  /**
   * Σ over graceful hand-overs of the process's in-flight then + its completions on the partitions
   * it gave up within one commit interval before (or since before its last acknowledged commit, when
   * its commits were failing): the most a late or failed revoke commit can repeat.
   */
  handoverBound: number;
  /** Within one ownership (pid + epoch), per key: an offset started below the previous, or before it finished. */
  orderViolations: string[];
  /** Same, per pid only (across re-assignments of a partition to the same process): informational. */
  orderViolationsPerPid: number;
  /** Ownerships seen (pid + epoch): shows the order check has groups to work on. */
  ownerships: number;
  /**
   * Attempts of one key that ran at the same time in two processes (wall clock), i.e. an old owner
   * still finishing a revoked partition while the new owner already runs it. The consumer group
   * protocol's revoke barrier rules it out (a killed process's attempts all ended before its kill);
   * the classic protocol's eager rebalance does not.
   */
  crossOwnerOverlaps: number;
  /** Records whose key differs from the log's key at that offset. */
  mismatchedKeys: string[];
  dlq: {
    /** Dead letters of the poison message. */
    records: number;
    firstTimestamp: number | null;
    /** First commit sample whose offset (or offset map) passes the poison offset. */
    firstPassingSample: { tReq: number; tRes: number; offset: number; byMap: boolean } | null;
    /** Whether that sample was answered before the dead letter was even created (a violation). */
    committedBeforeDeadLetter: boolean;
    /** Commit samples taken (sampling resolution for this check). */
    samples: number;
    /** When the poison message was written (its log timestamp). */
    poisonTimestamp: number | null;
    /** Commit samples taken between the poison message's write and its dead letter: each had to hold. */
    samplesWhileDeadLettering: number;
  };
  finalCommittedEqualsEnd: boolean;
  committedBackwards: number;
}

const tp = (partition: number, offset: number) => `${partition}@${offset}`;

/**
 * What the samples say of `partition` from `since` (its last advance) on: each change of who owns
 * it (pid, its fetched and committed offsets, a pause), times relative to the first sample.
 */
function trail(samples: readonly ProcessSample[], partition: number, since: number, lastAckAt: number): string {
  const start = samples.reduce((min, sample) => Math.min(min, sample.t), Infinity);
  const seconds = (t: number) => `${((t - start) / 1000).toFixed(1)}s`;
  const states: string[] = [];
  /** Per process: its last state of the partition, as a key that ignores offsets. */
  const previous = new Map<number, string>();
  for (const sample of [...samples].sort((a, b) => a.t - b.t)) {
    if (sample.t < since) continue;
    const owned = sample.owned.includes(partition);
    const part = sample.partitions.find(([p]) => p === partition);
    const held = sample.held?.find(([p]) => p === partition);
    const key = owned ? `${part === undefined} ${held?.[1]}` : "not owned";
    if (key === (previous.get(sample.pid) ?? "not owned")) continue;
    previous.set(sample.pid, key);
    const state = !owned ? "not owned" : (part ? `fetched ${part[1]} committed ${part[2]}` : "owned, not announced") +
      (held ? `, paused (${held[1]}, ${held[2]} buffered, ${held[3]} in flight)` : "");
    states.push(`${seconds(sample.t)} pid ${sample.pid} ${state}`);
  }
  const shown = states.length > 12 ? [...states.slice(0, 6), "…", ...states.slice(-6)] : states;
  return `last advance at ${seconds(since)}, last send acknowledged at ${seconds(lastAckAt)}; then ${
    shown.length > 0 ? shown.join("; ") : "no change of owner"
  }`;
}

/**
 * From the consumers' metrics samples: for each fault and partition, the longest time in which the
 * partition's fetched offset did not advance (and, apart, its committed offset) that overlaps the
 * fault's window, i.e. the stall while leadership (or the coordinator) moved. An advance is a
 * sample above every earlier sample of that partition, so a new owner starting again from the
 * committed offset after a rebalance does not count as progress.
 */
export function stalls(
  samples: readonly ProcessSample[],
  faults: readonly FaultWindow[],
  acks: readonly ProducerAck[],
): StallReport[] {
  const last = samples.reduce((max, sample) => Math.max(max, sample.t), 0);
  /** Per partition: sample times and the highest value seen up to each. */
  const envelopes = new Map<number, [t: number, max: number][]>();
  const advances = (field: 1 | 2) => {
    const points = new Map<number, [t: number, value: number][]>();
    for (const sample of samples) {
      for (const part of sample.partitions) {
        if (part[field] < 0) continue;
        let list = points.get(part[0]);
        if (!list) points.set(part[0], list = []);
        list.push([sample.t, part[field]]);
      }
    }
    const times = new Map<number, number[]>(); // per partition, when its value advanced
    const highest = new Map<number, number>();
    for (const [partition, list] of points) {
      list.sort((a, b) => a[0] - b[0]);
      let max = -Infinity;
      const out: number[] = [];
      const envelope: [number, number][] = [];
      for (const [t, value] of list) {
        if (value > max) {
          if (max !== -Infinity) out.push(t);
          max = value;
        }
        envelope.push([t, max]);
      }
      times.set(partition, out);
      highest.set(partition, max);
      if (field === 1) envelopes.set(partition, envelope);
    }
    return { times, highest };
  };
  const fetched = advances(1);
  const committed = advances(2);
  /** Per partition: its highest acknowledged offset, and when the last send was acknowledged. */
  const lastAcked = new Map<number, { offset: number; t: number }>();
  for (const { partition, offset, t } of acks) {
    if (offset < 0) continue;
    const last = lastAcked.get(partition);
    lastAcked.set(partition, { offset: Math.max(last?.offset ?? -1, offset), t: Math.max(last?.t ?? 0, t) });
  }
  // Whether records acknowledged to the partition are beyond the highest value seen (a fetched
  // offset; a committed one is the next offset): only then is a partition that stopped advancing
  // stalled. The producer may have stalled instead (its sends to a leader moving back to a
  // restarted broker can hang for seconds), leaving the consumers nothing to fetch.
  const behind = (partition: number, highest: Map<number, number>, next: 0 | 1) =>
    (lastAcked.get(partition)?.offset ?? -1) + next > (highest.get(partition) ?? -1);
  // The longest gap between consecutive advances that overlaps [from, to], and its end.
  const longest = (times: readonly number[] | undefined, from: number, to: number, standing: boolean) => {
    let ms = 0;
    let end: number | null = null;
    let previous: number | undefined;
    for (const t of times ?? []) {
      if (previous !== undefined && t >= from && previous <= to && t - previous > ms) {
        ms = t - previous;
        end = t;
      }
      previous = t;
    }
    // Still standing at the last sample, with records left to reach.
    if (standing && previous !== undefined && previous <= to) {
      if (last - previous > ms) {
        ms = last - previous;
        end = null;
      }
    }
    return { ms, end };
  };
  // From each acknowledged send of the window (or, when its leader was down, from when the
  // cluster had moved the leadership: the records were not to be had before) to the first sample
  // showing its last offset fetched.
  const delay = (partition: number, from: number, to: number, fetchableFrom: number) => {
    const envelope = envelopes.get(partition) ?? [];
    let ms = -1;
    for (const ack of acks) {
      if (ack.partition !== partition || ack.offset < 0 || ack.t < from || ack.t > to) continue;
      const since = Math.max(ack.t, fetchableFrom);
      const seen = envelope.find(([t, max]) => t >= since && max >= ack.offset);
      ms = Math.max(ms, (seen?.[0] ?? last) - since);
    }
    return ms;
  };
  const partitions = [...new Set([...fetched.times.keys(), ...committed.times.keys()])].sort((a, b) => a - b);
  return faults.map((fault) => {
    const led = new Set(fault.partitions);
    const list = partitions.map((partition): PartitionStall => {
      const fetch = longest(fetched.times.get(partition), fault.from, fault.to, behind(partition, fetched.highest, 0));
      const commit = longest(
        committed.times.get(partition),
        fault.from,
        fault.to,
        behind(partition, committed.highest, 1),
      );
      return {
        partition,
        ledByVictim: led.has(partition),
        fetchMs: fetch.ms,
        fetchResumedAt: fetch.end,
        commitMs: commit.ms,
        commitResumedAt: commit.end,
        fetchedInFollowWindow: fault.followWindow === undefined
          ? null
          : fetched.times.get(partition)?.find((t) => t >= fault.followWindow![0] && t < fault.followWindow![1]) ??
            null,
        fetchDelayMs: delay(
          partition,
          fault.from,
          fault.to,
          led.has(partition) ? fault.followWindow?.[0] ?? fault.from : fault.from,
        ),
        ...(fetch.end === null
          ? {
            trail: trail(
              samples,
              partition,
              fetched.times.get(partition)?.at(-1) ?? 0,
              lastAcked.get(partition)?.t ?? 0,
            ),
          }
          : {}),
      };
    });
    const max = (values: number[]) => values.reduce((a, b) => Math.max(a, b), 0);
    return {
      fault: fault.name,
      victim: fault.victim,
      partitions: list,
      ledFetchMs: max(list.filter((p) => p.ledByVictim).map((p) => p.fetchMs)),
      otherFetchMs: max(list.filter((p) => !p.ledByVictim).map((p) => p.fetchMs)),
      ledDelayMs: max(list.filter((p) => p.ledByVictim).map((p) => p.fetchDelayMs)),
      otherDelayMs: max(list.filter((p) => !p.ledByVictim).map((p) => p.fetchDelayMs)),
      commitMs: max(list.map((p) => p.commitMs)),
    };
  });
}

export function verify(input: VerifyInput): VerifyReport {
  const { log, records, poisonKey } = input;
  const keyAt = new Map<string, string | null>();
  let poison: { partition: number; offset: number } | null = null;
  let poisonTimestamp: number | null = null;
  for (const record of log) {
    keyAt.set(tp(record.partition, record.offset), record.key);
    if (record.key === poisonKey && poison === null) {
      poison = { partition: record.partition, offset: record.offset };
      poisonTimestamp = record.timestamp;
    }
  }

  // ---- processed at least once, duplicates ----
  const okRuns = new Map<string, AttemptRecord[]>();
  const mismatchedKeys: string[] = [];
  let executions = 0;
  for (const record of records) {
    const at = tp(record.p, record.o);
    if (keyAt.has(at) && keyAt.get(at) !== record.k) {
      mismatchedKeys.push(`${at}: log ${keyAt.get(at)}, record ${record.k}`);
    }
    if (!record.ok) continue;
    executions++;
    let runs = okRuns.get(at);
    if (!runs) okRuns.set(at, runs = []);
    runs.push(record);
  }
  const lost: string[] = [];
  for (const record of log) {
    if (record.key === poisonKey) continue;
    if (!okRuns.has(tp(record.partition, record.offset))) lost.push(tp(record.partition, record.offset));
  }

  // Samples per process, in time order.
  const samplesByPid = new Map<number, ProcessSample[]>();
  for (const sample of input.processSamples) {
    let list = samplesByPid.get(sample.pid);
    if (!list) samplesByPid.set(sample.pid, list = []);
    list.push(sample);
  }
  for (const list of samplesByPid.values()) list.sort((a, b) => a.t - b.t);
  const okByPid = new Map<number, AttemptRecord[]>();
  for (const record of records) {
    if (!record.ok) continue;
    let list = okByPid.get(record.pid);
    if (!list) okByPid.set(record.pid, list = []);
    list.push(record);
  }
  const completions = (pid: number, from: number, to: number, partitions?: ReadonlySet<number>) =>
    (okByPid.get(pid) ?? []).filter((r) => r.te > from && r.te <= to && (!partitions || partitions.has(r.p))).length;

  // One commit interval plus sampling slack; longer when the process's last acknowledged commit is
  // older (its commits were failing, e.g. during a rebalance).
  const slackMs = input.commitIntervalMs + 2 * input.sampleMs + 100;
  // Since when a process's completions at `at` may not be committed yet: one commit interval (plus
  // slack) back, or back to before its last acknowledged commit when that is older (its commits
  // were failing: a rebalance, a coordinator moving); -Infinity when it never had one acknowledged.
  const commitWindowStart = (pid: number, at: number): number => {
    const samples = (samplesByPid.get(pid) ?? []).filter((sample) => sample.t <= at);
    let lastAck = -Infinity;
    for (let i = 1; i < samples.length; i++) {
      if (samples[i]!.commits > samples[i - 1]!.commits) lastAck = samples[i - 1]!.t;
    }
    return lastAck === -Infinity ? -Infinity : Math.min(at - slackMs, lastAck - input.commitIntervalMs);
  };
  const killWindowStart = (kill: KillEvent): number => commitWindowStart(kill.pid, kill.at);
  const killsByPid = new Map(input.kills.map((kill) => [kill.pid, { kill, from: killWindowStart(kill) }]));
  const killBounds: KillBound[] = input.kills.map((kill) => {
    const from = killsByPid.get(kill.pid)!.from;
    return {
      id: kill.id,
      pid: kill.pid,
      inFlight: kill.inFlight,
      commitAllowance: completions(kill.pid, from, kill.at),
      windowMs: from === -Infinity ? null : kill.at - from,
      duplicates: 0,
    };
  });
  const boundByPid = new Map(killBounds.map((bound) => [bound.pid, bound]));

  // Graceful hand-overs: partitions a live process stopped owning between two samples, and all it
  // owned when it was asked to close.
  let handovers = 0;
  let handoverBound = 0;
  const closeByPid = new Map(input.closes.map((close) => [close.pid, close.at]));
  for (const [pid, samples] of samplesByPid) {
    for (let i = 0; i < samples.length; i++) {
      const before = samples[i]!;
      const after = samples[i + 1];
      const lost = new Set(after ? before.owned.filter((p) => !after.owned.includes(p)) : []);
      const closedAt = closeByPid.get(pid);
      if (!after && closedAt !== undefined) { for (const p of before.owned) lost.add(p); }
      if (lost.size === 0) continue;
      handovers += lost.size;
      const from = Math.max(commitWindowStart(pid, before.t), samples[0]!.t - slackMs);
      handoverBound += before.inFlight + completions(pid, from, after?.t ?? closedAt ?? before.t, lost);
    }
  }
  let duplicatedOffsets = 0;
  let extraExecutions = 0;
  let duplicatesFromKills = 0;
  let duplicatesFromHandovers = 0;
  for (const runs of okRuns.values()) {
    if (runs.length < 2) continue;
    duplicatedOffsets++;
    extraExecutions += runs.length - 1;
    runs.sort((a, b) => a.te - b.te);
    for (const earlier of runs.slice(0, -1)) {
      const killed = killsByPid.get(earlier.pid);
      if (killed && earlier.te > killed.from) {
        duplicatesFromKills++;
        boundByPid.get(earlier.pid)!.duplicates++;
      } else {
        duplicatesFromHandovers++;
      }
    }
  }
  const duplicateBound = killBounds.reduce((sum, bound) => sum + bound.inFlight + bound.commitAllowance, 0);

  // ---- order within one ownership ----
  const orderViolations: string[] = [];
  const check = (groups: Map<string, AttemptRecord[]>, out: string[] | null): number => {
    let count = 0;
    for (const [group, runs] of groups) {
      runs.sort((a, b) => a.s - b.s);
      for (let i = 1; i < runs.length; i++) {
        const previous = runs[i - 1]!;
        const current = runs[i]!;
        const backwards = current.o < previous.o;
        // Same key: the next message (or retry) starts only after the previous attempt ended.
        const overlapping = current.s < previous.e;
        if (!backwards && !overlapping) continue;
        count++;
        out?.push(
          `${group}: ${tp(current.p, current.o)} (attempt ${current.a}, s${current.s}) after ${
            tp(previous.p, previous.o)
          } ` +
            `(attempt ${previous.a}, s${previous.s}-e${previous.e}): ${
              backwards ? "offset went backwards" : "ran concurrently"
            }`,
        );
      }
    }
    return count;
  };
  const byOwnership = new Map<string, AttemptRecord[]>();
  const byPid = new Map<string, AttemptRecord[]>();
  const ownerships = new Set<string>();
  for (const record of records) {
    if (record.k === null || record.k === poisonKey) continue;
    ownerships.add(`${record.pid}/${record.ep}`);
    const ownershipKey = `pid ${record.pid} (${record.c}) epoch ${record.ep} key ${record.k}`;
    let group = byOwnership.get(ownershipKey);
    if (!group) byOwnership.set(ownershipKey, group = []);
    group.push(record);
    // Per pid: only first attempts, whose offsets must increase unless the partition came back.
    if (record.a !== 1) continue;
    const pidKey = `pid ${record.pid} key ${record.k}`;
    let pidGroup = byPid.get(pidKey);
    if (!pidGroup) byPid.set(pidKey, pidGroup = []);
    pidGroup.push(record);
  }
  check(byOwnership, orderViolations);
  let crossOwnerOverlaps = 0;
  const byKey = new Map<string, AttemptRecord[]>();
  for (const record of records) {
    if (record.k === null || record.k === poisonKey) continue;
    let list = byKey.get(record.k);
    if (!list) byKey.set(record.k, list = []);
    list.push(record);
  }
  for (const list of byKey.values()) {
    list.sort((a, b) => a.ts - b.ts);
    let latest: AttemptRecord | undefined; // the attempt ending last among those started so far
    for (const record of list) {
      if (latest && latest.pid !== record.pid && record.ts < latest.te) crossOwnerOverlaps++;
      if (!latest || record.te > latest.te) latest = record;
    }
  }
  const orderViolationsPerPid = check(byPid, null);

  // ---- dead letter and its commit ----
  const letters = poison === null
    ? []
    : input.dlq.filter((letter) =>
      letter.headers.get("pyrallel.source.partition") === String(poison!.partition) &&
      letter.headers.get("pyrallel.source.offset") === String(poison!.offset)
    );
  const firstTimestamp = letters.length === 0 ? null : Math.min(...letters.map((letter) => letter.timestamp));
  let firstPassingSample: VerifyReport["dlq"]["firstPassingSample"] = null;
  if (poison !== null) {
    for (const sample of input.samples) {
      const committed = sample.committed[poison.partition];
      if (!committed || committed.offset < 0) continue;
      const byOffset = committed.offset > poison.offset;
      const byMap = !byOffset && doneOffsets(committed.metadata, committed.offset).includes(poison.offset);
      if (byOffset || byMap) {
        firstPassingSample = { tReq: sample.tReq, tRes: sample.tRes, offset: committed.offset, byMap };
        break;
      }
    }
  }
  const committedBeforeDeadLetter = firstPassingSample !== null &&
    (firstTimestamp === null || firstPassingSample.tRes < firstTimestamp);

  // ---- final positions; committed offsets moving backwards (a late commit of a former owner) ----
  const finalCommittedEqualsEnd = input.endOffsets.every((end, partition) =>
    input.finalCommitted[partition]?.offset === end
  );
  let committedBackwards = 0;
  for (let i = 1; i < input.samples.length; i++) {
    const previous = input.samples[i - 1]!.committed;
    input.samples[i]!.committed.forEach((committed, partition) => {
      if (committed.offset >= 0 && committed.offset < (previous[partition]?.offset ?? -1)) committedBackwards++;
    });
  }

  return {
    inLog: log.length,
    poison,
    processed: okRuns.size - (poison !== null && okRuns.has(tp(poison.partition, poison.offset)) ? 1 : 0),
    executions,
    lost,
    duplicatedOffsets,
    extraExecutions,
    duplicatesFromKills,
    duplicatesFromHandovers,
    kills: killBounds,
    duplicateBound,
    handovers,
    handoverBound,
    orderViolations,
    orderViolationsPerPid,
    ownerships: ownerships.size,
    crossOwnerOverlaps,
    mismatchedKeys,
    dlq: {
      records: letters.length,
      firstTimestamp,
      firstPassingSample,
      committedBeforeDeadLetter,
      samples: input.samples.length,
      poisonTimestamp,
      samplesWhileDeadLettering: poisonTimestamp === null || firstTimestamp === null
        ? 0
        : input.samples.filter((sample) => sample.tReq >= poisonTimestamp && sample.tRes <= firstTimestamp).length,
    },
    finalCommittedEqualsEnd,
    committedBackwards,
  };
}
