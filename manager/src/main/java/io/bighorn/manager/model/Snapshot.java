package io.bighorn.manager.model;

import java.util.List;
import java.util.Map;

/**
 * A snapshot of a volume as its engine last reported it. The engine's chain is the truth; these objects
 * mirror it while the volume is attached (so snapshots taken by the system, for a rebuild say, appear too)
 * and keep the last view while it is detached. Named {@code VOLUME/SNAPSHOT}, which no volume or snapshot
 * name can make ambiguous.
 */
public record Snapshot(Meta meta, Spec spec, Status status) implements Resource<Snapshot> {

    /** Which snapshot of which volume. */
    public record Spec(String volume, String snapshot) {}

    /**
     * The engine's view of it.
     *
     * @param size bytes the snapshot's layer holds
     * @param removed marked removed, its data still needed by a child until a purge
     */
    public record Status(
            String parent,
            List<String> children,
            String created,
            long size,
            boolean removed,
            boolean userCreated,
            Map<String, String> labels) {
        public Status {
            children = children == null ? List.of() : List.copyOf(children);
            labels = labels == null ? Map.of() : Map.copyOf(labels);
        }
    }

    public static String objectName(String volume, String snapshot) {
        return volume + "/" + snapshot;
    }

    @Override
    public Snapshot withMeta(Meta m) {
        return new Snapshot(m, spec, status);
    }

    public Snapshot withStatus(Status s) {
        return new Snapshot(meta, spec, s);
    }
}
