import type { Delays } from "../delays.ts";
import { deadLetterRecord, withoutPayload } from "../dead-letter.ts";
import { DeadLetterFailedError, MessageFailedError, type PyrallelError } from "../errors.ts";
import { type KafkaAdapter, type OutgoingRecord, RecordTooLargeError } from "../ports/kafka-adapter.ts";
import { retryDelayMs } from "../retry-policy.ts";
import type { ControlPlaneSettings } from "../settings.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { WorkItem } from "./partition-state.ts";
import type { Counts } from "./statistics.ts";

/** The settings the failure path acts on. */
export type FailureSettings = Pick<ControlPlaneSettings, "retry" | "failurePolicy" | "deadLetter" | "random">;

/** What the failure path asks of the control plane. */
export interface FailureHost {
  /** The retry delay is over: the message may run again. */
  requeue(item: WorkItem): void;
  /** The message is done for good (skipped or dead-lettered). */
  finish(item: WorkItem): void;
  /** Something was released or ended: start what can start, re-check what waits. */
  released(): void;
  /** `failurePolicy: "stop"`: the consumer stops. */
  stop(): void;
  /** Reports a failure as an `error` event. */
  report(error: PyrallelError): void;
}

/**
 * What happens to a message whose attempt failed: a retry after a backoff, and once retries are
 * used up (or its key is cooling) the failure policy: dead letter, skip or stop. Every final
 * failure is reported; nothing is dropped silently.
 */
export class FailurePath {
  readonly #settings: FailureSettings;
  readonly #delays: Delays;
  readonly #publish: KafkaAdapter["publish"];
  readonly #counts: Counts;
  readonly #lifecycle: Pick<Lifecycle, "phase" | "startsWork">;
  readonly #host: FailureHost;

  constructor(
    settings: FailureSettings,
    delays: Delays,
    publish: KafkaAdapter["publish"],
    counts: Counts,
    lifecycle: Pick<Lifecycle, "phase" | "startsWork">,
    host: FailureHost,
  ) {
    this.#lifecycle = lifecycle;
    this.#settings = settings;
    this.#delays = delays;
    this.#publish = publish;
    this.#counts = counts;
    this.#host = host;
  }

  /** An attempt failed (its handler threw, or the attempt was aborted). */
  attemptFailed(item: WorkItem, error: unknown): void {
    const state = item.partition;
    this.#counts.failedAttempts++;
    if (!this.#decides(item)) return this.#host.released();
    const { retry, random } = this.#settings;
    if (item.attempt > retry.maxRetries) return this.#exhausted(item, error, true);
    this.#counts.retries++;
    const endWait = state.hold("retry");
    void this.#delays.wait(retryDelayMs(retry, item.attempt, random)).then((fired) => {
      endWait();
      if (fired && state.phase === "active") this.#host.requeue(item);
      else this.#host.released();
    });
    this.#host.released();
  }

  /** The message is refused without running (its key is cooling): straight to the failure policy. */
  refused(item: WorkItem, reason: PyrallelError): void {
    if (!this.#decides(item)) return this.#host.released();
    this.#exhausted(item, reason, false);
  }

  /** While closing or revoking, a failed message stays incomplete: it runs again later. */
  #decides(item: WorkItem): boolean {
    return this.#lifecycle.phase === "running" && item.partition.phase === "active";
  }

  /**
   * Retries are used up, or the message was refused without running: the failure policy decides,
   * and the failure is always reported. Only messages that ran count towards a key's cooldown.
   * A failed batch (`item` stands for it) is decided message by message, each reported on its own;
   * each of its keys counts one failure.
   */
  #exhausted(item: WorkItem, error: unknown, ran: boolean): void {
    const items = item.batch?.items ?? [item];
    const attempts = ran ? item.attempt : 0;
    const failedLanes = new Set<string>();
    for (const failed of items) {
      if (ran && failed.lane !== null && !failedLanes.has(failed.lane)) {
        failedLanes.add(failed.lane);
        failed.partition.poison?.recordFailure(failed.lane);
      }
      this.#host.report(new MessageFailedError(failed.message, attempts, error));
    }
    switch (this.#settings.failurePolicy) {
      case "skip":
        this.#counts.skipped += items.length;
        for (const skipped of items) this.#host.finish(skipped);
        return;
      case "deadLetter":
        return void this.#deadLetter(items, error, attempts);
      case "stop":
        // The offsets stay uncommitted so the messages run again after a restart.
        return this.#host.stop();
    }
  }

  /**
   * Publishes the dead letters (one per message, in one request), retrying with backoff while the
   * partition is owned and the consumer still works; the offsets complete only once the broker
   * acknowledged them, so until then they block the commit.
   */
  async #deadLetter(items: readonly WorkItem[], error: unknown, attempts: number): Promise<void> {
    const state = items[0]!.partition;
    const settings = this.#settings.deadLetter!;
    const records = items.map((item) => deadLetterRecord(settings, item.message, attempts, error));
    const topic = records[0]!.topic;
    const endWait = state.hold("deadLetter");
    const owned = () => state.phase === "active" && this.#lifecycle.startsWork;
    let published = false;
    for (let attempt = 1; !published; attempt++) {
      try {
        await this.#publishLetters(records);
        this.#counts.deadLettered += records.length;
        published = true;
      } catch (publishError) {
        this.#counts.deadLetterFailures++;
        this.#host.report(new DeadLetterFailedError(topic, publishError));
        if (!owned()) break;
        const delay = retryDelayMs(this.#settings.retry, attempt, this.#settings.random);
        if (!(await this.#delays.wait(delay)) || !owned()) break;
      }
    }
    endWait();
    if (published && state.phase !== "revoked") { for (const item of items) this.#host.finish(item); }
    else this.#host.released();
  }

  /**
   * Publishes dead letters. A request the broker refuses as too large would be refused for ever,
   * holding the partition's commit: its letters go again one at a time, and one still too large
   * goes without the message's payload (`pyrallel.payload.omitted`), its provenance headers naming
   * the source offset.
   */
  async #publishLetters(records: readonly OutgoingRecord[]): Promise<void> {
    try {
      return await this.#publish(records);
    } catch (error) {
      if (!(error instanceof RecordTooLargeError)) throw error;
    }
    for (const record of records) {
      if (records.length > 1) {
        try {
          await this.#publish([record]);
          continue;
        } catch (error) {
          if (!(error instanceof RecordTooLargeError)) throw error;
        }
      }
      await this.#publish([withoutPayload(record)]);
    }
  }
}
