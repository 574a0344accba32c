package io.bighorn.manager.model;

import java.util.List;
import java.util.Map;

/**
 * The engine of an attached volume: on which node it runs and over which replicas.
 *
 * @param spec the node and replicas (by name) it was started with
 * @param status what the agent and the engine's control API last reported
 */
public record Engine(Meta meta, Spec spec, Status status) implements Resource<Engine> {

    public record Spec(String volume, String node, List<String> replicas) {
        public Spec {
            replicas = List.copyOf(replicas);
        }
    }

    /**
     * What the agent and the engine last reported.
     *
     * @param state running, stopped, error or unknown
     * @param address the engine's control API (host:port)
     * @param endpoint the NBD URL of its export
     * @param replicaModes wire URL to RW, WO or ERR
     * @param rebuild the running rebuild as "target state done/total", empty when none
     */
    public record Status(
            String state,
            String address,
            String endpoint,
            long size,
            Map<String, String> replicaModes,
            String rebuild) {
        public Status {
            replicaModes = replicaModes == null ? Map.of() : Map.copyOf(replicaModes);
        }

        public static Status unknown() {
            return new Status("unknown", "", "", 0, Map.of(), "");
        }
    }

    @Override
    public Engine withMeta(Meta m) {
        return new Engine(m, spec, status);
    }

    public Engine withStatus(Status s) {
        return new Engine(meta, spec, s);
    }
}
