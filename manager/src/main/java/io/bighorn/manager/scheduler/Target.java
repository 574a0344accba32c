package io.bighorn.manager.scheduler;

public record Target(String node, String disk) {}
