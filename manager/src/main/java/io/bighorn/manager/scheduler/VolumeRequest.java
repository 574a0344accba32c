package io.bighorn.manager.scheduler;

import java.util.Set;

public record VolumeRequest(String name, long size, Set<String> nodeSelector, Set<String> diskSelector) {}
