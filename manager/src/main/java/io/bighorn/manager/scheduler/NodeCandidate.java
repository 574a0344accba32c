package io.bighorn.manager.scheduler;

import java.util.List;
import java.util.Set;

public record NodeCandidate(
        String name,
        String zone,
        Set<String> tags,
        boolean ready,
        boolean allowScheduling,
        List<DiskCandidate> disks) {}
