// The client wraps a failed start in layers of retries ("joinGroup failed 4 times. findGroupCoordinator
// failed 4 times. …"); the reason a user can act on (wrong password, untrusted certificate, nothing
// listening) sits at the bottom. These helpers dig it out and say which option to fix.

/** The innermost errors of a client error tree (`errors` of MultipleErrors, then `cause`). */
export function rootCauses(error: unknown): Error[] {
  const found = new Map<string, Error>();
  const visit = (node: unknown, depth: number): void => {
    if (!(node instanceof Error) || depth > 20) return;
    const children = [
      ...((node as { errors?: unknown[] }).errors ?? []),
      ...(node.cause === undefined ? [] : [node.cause]),
    ];
    if (children.length === 0) found.set(node.message, node);
    for (const child of children) visit(child, depth + 1);
  };
  visit(error, 0);
  return [...found.values()];
}

const TLS_TRUST_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** What to change for a cause the user can fix, or `undefined` (e.g. a broker still starting). */
export function fixFor(cause: Error): string | undefined {
  const code = (cause as { code?: unknown }).code;
  if (code === "PLT_KFK_AUTHENTICATION" || /SASL authentication failed/i.test(cause.message)) {
    return "the broker rejected the credentials: check kafka.sasl (mechanism, username, password)";
  }
  if ((typeof code === "string" && TLS_TRUST_CODES.has(code)) || /certificate/i.test(cause.message)) {
    return "the broker's TLS certificate is not trusted: pass the CA that signed it as kafka.tls.ca " +
      "(and check that the broker's address matches the certificate)";
  }
  if (isUnknownTopic(cause)) return `the cluster has no such topic: ${CREATE_TOPIC_FIX}`;
  return undefined;
}

/** What to do about a subscribed topic the cluster does not have. */
export const CREATE_TOPIC_FIX = "create it before starting the consumer, or check kafka.topics";

/**
 * The library's metadata lookup of a topic the cluster does not have ("Unknown topic X.": its X is
 * a topic of the request, not always the missing one).
 */
export function isUnknownTopic(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("Unknown topic ");
}

/** One line naming every distinct root cause, with a fix where one is known. */
export function describeConnectionFailure(error: unknown): string {
  const causes = rootCauses(error);
  if (causes.length === 0) return error instanceof Error ? error.message : String(error);
  return causes.map((cause) => {
    const fix = fixFor(cause);
    return fix === undefined ? cause.message : `${cause.message} (${fix})`;
  }).join("; ");
}
