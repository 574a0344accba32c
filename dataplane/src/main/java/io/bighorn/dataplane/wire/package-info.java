/**
 * The engine↔replica wire protocol: {@link io.bighorn.dataplane.wire.ReplicaServer} serves one replica over
 * TCP, {@link io.bighorn.dataplane.wire.WireReplicaEndpoint} is the engine's pipelined client, and
 * {@link io.bighorn.dataplane.wire.ClusterSecret} is the shared secret both prove they hold. The frame
 * layout is in {@code Frame}; the protocol is described in {@code docs/architecture.md}.
 */
package io.bighorn.dataplane.wire;
