// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
// and self time per source file. Profiles are not committed.
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/harness/run.ts --only noop
//   node bench/harness/profile-summary.ts /tmp/prof/CPU.*.cpuprofile [--top 30]
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const flag = (name: string) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};
const top = Number(flag("--top") ?? 30);
/** Also list who calls these functions (comma-separated names), by self time, 3 frames up. */
const callersOf = (flag("--callers") ?? "").split(",").filter(Boolean);
const files = args.filter((arg, i) => !arg.startsWith("--") && !args[i - 1]?.startsWith("--"));
if (files.length === 0) {
  console.error("usage: profile-summary.ts FILE.cpuprofile [--top N] [--callers fnA,fnB]");
  process.exit(2);
}

const shortUrl = (url: string): string => {
  if (!url) return "(native)";
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) return path.slice(nm + "node_modules/".length);
  const root = path.indexOf("/src/") >= 0 ? path.indexOf("/src/") + 1 : path.indexOf("/bench/") + 1;
  return root > 0 ? path.slice(root) : path;
};

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  // Self time per node from the samples and their time deltas (µs).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id)!;
    const name = callFrame.functionName || "(anonymous)";
    if (name === "(idle)") idle += us;
    const where = callFrame.url ? `${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}` : "";
    const key = where ? `${name}  ${where}` : name;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const fileKey = callFrame.url ? shortUrl(callFrame.url) : name.startsWith("(") ? name : "(native)";
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  console.log(
    `\n${file}: ${(total / 1e6).toFixed(2)} s sampled, ${
      (busy / 1e6).toFixed(2)
    } s busy (shares below are of busy time)\n`,
  );
  console.log(`top ${top} functions by self time:`);
  for (
    const [key, us] of [...byFunction].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(
      0,
      top,
    )
  ) {
    console.log(`  ${ms(us)} ${pct(us)}  ${key}`);
  }
  console.log(`\nself time by file:`);
  for (const [key, us] of [...byFile].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`  ${ms(us)} ${pct(us)}  ${key}`);
  }
  // Inclusive (total) time of the project's own functions (src/): self time of everything below them.
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const { callFrame } = byId.get(at)!;
      if (!callFrame.url.includes("/src/")) continue;
      const key = `${callFrame.functionName || "(anonymous)"}  ${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  console.log(`\ntotal (inclusive) time of src/ functions:`);
  for (const [key, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    console.log(`  ${ms(us)} ${pct(us)}  ${key}`);
  }
  if (callersOf.length > 0) {
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const label = (id: number) => {
      const { callFrame } = byId.get(id)!;
      return `${callFrame.functionName || "(anonymous)"}${
        callFrame.url ? `@${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}` : ""
      }`;
    };
    for (const name of callersOf) {
      const chains = new Map<string, number>();
      for (const [id, us] of selfUs) {
        if (byId.get(id)!.callFrame.functionName !== name) continue;
        const chain: string[] = [];
        for (let at = parent.get(id); at !== undefined && chain.length < 3; at = parent.get(at)) chain.push(label(at));
        const key = chain.join(" < ");
        chains.set(key, (chains.get(key) ?? 0) + us);
      }
      console.log(`\ncallers of ${name} (self time):`);
      for (const [key, us] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
        console.log(`  ${ms(us)} ${pct(us)}  < ${key}`);
      }
    }
  }
}
