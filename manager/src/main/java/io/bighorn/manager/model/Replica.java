package io.bighorn.manager.model;

import java.time.Instant;

/**
 * One copy of a volume on one disk of one node. Its name is also its data directory on that disk.
 *
 * @param spec where it lives and whether it has failed: {@code failedAt} is set when the engine, the node or the
 *     agent reports it lost; a failed replica is not served to the engine until it is resynced or deleted
 * @param status what the node's agent last reported
 */
public record Replica(Meta meta, Spec spec, Status status) implements Resource<Replica> {

    /**
     * Where the replica lives and whether it failed.
     *
     * @param healthyAt when it was last seen RW in an engine: a replica never healthy holds no data worth salvaging */
    public record Spec(String volume, String node, String disk, long size, Instant failedAt, Instant healthyAt) {
        public Spec withFailedAt(Instant t) {
            return new Spec(volume, node, disk, size, t, healthyAt);
        }

        public Spec withHealthyAt(Instant t) {
            return new Spec(volume, node, disk, size, failedAt, t);
        }

        public boolean failed() {
            return failedAt != null;
        }
    }

    /**
     * What the replica's agent and engine last reported.
     *
     * @param state running, stopped, error or unknown (the node is not reachable)
     * @param address the replica's wire URL while running
     * @param mode RW, WO or ERR in the volume's engine; empty when not in one
     */
    public record Status(String state, String address, String mode, long actualSize, String error) {
        public static Status unknown() {
            return new Status("unknown", "", "", 0, "");
        }
    }

    @Override
    public Replica withMeta(Meta m) {
        return new Replica(m, spec, status);
    }

    public Replica withSpec(Spec s) {
        return new Replica(meta, s, status);
    }

    public Replica withStatus(Status s) {
        return new Replica(meta, spec, s);
    }
}
