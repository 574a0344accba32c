package io.bighorn.manager.model;

import com.fasterxml.jackson.annotation.JsonValue;
import java.time.Instant;
import java.util.List;
import java.util.Set;

/** A user's volume: what they asked for and what the control plane observed of it. */
public record Volume(Meta meta, Spec spec, Status status) implements Resource<Volume> {

    /**
     * What the user asked for.
     *
     * @param nodeId the node the volume should be attached to; empty when it should be detached
     * @param fromBackup the URL of the backup the volume's first replicas are restored from; empty for none
     * @param dataLocality disabled or best-effort
     */
    public record Spec(
            long size,
            int numberOfReplicas,
            String dataLocality,
            Set<String> nodeSelector,
            Set<String> diskSelector,
            String nodeId,
            String fromBackup) {
        public Spec {
            fromBackup = fromBackup == null ? "" : fromBackup;
            nodeSelector = nodeSelector == null ? Set.of() : Set.copyOf(nodeSelector);
            diskSelector = diskSelector == null ? Set.of() : Set.copyOf(diskSelector);
            nodeId = nodeId == null ? "" : nodeId;
            dataLocality = dataLocality == null ? "disabled" : dataLocality;
        }

        public Spec withNodeId(String n) {
            return new Spec(size, numberOfReplicas, dataLocality, nodeSelector, diskSelector, n, fromBackup);
        }

        public Spec withSize(long s) {
            return new Spec(s, numberOfReplicas, dataLocality, nodeSelector, diskSelector, nodeId, fromBackup);
        }

        public Spec withNumberOfReplicas(int n) {
            return new Spec(size, n, dataLocality, nodeSelector, diskSelector, nodeId, fromBackup);
        }
    }

    /**
     * What the control plane observed.
     *
     * @param currentSize the size the volume's engine serves (or its replicas hold, detached)
     * @param endpoint the NBD URL while attached
     */
    public record Status(
            State state,
            Robustness robustness,
            String currentNodeId,
            String endpoint,
            long currentSize,
            long actualSize,
            List<Condition> conditions,
            Instant lastDegradedAt,
            Instant lastAutoSalvagedAt) {
        public Status {
            conditions = conditions == null ? List.of() : List.copyOf(conditions);
            currentNodeId = currentNodeId == null ? "" : currentNodeId;
            endpoint = endpoint == null ? "" : endpoint;
        }

        public static Status initial() {
            return new Status(State.CREATING, Robustness.UNKNOWN, "", "", 0, 0, List.of(), null, null);
        }

        public Status with(State s, Robustness r) {
            return new Status(
                    s,
                    r,
                    currentNodeId,
                    endpoint,
                    currentSize,
                    actualSize,
                    conditions,
                    lastDegradedAt,
                    lastAutoSalvagedAt);
        }

        public Status withAttachment(String node, String ep) {
            return new Status(
                    state,
                    robustness,
                    node,
                    ep,
                    currentSize,
                    actualSize,
                    conditions,
                    lastDegradedAt,
                    lastAutoSalvagedAt);
        }

        public Status withSizes(long current, long actual) {
            return new Status(
                    state,
                    robustness,
                    currentNodeId,
                    endpoint,
                    current,
                    actual,
                    conditions,
                    lastDegradedAt,
                    lastAutoSalvagedAt);
        }

        public Status withCondition(Condition c) {
            return new Status(
                    state,
                    robustness,
                    currentNodeId,
                    endpoint,
                    currentSize,
                    actualSize,
                    Condition.set(conditions, c),
                    lastDegradedAt,
                    lastAutoSalvagedAt);
        }

        public Status withLastDegradedAt(Instant t) {
            return new Status(
                    state,
                    robustness,
                    currentNodeId,
                    endpoint,
                    currentSize,
                    actualSize,
                    conditions,
                    t,
                    lastAutoSalvagedAt);
        }

        public Status withLastAutoSalvagedAt(Instant t) {
            return new Status(
                    state, robustness, currentNodeId, endpoint, currentSize, actualSize, conditions, lastDegradedAt, t);
        }
    }

    public enum State {
        CREATING("creating"),
        DETACHED("detached"),
        ATTACHING("attaching"),
        ATTACHED("attached"),
        DETACHING("detaching"),
        DELETING("deleting");

        private final String value;

        State(String value) {
            this.value = value;
        }

        @JsonValue
        public String value() {
            return value;
        }
    }

    public enum Robustness {
        HEALTHY("healthy"),
        DEGRADED("degraded"),
        FAULTED("faulted"),
        UNKNOWN("unknown");

        private final String value;

        Robustness(String value) {
            this.value = value;
        }

        @JsonValue
        public String value() {
            return value;
        }
    }

    @Override
    public Volume withMeta(Meta m) {
        return new Volume(m, spec, status);
    }

    public Volume withSpec(Spec s) {
        return new Volume(meta, s, status);
    }

    public Volume withStatus(Status s) {
        return new Volume(meta, spec, s);
    }
}
