package io.bighorn.manager.scheduler;

import java.util.List;

public record SchedulingRequest(
        VolumeRequest volume,
        int count,
        List<NodeCandidate> nodes,
        List<ExistingReplica> existing,
        SchedulerSettings settings) {}
