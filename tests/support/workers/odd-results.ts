// Handler outcomes that once broke a worker: thenables whose `then` misbehaves, and thrown values
// that cannot be described the usual way (String() or a getter throws). Run synchronously from
// the handler, not inside an async function, which would adopt them before runWorker sees them.

/** A thrown object whose String() conversion throws (it has no toString). */
const nullProto = (): unknown => Object.create(null);

/** An Error whose `message` and `stack` getters throw. */
function unreadableError(): Error {
  const error = new Error("unreadable");
  const fail = (): never => {
    throw new Error("getter threw");
  };
  Object.defineProperty(error, "message", { get: fail });
  Object.defineProperty(error, "stack", { get: fail });
  return error;
}

/** The handler's result for `op`, or undefined when `op` is not one of these. */
export const ODD_RESULTS: Readonly<Record<string, () => unknown>> = {
  "thenable-ok": () => ({ then: (resolve: () => void) => resolve() }),
  "thenable-throws": () => ({
    then() {
      throw new RangeError("then threw");
    },
  }),
  "thenable-getter-throws": () => ({
    get then(): unknown {
      throw new RangeError("then getter threw");
    },
  }),
  // `then` returns without ever calling back: the task simply keeps running.
  "thenable-never": () => ({ then: () => undefined }),
  "thenable-rejects-null-proto": () => ({
    then: (_: unknown, reject: (error: unknown) => void) => reject(nullProto()),
  }),
  "throw-null-proto": () => {
    throw nullProto();
  },
  "throw-unreadable": () => {
    throw unreadableError();
  },
};
