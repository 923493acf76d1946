// Handlers may throw anything: an Error, a string, undefined, an object without a prototype whose
// String() conversion throws, an Error whose `message` getter throws. Describing what was thrown
// must never throw in turn, or a failure report becomes an unhandled rejection.

/** What was thrown, as an Error: `value` itself when it is one, else an Error describing it. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  const error = new Error(describeThrown(value), { cause: value });
  error.name = "NonErrorThrown";
  return error;
}

/** Text for anything thrown: an Error's message, else its string form; never throws. */
export function describeThrown(value: unknown): string {
  try {
    if (value instanceof Error) return textOf(value.message);
    return String(value);
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return "(a value that cannot be described)";
    }
  }
}

/** An Error's name; never throws. */
export function nameOfThrown(value: unknown): string {
  try {
    return value instanceof Error ? textOf(value.name) || "Error" : "NonErrorThrown";
  } catch {
    return "Error";
  }
}

function textOf(value: unknown): string {
  return typeof value === "string" ? value : String(value);
}
