package io.bighorn.cli;

import io.bighorn.agent.AgentAuth;
import io.bighorn.agent.AgentClient;
import io.bighorn.agent.v1.BackupJob;
import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.NodeInfo;
import io.bighorn.control.ControlClient;
import io.bighorn.control.v1.EngineInfo;
import io.bighorn.control.v1.RebuildStatus;
import io.bighorn.control.v1.Snapshot;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.manager.reconcile.AgentApi;
import io.bighorn.manager.reconcile.EngineApi;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How the manager reaches agents and engines: one gRPC client per address, kept for reuse and
 * authenticated with the token derived from the cluster secret.
 */
final class Connectors implements AutoCloseable {
    private final ClusterSecret secret;
    private final Map<String, AgentClient> agents = new ConcurrentHashMap<>();
    private final Map<String, ControlClient> engines = new ConcurrentHashMap<>();

    Connectors(ClusterSecret secret) {
        this.secret = secret;
    }

    AgentApi agent(String address) {
        AgentClient c = agents.computeIfAbsent(address, a -> new AgentClient(a, secret));
        return new AgentApi() {
            @Override
            public NodeInfo getNode() {
                return c.getNode();
            }

            @Override
            public Instance createReplica(String name, String volume, long size, String disk, String fromBackup) {
                return c.createReplica(name, volume, size, disk, fromBackup);
            }

            @Override
            public Instance stopReplica(String name) {
                return c.stopReplica(name);
            }

            @Override
            public void deleteReplica(String name) {
                c.deleteReplica(name);
            }

            @Override
            public Instance startEngine(
                    String name, String volume, long size, List<String> replicas, int timeoutSeconds) {
                return c.startEngine(name, volume, size, replicas, timeoutSeconds);
            }

            @Override
            public Instance stopEngine(String name) {
                return c.stopEngine(name);
            }

            @Override
            public BackupJob startBackup(
                    String name,
                    String volume,
                    String snapshot,
                    String target,
                    String compression,
                    Map<String, String> labels) {
                return c.startBackup(name, volume, snapshot, target, compression, labels);
            }

            @Override
            public Optional<BackupJob> getBackup(String name) {
                return c.getBackup(name);
            }

            @Override
            public io.bighorn.agent.v1.BackupListing listBackups(String target, String volume) {
                return c.listBackups(target, volume);
            }

            @Override
            public boolean deleteBackup(String target, String volume, String backup) {
                return c.deleteBackup(target, volume, backup).getDeleted();
            }
        };
    }

    EngineApi engine(String address) {
        ControlClient c =
                engines.computeIfAbsent(address, a -> new ControlClient(a, AgentAuth.callCredentials(secret)));
        return new EngineApi() {
            @Override
            public EngineInfo info() {
                return c.info();
            }

            @Override
            public RebuildStatus rebuildStatus() {
                return c.rebuildStatus();
            }

            @Override
            public RebuildStatus addReplica(String replica) {
                return c.addReplica(replica, 0);
            }

            @Override
            public EngineInfo removeReplica(String replica) {
                return c.removeReplica(replica);
            }

            @Override
            public EngineInfo expand(long size) {
                return c.expand(size);
            }

            @Override
            public Snapshot createSnapshot(String name, Map<String, String> labels) {
                return c.createSnapshot(name, labels);
            }

            @Override
            public List<Snapshot> listSnapshots() {
                return c.listSnapshots();
            }

            @Override
            public void deleteSnapshot(String name) {
                c.deleteSnapshot(name);
            }

            @Override
            public void revert(String name) {
                c.revert(name);
            }

            @Override
            public List<String> purge() {
                return c.purge();
            }
        };
    }

    @Override
    public void close() throws InterruptedException {
        for (AgentClient c : agents.values()) {
            c.close();
        }
        for (ControlClient c : engines.values()) {
            c.close();
        }
    }
}
