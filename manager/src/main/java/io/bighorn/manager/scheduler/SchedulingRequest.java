package io.bighorn.manager.scheduler;

import java.util.List;

/** What to place: {@code count} new replicas of {@code volume}, given the nodes and the replicas that stay. */
public record SchedulingRequest(
        VolumeRequest volume,
        int count,
        List<NodeCandidate> nodes,
        List<ExistingReplica> existing,
        SchedulerSettings settings) {}
