// For this repo's `npm run typecheck` only: tsc runs with Node and Bun types, which know nothing of
// Deno. These are the few Deno APIs that examples/deno/main.ts uses. Deno itself ignores this file.
declare namespace Deno {
  function serve(
    options: { port?: number; hostname?: string },
    handler: (request: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
  function addSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  function exit(code?: number): never;
}
