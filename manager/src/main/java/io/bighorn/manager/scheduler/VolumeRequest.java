package io.bighorn.manager.scheduler;

import java.util.Set;

/** The volume whose replicas are placed: its size and the tags its nodes and disks must carry. */
public record VolumeRequest(String name, long size, Set<String> nodeSelector, Set<String> diskSelector) {}
