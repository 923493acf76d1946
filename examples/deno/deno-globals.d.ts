// For type checks inside this repo only (`npm run typecheck`, `deno check examples/deno/main.ts`):
// the repo's tsconfig.json has Node and Bun types but no Deno types. These are the few Deno APIs
// that main.ts uses; at run time Deno provides the real ones. Not needed in your own Deno project.
declare namespace Deno {
  function serve(
    options: { port?: number; hostname?: string },
    handler: (request: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
  function addSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
}
