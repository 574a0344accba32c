package io.bighorn.dataplane.replica;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * A snapshot of a replica as its operator sees it.
 *
 * @param parent the parent snapshot's name, or null for the base
 * @param children child snapshots' names, and {@value Replica#HEAD_NAME} if the head sits on it
 * @param allocatedBytes bytes the snapshot's layer file holds on disk
 */
public record SnapshotInfo(
        String name,
        String parent,
        List<String> children,
        Instant created,
        long allocatedBytes,
        boolean removed,
        boolean userCreated,
        Map<String, String> labels) {
    public SnapshotInfo {
        children = List.copyOf(children);
        labels = Map.copyOf(labels);
    }
}
