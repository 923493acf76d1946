// Serves a fetch handler (a Hono app's `fetch`) with the running runtime's own HTTP server on an
// ephemeral port of 127.0.0.1: Deno.serve on Deno, Bun.serve on Bun, @hono/node-server on Node.

type Fetch = (request: Request) => Response | Promise<Response>;

/** A listening server: its base URL (no trailing slash) and how to stop it. */
export interface Served {
  url: string;
  stop(): Promise<void>;
}

const runtime = globalThis as unknown as {
  Deno?: {
    serve(
      options: { port: number; hostname: string; onListen?: () => void },
      fetch: Fetch,
    ): { addr: { port: number }; shutdown(): Promise<void> };
  };
  Bun?: {
    serve(options: { port: number; hostname: string; fetch: Fetch }): { port: number; stop(force?: boolean): void };
  };
};

/** A real socket each time, as users serve the metrics app. */
export async function serve(fetch: Fetch): Promise<Served> {
  if (runtime.Deno) {
    const server = runtime.Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, fetch);
    return { url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
  }
  if (runtime.Bun) {
    const server = runtime.Bun.serve({ port: 0, hostname: "127.0.0.1", fetch });
    return { url: `http://127.0.0.1:${server.port}`, stop: async () => server.stop(true) };
  }
  const { serve: nodeServe } = await import("@hono/node-server");
  return new Promise((resolve) => {
    const server = nodeServe({ fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        stop: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}
