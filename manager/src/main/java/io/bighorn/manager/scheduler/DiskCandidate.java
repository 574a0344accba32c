package io.bighorn.manager.scheduler;

import java.util.Set;

/** A disk of a node, with its space in bytes: {@code storageScheduled} is what replicas on it were promised. */
public record DiskCandidate(
        String name,
        Set<String> tags,
        boolean allowScheduling,
        long storageMaximum,
        long storageAvailable,
        long storageReserved,
        long storageScheduled) {}
