package io.bighorn.manager.model;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** A node: a host running an agent, with its disks. Created by the node's first heartbeat. */
public record Node(Meta meta, Spec spec, Status status) implements Resource<Node> {

    /** What the user decides: scheduling on or off, tags, and per disk its own settings. */
    public record Spec(boolean allowScheduling, Set<String> tags, Map<String, DiskSpec> disks) {
        public Spec {
            tags = tags == null ? Set.of() : Set.copyOf(tags);
            disks = disks == null ? Map.of() : Map.copyOf(disks);
        }
    }

    /**
     * A disk's settings.
     *
     * @param storageReserved bytes kept free for other uses; -1 until set from the default-disk setting */
    public record DiskSpec(boolean allowScheduling, long storageReserved, Set<String> tags) {
        public DiskSpec {
            tags = tags == null ? Set.of() : Set.copyOf(tags);
        }
    }

    /**
     * What the node's agent last reported.
     *
     * @param address the agent's gRPC address
     * @param lastHeartbeat when the agent last reported (kept in the store only when the node changes state)
     */
    public record Status(
            String address,
            String nbdAddress,
            String zone,
            Set<String> agentTags,
            Instant lastHeartbeat,
            List<Condition> conditions,
            Map<String, DiskStatus> disks) {
        public Status {
            agentTags = agentTags == null ? Set.of() : Set.copyOf(agentTags);
            conditions = conditions == null ? List.of() : List.copyOf(conditions);
            disks = disks == null ? Map.of() : Map.copyOf(disks);
        }

        public boolean ready() {
            return Condition.holds(conditions, "Ready");
        }
    }

    public record DiskStatus(
            String path, String uuid, long storageMaximum, long storageAvailable, long storageScheduled) {}

    @Override
    public Node withMeta(Meta m) {
        return new Node(m, spec, status);
    }

    public Node withSpec(Spec s) {
        return new Node(meta, s, status);
    }

    public Node withStatus(Status s) {
        return new Node(meta, spec, s);
    }
}
