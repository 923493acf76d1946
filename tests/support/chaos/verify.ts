// The chaos suite's checks, as pure functions over what a run left behind: the log read back from
// the broker, the attempt records of every consumer process, the kills, and the committed offsets
// sampled during the run.
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

/** A getMetrics() sample printed by a consumer process. */
export interface ProcessSample {
  pid: number;
  t: number;
  inFlight: number;
  commits: number;
  owned: number[];
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
   * it gave up within one commit interval before: the most a late or failed revoke commit can repeat.
   */
  handoverBound: number;
  /** Within one ownership (pid + epoch), per key: an offset started below the previous, or before it finished. */
  orderViolations: string[];
  /** Same, per pid only (across re-assignments of a partition to the same process): informational. */
  orderViolationsPerPid: number;
  /** Ownerships seen (pid + epoch): shows the order check has groups to work on. */
  ownerships: number;
  /**
   * Informational: attempts of one key that ran at the same time in two processes (wall clock), i.e.
   * an old owner still finishing a revoked partition while the new owner already runs it.
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
  const killWindowStart = (kill: KillEvent): number => {
    const samples = (samplesByPid.get(kill.pid) ?? []).filter((sample) => sample.t <= kill.at);
    let lastAck = -Infinity;
    for (let i = 1; i < samples.length; i++) {
      if (samples[i]!.commits > samples[i - 1]!.commits) lastAck = samples[i - 1]!.t;
    }
    return lastAck === -Infinity ? -Infinity : Math.min(kill.at - slackMs, lastAck - input.commitIntervalMs);
  };
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
      handoverBound += before.inFlight + completions(pid, before.t - slackMs, after?.t ?? closedAt ?? before.t, lost);
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
