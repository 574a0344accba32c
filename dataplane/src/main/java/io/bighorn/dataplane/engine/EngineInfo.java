package io.bighorn.dataplane.engine;

import java.util.List;

/**
 * The state of an engine: what {@code bighorn ctl info} prints.
 *
 * @param decision which replicas serve and why the others do not, as decided at start or by the last salvage
 */
public record EngineInfo(
        String volume, long size, long epoch, List<ReplicaState> replicas, int frontendClients, String decision) {
    public EngineInfo {
        replicas = List.copyOf(replicas);
    }
}
