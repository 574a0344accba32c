package io.bighorn.manager.scheduler;

import java.util.List;
import java.util.Set;

/** A node as the scheduler sees it; {@code zone} is empty when the node has none. */
public record NodeCandidate(
        String name,
        String zone,
        Set<String> tags,
        boolean ready,
        boolean allowScheduling,
        List<DiskCandidate> disks) {}
