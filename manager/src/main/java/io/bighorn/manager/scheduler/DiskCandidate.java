package io.bighorn.manager.scheduler;

import java.util.Set;

public record DiskCandidate(
        String name,
        Set<String> tags,
        boolean allowScheduling,
        long storageMaximum,
        long storageAvailable,
        long storageReserved,
        long storageScheduled) {}
