package io.bighorn.manager.scheduler;

/** Why a replica could not be placed: a code and a message naming nodes, disks, sizes and settings. */
public record Reason(ReasonCode code, String message) {}
