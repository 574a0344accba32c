package io.bighorn.manager.scheduler;

public record ExistingReplica(String node, String disk) {}
