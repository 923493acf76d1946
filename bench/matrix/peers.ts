// Peer consumers as rows of the shape matrix, on the same broker and topics: Confluent's Parallel
// Consumer (Java) and Pyrallel (Python). Each is set up on first use by peers/setup.sh (cached under
// bench/.cache/peers) and runs one process per measurement; a peer that cannot be set up is skipped
// with its reason.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export type PeerName = "java" | "python";
export const PEER_NAMES: PeerName[] = ["java", "python"];

export interface PeerJob {
  mode: "raw" | "consume";
  brokers: string[];
  topic: string;
  target: number;
  handlerMs: number;
  concurrency: number;
  /** Ends the run this long after the first handler call (consume mode). */
  windowSeconds?: number;
  /** Also measure the handler time of this key's messages (Zipf cells). */
  hotKey?: string;
  stallSeconds: number;
}

/** What a peer's runner prints as `RESULT {…}`. */
export interface PeerOutcome {
  messages?: number;
  /** From the consumer's start to the end. */
  seconds?: number;
  /** From the first record (raw) or first handler call to the end. */
  steadySeconds?: number;
  firstMessageSeconds?: number;
  handlerMeanMs?: number | null;
  hotHandlerMeanMs?: number | null;
  error?: string;
}

export interface Peer {
  name: PeerName;
  /** e.g. "confluent-pc 0.5.3.3" */
  label: string;
  /** The consumer's configuration, for the report. */
  config: string;
  /** Its raw baseline, for the report. */
  rawConfig: string;
  run(job: PeerJob): Promise<PeerOutcome>;
}

const here = fileURLToPath(new URL("./peers/", import.meta.url));

function exec(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    const timer = options.timeoutMs
      ? setTimeout(() => {
        stderr += `\n(killed after ${options.timeoutMs! / 1000} s)`;
        child.kill("SIGKILL");
      }, options.timeoutMs)
      : undefined;
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${stderr}\n${error.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

function lastLine(text: string): string {
  return text.trim().split("\n").filter(Boolean).at(-1) ?? "";
}

function parseOutcome(stdout: string, stderr: string, code: number): PeerOutcome {
  const line = stdout.split("\n").reverse().find((l) => l.startsWith("RESULT "));
  if (!line) return { error: `exit code ${code}, no result: ${lastLine(stderr).slice(0, 300)}` };
  try {
    return JSON.parse(line.slice("RESULT ".length)) as PeerOutcome;
  } catch {
    return { error: `unreadable result: ${line.slice(0, 200)}` };
  }
}

/**
 * The process's time limit: the window plus start-up, close and slack; a whole-topic read (raw,
 * Zipf cells) may be slow but is ended by the runner's own stall timeout, so only a hang is cut.
 */
function timeoutMs(job: PeerJob): number {
  if (job.windowSeconds === undefined || job.mode === "raw") return 30 * 60_000;
  return (job.windowSeconds + job.stallSeconds * 2 + 60) * 1000;
}

/** Sets up a peer; a string is the reason it cannot run here. */
export async function setupPeer(name: PeerName): Promise<Peer | string> {
  const setup = await exec("bash", [`${here}setup.sh`, name], { timeoutMs: 15 * 60_000 });
  if (setup.code !== 0) return lastLine(setup.stderr) || `setup.sh ${name} failed (exit code ${setup.code})`;
  const values = Object.fromEntries(
    setup.stdout.split("\n").filter((l) => l.includes("=")).map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  if (name === "java") {
    const classpath = values.CLASSPATH;
    if (!classpath) return "setup.sh java printed no CLASSPATH";
    return {
      name,
      label: `confluent-pc ${values.VERSION}`,
      config: "Java 17, KEY ordering, maxConcurrency 100, handler Thread.sleep",
      rawConfig: "KafkaConsumer 3.9.1 poll loop, count only, default fetch sizes",
      run: async (job) => {
        const args = [
          "-Xms256m",
          "-Xmx1g",
          "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
          "-cp",
          classpath,
          "PcRunner",
          "--mode",
          job.mode === "raw" ? "raw" : "pc",
          ...commonArgs(job),
        ];
        const out = await exec("java", args, { timeoutMs: timeoutMs(job) });
        return parseOutcome(out.stdout, out.stderr, out.code);
      },
    };
  }
  const python = values.PYTHON;
  if (!python) return "setup.sh python printed no PYTHON";
  // pydantic-settings reads KAFKA_*/EXECUTION_*/… variables and a .env in the working directory:
  // run it where there is none, without such variables.
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(KAFKA|EXECUTION|PARALLEL_CONSUMER|PROCESS|METRICS)_/i.test(key)) env[key] = value;
  }
  return {
    name,
    label: `pyrallel-py ${values.VERSION}`,
    config: "Python 3.12, key_hash ordering, async engine, max_in_flight 100 (its concurrency)",
    rawConfig: "confluent-kafka Consumer.consume(1000) loop, count only, default fetch sizes",
    run: async (job) => {
      const args = [
        `${here}pyrallel_runner.py`,
        "--mode",
        job.mode === "raw" ? "raw" : "pyrallel",
        ...commonArgs(job),
      ];
      const out = await exec(python, args, { cwd: here, env, timeoutMs: timeoutMs(job) });
      return parseOutcome(out.stdout, out.stderr, out.code);
    },
  };
}

function commonArgs(job: PeerJob): string[] {
  return [
    "--brokers",
    job.brokers.join(","),
    "--topic",
    job.topic,
    "--target",
    String(job.target),
    "--handler-ms",
    String(job.handlerMs),
    "--concurrency",
    String(job.concurrency),
    "--window",
    String(job.windowSeconds ?? 0),
    "--stall",
    String(job.stallSeconds),
    ...(job.hotKey === undefined ? [] : ["--hot-key", job.hotKey]),
  ];
}
