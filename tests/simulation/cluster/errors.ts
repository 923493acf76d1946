// The errors the fake cluster rejects with: named after Kafka's error codes, each carrying
// `retriable` as our port's `ClientError` does, so the adapter's retry decisions are exercised.
import type { ClientError } from "../../../src/adapters/group/kafka-client.ts";

/** A Kafka protocol error: `name` is the Kafka error code's name (e.g. `UNKNOWN_MEMBER_ID`). */
export class SimulatedKafkaError extends Error implements ClientError {
  readonly retriable: boolean;
  constructor(name: string, message: string, retriable: boolean) {
    super(message);
    this.name = name;
    this.retriable = retriable;
  }
}

/** The member is not (or no longer) in the group: it was fenced, left, or never joined. */
export function unknownMemberId(memberId: string): SimulatedKafkaError {
  return new SimulatedKafkaError("UNKNOWN_MEMBER_ID", `member "${memberId}" is not in the group`, false);
}

/** The request carried another generation than the group's. */
export function illegalGeneration(sent: number, current: number): SimulatedKafkaError {
  return new SimulatedKafkaError(
    "ILLEGAL_GENERATION",
    `generation ${sent} is not the group's generation ${current}`,
    false,
  );
}

/** The group is between JoinGroup and SyncGroup. */
export function rebalanceInProgress(): SimulatedKafkaError {
  return new SimulatedKafkaError("REBALANCE_IN_PROGRESS", "the group is rebalancing", true);
}

/** The group coordinator is down or moving. */
export function coordinatorNotAvailable(): SimulatedKafkaError {
  return new SimulatedKafkaError("COORDINATOR_NOT_AVAILABLE", "the group coordinator is not available", true);
}

/** Commit metadata longer than the broker's `offset.metadata.max.bytes`. */
export function offsetMetadataTooLarge(length: number, max: number): SimulatedKafkaError {
  return new SimulatedKafkaError(
    "OFFSET_METADATA_TOO_LARGE",
    `offset metadata of ${length} characters exceeds offset.metadata.max.bytes (${max})`,
    false,
  );
}

/** The broker does not host this partition (yet). */
export function unknownTopicOrPartition(topic: string, partition: number): SimulatedKafkaError {
  return new SimulatedKafkaError(
    "UNKNOWN_TOPIC_OR_PARTITION",
    `this server does not host ${topic}[${partition}]`,
    true,
  );
}

/** The fetch went to a broker that no longer leads the partition. */
export function notLeader(topic: string, partition: number, node: number): SimulatedKafkaError {
  return new SimulatedKafkaError(
    "NOT_LEADER_OR_FOLLOWER",
    `node ${node} is not the leader of ${topic}[${partition}]`,
    true,
  );
}

/** Too few in-sync replicas to acknowledge a produce with acks=all. */
export function notEnoughReplicas(): SimulatedKafkaError {
  return new SimulatedKafkaError("NOT_ENOUGH_REPLICAS", "not enough in-sync replicas", true);
}

/** The connection to a broker dropped. */
export function networkError(node: number): SimulatedKafkaError {
  return new SimulatedKafkaError("NETWORK_EXCEPTION", `connection to node ${node} closed`, true);
}

/** The request got no answer in time (its effect did not happen). */
export function requestTimedOut(): SimulatedKafkaError {
  return new SimulatedKafkaError("REQUEST_TIMED_OUT", "the request timed out", true);
}

/** Bad credentials: no retry can help. */
export function saslAuthenticationFailed(): SimulatedKafkaError {
  return new SimulatedKafkaError(
    "SASL_AUTHENTICATION_FAILED",
    "SASL authentication failed: invalid credentials with SASL mechanism PLAIN",
    false,
  );
}

/** A call on (or pending at) a closed client. */
export function clientClosed(): SimulatedKafkaError {
  return new SimulatedKafkaError("CLIENT_CLOSED", "client closed", false);
}

/** Consumer protocol: the heartbeat's member epoch is not the member's (it must rejoin with epoch 0). */
export function fencedMemberEpoch(sent: number, current: number): SimulatedKafkaError {
  return new SimulatedKafkaError(
    "FENCED_MEMBER_EPOCH",
    `member epoch ${sent} is fenced: the coordinator knows epoch ${current}`,
    false,
  );
}

/** Consumer protocol: a commit with another member epoch than the member's current one. */
export function staleMemberEpoch(sent: number, current: number): SimulatedKafkaError {
  return new SimulatedKafkaError(
    "STALE_MEMBER_EPOCH",
    `member epoch ${sent} is stale: the member is at ${current}`,
    true,
  );
}

/** Retrying cannot help: the member is not allowed into the group (membership fails for good). */
export function groupAuthorizationFailed(): SimulatedKafkaError {
  return new SimulatedKafkaError("GROUP_AUTHORIZATION_FAILED", "group authorization failed (simulated)", false);
}
