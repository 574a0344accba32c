package io.bighorn.dataplane.engine;

import java.util.List;

/** The state of an engine: what {@code bighorn ctl info} prints. */
public record EngineInfo(String volume, long size, long epoch, List<ReplicaState> replicas, int frontendClients) {
    public EngineInfo {
        replicas = List.copyOf(replicas);
    }
}
