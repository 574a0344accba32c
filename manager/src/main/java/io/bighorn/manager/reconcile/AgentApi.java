package io.bighorn.manager.reconcile;

import io.bighorn.agent.v1.BackupJob;
import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.NodeInfo;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The calls the manager makes to one node's agent (each idempotent); errors are runtime exceptions. */
public interface AgentApi {
    NodeInfo getNode();

    /** Creates (or opens) a replica; with a backup URL, new data is restored from it. */
    Instance createReplica(String name, String volume, long size, String disk, String fromBackup);

    Instance stopReplica(String name);

    void deleteReplica(String name);

    Instance startEngine(String name, String volume, long size, List<String> replicaAddresses, int timeoutSeconds);

    Instance stopEngine(String name);

    BackupJob startBackup(
            String name, String volume, String snapshot, String target, String compression, Map<String, String> labels);

    /** The job's state; empty when the agent does not know it (it restarted). */
    Optional<BackupJob> getBackup(String name);

    /** What a backup target holds: its backup volumes, or (with a volume) that volume's backups. */
    io.bighorn.agent.v1.BackupListing listBackups(String target, String volume);

    /**
     * Deletes a backup from a target, or with an empty backup name the whole backup volume; false when it
     * was not there.
     */
    boolean deleteBackup(String target, String volume, String backup);

    /** Reaches a node's agent at its gRPC address. */
    interface Connector {
        AgentApi connect(String address);
    }
}
