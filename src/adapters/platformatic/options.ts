// What the client is configured with, and its conversion into @platformatic/kafka's connection
// options (shared by the consumer and the dead-letter producer).
import type { BaseOptions } from "@platformatic/kafka";
import type { ConnectionOptions as TLSConnectionOptions } from "node:tls";
import type { GroupProtocol } from "../group/kafka-client.ts";

/** TLS settings passed to the client's connections. PEM strings or bytes. */
export interface ClientTls {
  readonly ca?: string | Uint8Array | (string | Uint8Array)[];
  readonly cert?: string | Uint8Array;
  readonly key?: string | Uint8Array;
  readonly passphrase?: string;
  readonly rejectUnauthorized?: boolean;
  readonly servername?: string;
}

/** SASL mechanism and credentials. */
export interface ClientSasl {
  readonly mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" | "OAUTHBEARER";
  readonly username?: string;
  readonly password?: string;
  readonly token?: string;
}

/** What the @platformatic/kafka client needs to connect and join. */
export interface PlatformaticClientOptions {
  readonly clientId: string;
  readonly bootstrapBrokers: readonly string[];
  readonly groupId: string;
  readonly groupInstanceId?: string | undefined;
  /**
   * `"consumer"`: KIP-848's protocol, with our own membership and its revoke barrier (Kafka 4.0+).
   * `"classic"` (when omitted): the library's eager join/sync membership.
   */
  readonly groupProtocol?: GroupProtocol | undefined;
  /** Classic protocol only: under the consumer protocol the broker's group configuration sets it. */
  readonly sessionTimeoutMs: number;
  /** Consumer protocol: how long a revocation may take before the group fences the member. */
  readonly rebalanceTimeoutMs: number;
  /** Classic protocol only: under the consumer protocol the coordinator says when to heartbeat. */
  readonly heartbeatIntervalMs: number;
  readonly tls?: true | ClientTls | undefined;
  readonly sasl?: ClientSasl | undefined;
  /** Check each fetched record batch's CRC-32C (when omitted: `false`). */
  readonly checkCrcs?: boolean | undefined;
}

/** Brokers, client id and security settings, as the library's client options take them. */
export type LibraryConnectionOptions = Pick<BaseOptions, "clientId" | "bootstrapBrokers" | "tls" | "sasl">;

/** Brokers, client id and security settings shared by the consumer and the producer. */
export function connectionOptions(options: PlatformaticClientOptions): LibraryConnectionOptions {
  return {
    clientId: options.clientId,
    bootstrapBrokers: [...options.bootstrapBrokers],
    ...(options.tls ? { tls: toLibraryTls(options.tls) } : {}),
    ...(options.sasl ? { sasl: { ...options.sasl } } : {}),
  };
}

/** Our runtime-neutral TLS options, in the Buffer form the client's `node:tls` expects. */
function toLibraryTls(tls: true | ClientTls): TLSConnectionOptions {
  if (tls === true) return {};
  const bytes = (
    value: string | Uint8Array,
  ): string | Buffer => (typeof value === "string" ? value : Buffer.from(value));
  return {
    ...(tls.ca === undefined ? {} : { ca: Array.isArray(tls.ca) ? tls.ca.map(bytes) : bytes(tls.ca) }),
    ...(tls.cert === undefined ? {} : { cert: bytes(tls.cert) }),
    ...(tls.key === undefined ? {} : { key: bytes(tls.key) }),
    ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
    ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
  };
}

/** "host:port" (as validated with the options) as the client's broker object. */
export function toBroker(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(":");
  return { host: address.slice(0, separator), port: Number(address.slice(separator + 1)) };
}
