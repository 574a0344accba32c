package io.bighorn.manager.scheduler;

public record Reason(ReasonCode code, String message) {}
