import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeConnectionFailure, rootCauses } from "../../src/adapters/platformatic/connection-errors.ts";

/** Shaped like the client's MultipleErrors: child errors under `errors`. */
function multiple(message: string, errors: Error[]): Error {
  return Object.assign(new Error(message), { errors });
}

function withCode(message: string, code: string, cause?: Error): Error {
  return Object.assign(new Error(message, cause === undefined ? {} : { cause }), { code });
}

describe("connection errors", () => {
  const auth = () =>
    withCode(
      "Connection to 127.0.0.1:9094 failed.",
      "PLT_KFK_NETWORK",
      withCode("SASL authentication failed.", "PLT_KFK_AUTHENTICATION"),
    );

  test("the client's retry layers are peeled down to distinct root causes", () => {
    const tree = multiple("joinGroup failed 4 times.", [
      multiple("findGroupCoordinator failed 4 times.", [
        multiple("Cannot connect to any broker.", [auth()]),
        multiple("Cannot connect to any broker.", [auth()]),
      ]),
    ]);
    assert.deepEqual(rootCauses(tree).map((error) => error.message), ["SASL authentication failed."]);
    assert.equal(
      describeConnectionFailure(tree),
      "SASL authentication failed. (the broker rejected the credentials: check kafka.sasl (mechanism, username, password))",
    );
  });

  test("an untrusted certificate names kafka.tls.ca; an unknown cause is passed on as it is", () => {
    const tls = withCode("self-signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT");
    assert.match(describeConnectionFailure(multiple("x", [tls])), /^self-signed certificate \(.*kafka\.tls\.ca/);
    const refused = withCode("connect ECONNREFUSED 127.0.0.1:9", "ECONNREFUSED");
    assert.equal(
      describeConnectionFailure(multiple("Cannot connect to any broker.", [refused])),
      "connect ECONNREFUSED 127.0.0.1:9",
    );
    assert.equal(describeConnectionFailure("not an error"), "not an error");
  });

  test("a subscribed topic the cluster does not have names the fix", () => {
    assert.equal(
      describeConnectionFailure(multiple("joinGroup failed.", [new Error("Unknown topic orders.")])),
      "Unknown topic orders. (the cluster has no such topic: create it before starting the consumer, or check kafka.topics)",
    );
  });
});
