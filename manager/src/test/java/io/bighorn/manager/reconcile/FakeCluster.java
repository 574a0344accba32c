package io.bighorn.manager.reconcile;

import io.bighorn.agent.v1.Disk;
import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.InstanceKind;
import io.bighorn.agent.v1.InstanceState;
import io.bighorn.agent.v1.NodeInfo;
import io.bighorn.control.v1.EngineInfo;
import io.bighorn.control.v1.RebuildStatus;
import io.bighorn.control.v1.Snapshot;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * In-memory agents and engines for the controllers' unit tests: each node's agent keeps its instances in a
 * map; an engine keeps its replicas' modes, and a replica added to it stays WO until the test finishes
 * the rebuild. The real ones are exercised by the integration tests.
 */
final class FakeCluster {
    /** A clock the test moves. */
    static final class TestClock extends Clock {
        private Instant now = Instant.parse("2026-11-22T10:00:00Z");

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    final Map<String, FakeAgent> agents = new ConcurrentHashMap<>();
    final Map<String, FakeEngine> engines = new ConcurrentHashMap<>();
    /** What the (one) backup target holds: volume → backup name → backup. */
    final Map<String, Map<String, io.bighorn.agent.v1.BackupInfo>> backupTarget = new LinkedHashMap<>();

    /** Listing or changing the target fails, as when it is unreachable. */
    volatile boolean targetDown;

    void deleteBackupBehindTheManager(String volume, String backup) {
        synchronized (backupTarget) {
            if (backup.isEmpty()) {
                backupTarget.remove(volume);
            } else {
                backupTarget.getOrDefault(volume, new LinkedHashMap<>()).remove(backup);
            }
        }
    }

    void putBackup(String volume, String name, String snapshot) {
        synchronized (backupTarget) {
            backupTarget
                    .computeIfAbsent(volume, v -> new LinkedHashMap<>())
                    .put(
                            name,
                            io.bighorn.agent.v1.BackupInfo.newBuilder()
                                    .setName(name)
                                    .setVolume(volume)
                                    .setSnapshot(snapshot)
                                    .setCreated("2026-11-22T10:00:00Z")
                                    .setSize(4096)
                                    .setComplete(true)
                                    .setUrl("file:///target?backup=" + name + "&volume=" + volume)
                                    .build());
        }
    }

    private int ports = 1000;

    FakeAgent agent(String node) {
        return agents.computeIfAbsent(node, FakeAgent::new);
    }

    AgentApi.Connector agentConnector() {
        return address -> {
            FakeAgent a = agents.get(address);
            if (a == null || a.down) {
                throw new IllegalStateException("agent " + address + " unreachable");
            }
            return a;
        };
    }

    EngineApi.Connector engineConnector() {
        return address -> {
            FakeEngine e = engines.get(address);
            if (e == null) {
                throw new IllegalStateException("engine " + address + " unreachable");
            }
            return e;
        };
    }

    final class FakeAgent implements AgentApi {
        final String node;
        final Map<String, Instance> instances = new LinkedHashMap<>();
        volatile boolean down;

        FakeAgent(String node) {
            this.node = node;
        }

        @Override
        public synchronized NodeInfo getNode() {
            return NodeInfo.newBuilder()
                    .setName(node)
                    .addDisks(Disk.newBuilder()
                            .setName("default")
                            .setPath("/d/" + node)
                            .setStorageMaximum(100L << 30)
                            .setStorageAvailable(90L << 30)
                            .setUuid("uuid-" + node))
                    .addAllInstances(instances.values())
                    .build();
        }

        @Override
        public synchronized Instance createReplica(
                String name, String volume, long size, String disk, String fromBackup) {
            Instance old = instances.get(name);
            if (old != null && old.getState() == InstanceState.RUNNING) {
                return old;
            }
            Instance i = Instance.newBuilder()
                    .setName(name)
                    .setVolume(volume)
                    .setKind(InstanceKind.REPLICA)
                    .setState(InstanceState.RUNNING)
                    .setAddress("tcp://" + node + ":" + ports++)
                    .setDisk(disk)
                    .setSize(size)
                    .build();
            instances.put(name, i);
            return i;
        }

        @Override
        public synchronized Instance stopReplica(String name) {
            Instance i = instances.get(name).toBuilder()
                    .setState(InstanceState.STOPPED)
                    .build();
            instances.put(name, i);
            return i;
        }

        @Override
        public synchronized void deleteReplica(String name) {
            instances.remove(name);
        }

        @Override
        public synchronized Instance startEngine(
                String name, String volume, long size, List<String> replicas, int timeoutSeconds) {
            Instance old = instances.get(name);
            if (old != null && old.getState() == InstanceState.RUNNING) {
                return old;
            }
            String address = "engine@" + node;
            FakeEngine e = new FakeEngine(volume, size);
            replicas.forEach(r -> e.modes.put(r, "RW"));
            engines.put(address, e);
            Instance i = Instance.newBuilder()
                    .setName(name)
                    .setVolume(volume)
                    .setKind(InstanceKind.ENGINE)
                    .setState(InstanceState.RUNNING)
                    .setAddress(address)
                    .setEndpoint("nbd://" + node + ":10809/" + volume)
                    .setSize(size)
                    .build();
            instances.put(name, i);
            return i;
        }

        final Map<String, io.bighorn.agent.v1.BackupJob> backups = new LinkedHashMap<>();

        @Override
        public synchronized io.bighorn.agent.v1.BackupJob startBackup(
                String name,
                String volume,
                String snapshot,
                String target,
                String compression,
                Map<String, String> labels) {
            return backups.computeIfAbsent(
                    name,
                    n -> io.bighorn.agent.v1.BackupJob.newBuilder()
                            .setName(n)
                            .setVolume(volume)
                            .setState("running")
                            .setBytesTotal(100)
                            .build());
        }

        @Override
        public synchronized java.util.Optional<io.bighorn.agent.v1.BackupJob> getBackup(String name) {
            return java.util.Optional.ofNullable(backups.get(name));
        }

        @Override
        public io.bighorn.agent.v1.BackupListing listBackups(String target, String volume) {
            if (targetDown) {
                throw new IllegalStateException("backup target " + target + " unreachable");
            }
            synchronized (backupTarget) {
                var l = io.bighorn.agent.v1.BackupListing.newBuilder();
                if (volume.isEmpty()) {
                    backupTarget.forEach((v, bs) -> l.addVolumes(io.bighorn.agent.v1.BackupVolumeInfo.newBuilder()
                            .setName(v)
                            .setSize(1 << 30)
                            .setLastBackupName(
                                    bs.isEmpty()
                                            ? ""
                                            : bs.values().stream()
                                                    .toList()
                                                    .getLast()
                                                    .getName())));
                } else {
                    l.addAllBackups(backupTarget.getOrDefault(volume, Map.of()).values());
                }
                return l.build();
            }
        }

        @Override
        public boolean deleteBackup(String target, String volume, String backup) {
            if (targetDown) {
                throw new IllegalStateException("backup target " + target + " unreachable");
            }
            synchronized (backupTarget) {
                if (backup.isEmpty()) {
                    return backupTarget.remove(volume) != null;
                }
                Map<String, io.bighorn.agent.v1.BackupInfo> bs = backupTarget.get(volume);
                return bs != null && bs.remove(backup) != null;
            }
        }

        @Override
        public synchronized Instance stopEngine(String name) {
            Instance old = instances.get(name);
            if (old == null) {
                return Instance.newBuilder()
                        .setName(name)
                        .setState(InstanceState.STOPPED)
                        .build();
            }
            engines.remove(old.getAddress());
            Instance i = old.toBuilder().setState(InstanceState.STOPPED).build();
            instances.put(name, i);
            return i;
        }
    }

    static final class FakeEngine implements EngineApi {
        final String volume;
        long size;
        final Map<String, String> modes = new LinkedHashMap<>();

        FakeEngine(String volume, long size) {
            this.volume = volume;
            this.size = size;
        }

        synchronized void finishRebuilds() {
            modes.replaceAll((a, m) -> m.equals("WO") ? "RW" : m);
        }

        @Override
        public synchronized EngineInfo info() {
            EngineInfo.Builder b = EngineInfo.newBuilder().setVolume(volume).setSize(size);
            modes.forEach((a, m) -> b.addReplicas(
                    io.bighorn.control.v1.Replica.newBuilder().setAddress(a).setMode(m)));
            return b.build();
        }

        @Override
        public synchronized RebuildStatus rebuildStatus() {
            return RebuildStatus.newBuilder().setState("running").build();
        }

        @Override
        public synchronized RebuildStatus addReplica(String address) {
            modes.put(address, "WO");
            return RebuildStatus.newBuilder()
                    .setTarget(address)
                    .setState("running")
                    .build();
        }

        @Override
        public synchronized EngineInfo removeReplica(String address) {
            modes.remove(address);
            return info();
        }

        final Map<String, Snapshot> snapshots = new LinkedHashMap<>();

        @Override
        public synchronized EngineInfo expand(long newSize) {
            size = newSize;
            return info();
        }

        @Override
        public synchronized Snapshot createSnapshot(String name, Map<String, String> labels) {
            Snapshot s = Snapshot.newBuilder()
                    .setName(name)
                    .setCreated("2026-11-22T10:00:0" + snapshots.size() + "Z")
                    .setUserCreated(true)
                    .putAllLabels(labels)
                    .build();
            snapshots.put(name, s);
            return s;
        }

        @Override
        public synchronized List<Snapshot> listSnapshots() {
            return List.copyOf(snapshots.values());
        }

        @Override
        public synchronized void deleteSnapshot(String name) {
            snapshots.remove(name);
        }

        @Override
        public void revert(String name) {}

        @Override
        public List<String> purge() {
            return List.of();
        }
    }
}
