// Field schemas the option schema is built from. Each carries its message: the field's name, what is
// wrong and the fix, never the value given.
import * as v from "valibot";

/** Message for a strict object: an unknown key is most often a typo, so say which. */
export function objectMessage(field: string, mustBe: string): (issue: v.StrictObjectIssue) => string {
  return (issue) =>
    issue.expected === "never"
      ? `unknown option ${field ? `${field}.` : ""}${
        String(issue.input)
      }: check its spelling against the documented options`
      : `${field || "options"} must be ${mustBe}`;
}

/** A whole number of at least `min`; `hint` follows the message, e.g. where to look the value up. */
export function int(field: string, min: number, hint = ""): v.GenericSchema<number> {
  return v.pipe(
    v.number(`${field} must be a number`),
    v.integer(`${field} must be a whole number`),
    v.minValue(min, `${field} must be ${min === 0 ? "0 or more" : `at least ${min}`}${hint}`),
  );
}

/** A string with at least one character; `hint` says what it names. */
export function nonEmptyString(field: string, hint: string): v.GenericSchema<string> {
  return v.pipe(v.string(`${field} must be a string (${hint})`), v.nonEmpty(`${field} must not be empty (${hint})`));
}

/** One bootstrap broker, `host:port`. */
export const brokerAddress: v.GenericSchema<string> = v.pipe(
  v.string('each broker must be a string like "127.0.0.1:9092"'),
  v.regex(/^[^\s:]+:\d{1,5}$/, 'each broker must look like "host:port", e.g. "127.0.0.1:9092"'),
);

/** A topic name as Kafka allows it: up to 249 of [a-zA-Z0-9._-], and not "." or "..". */
export const topicName: v.GenericSchema<string> = v.pipe(
  v.string("each topic must be a string"),
  v.regex(
    /^(?!\.{1,2}$)[a-zA-Z0-9._-]{1,249}$/,
    'each topic must be a Kafka topic name: 1 to 249 of the characters a-z A-Z 0-9 . _ - (and not "." or "..")',
  ),
);

/** PEM text or its bytes (TLS material). */
export function pem(field: string): v.GenericSchema<string | Uint8Array> {
  return v.union(
    [v.string(), v.custom<Uint8Array>((value) => value instanceof Uint8Array)],
    `${field} must be a PEM string or bytes (Uint8Array)`,
  );
}
