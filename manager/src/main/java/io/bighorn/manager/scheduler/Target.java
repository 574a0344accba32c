package io.bighorn.manager.scheduler;

/** Where one replica goes. */
public record Target(String node, String disk) {}
