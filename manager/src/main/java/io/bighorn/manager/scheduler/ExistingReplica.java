package io.bighorn.manager.scheduler;

/** A replica of the volume that stays (healthy, rebuilding, or failed but kept): anti-affinity counts it. */
public record ExistingReplica(String node, String disk) {}
