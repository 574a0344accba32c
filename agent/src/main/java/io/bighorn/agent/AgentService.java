package io.bighorn.agent;

import io.bighorn.agent.v1.BackupInfo;
import io.bighorn.agent.v1.BackupJob;
import io.bighorn.agent.v1.BackupListing;
import io.bighorn.agent.v1.BackupVolumeInfo;
import io.bighorn.agent.v1.CreateReplicaRequest;
import io.bighorn.agent.v1.DeleteBackupRequest;
import io.bighorn.agent.v1.DeleteBackupResponse;
import io.bighorn.agent.v1.DeleteResponse;
import io.bighorn.agent.v1.GetNodeRequest;
import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.InstanceKind;
import io.bighorn.agent.v1.InstanceRequest;
import io.bighorn.agent.v1.InstanceState;
import io.bighorn.agent.v1.ListBackupsRequest;
import io.bighorn.agent.v1.NodeAgentGrpc;
import io.bighorn.agent.v1.NodeInfo;
import io.bighorn.agent.v1.StartBackupRequest;
import io.bighorn.agent.v1.StartEngineRequest;
import io.bighorn.backup.BackupConfig;
import io.bighorn.backup.BackupUrl;
import io.bighorn.backup.Backupstore;
import io.bighorn.backup.DeleteResult;
import io.bighorn.backup.VolumeConfig;
import io.bighorn.common.Names;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.nbd.Export;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The agent's gRPC service: each call validated, idempotent, and serialised per instance name. */
final class AgentService extends NodeAgentGrpc.NodeAgentImplBase {
    private static final Logger log = LoggerFactory.getLogger(AgentService.class);

    private final Agent agent;
    private final Map<String, ReentrantLock> locks = new ConcurrentHashMap<>();

    AgentService(Agent agent) {
        this.agent = agent;
    }

    private interface Call<T> {
        T run() throws Exception;
    }

    private <T> void respond(StreamObserver<T> observer, String name, Call<T> call) {
        ReentrantLock lock = name == null ? null : locks.computeIfAbsent(name, n -> new ReentrantLock());
        T result;
        try {
            if (lock != null) {
                lock.lock();
            }
            try {
                result = call.run();
            } finally {
                if (lock != null) {
                    lock.unlock();
                }
            }
        } catch (IllegalArgumentException e) {
            observer.onError(
                    Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            observer.onError(Status.CANCELLED.withDescription("interrupted").asRuntimeException());
            return;
        } catch (Exception e) {
            log.warn("node {}: {} failed", agent.name(), name, e);
            observer.onError(Status.INTERNAL
                    .withDescription(e.getMessage() == null ? e.toString() : e.getMessage())
                    .asRuntimeException());
            return;
        }
        observer.onNext(result);
        observer.onCompleted();
    }

    @Override
    public void getNode(GetNodeRequest request, StreamObserver<NodeInfo> observer) {
        respond(observer, null, agent::describe);
    }

    @Override
    public void createReplica(CreateReplicaRequest r, StreamObserver<Instance> observer) {
        respond(observer, r.getName(), () -> {
            Names.require("replica name", r.getName());
            Names.require("volume name", r.getVolume());
            Path disk = agent.disks.get(r.getDisk());
            if (disk == null) {
                throw new IllegalArgumentException("node " + agent.name() + " has no disk '" + r.getDisk()
                        + "' (it has " + agent.disks.keySet() + ")");
            }
            HostedReplica existing = agent.replicas.get(r.getName());
            if (existing != null && !existing.disk.equals(r.getDisk())) {
                throw new IllegalArgumentException(
                        "replica " + r.getName() + " lives on disk " + existing.disk + ", not " + r.getDisk());
            }
            if (existing == null && (r.getSize() <= 0 || r.getSize() % Replica.BLOCK != 0)) {
                throw new IllegalArgumentException(
                        "replica size must be a positive multiple of " + Replica.BLOCK + ", not " + r.getSize());
            }
            HostedReplica h = existing != null
                    ? existing
                    : new HostedReplica(
                            r.getName(),
                            r.getVolume(),
                            r.getDisk(),
                            disk.resolve("replicas").resolve(r.getName()));
            ReplicaMarker.write(h.dir, r.getVolume());
            agent.replicas.put(h.name, h);
            if (!h.running()) {
                h.start(r.getSize(), r.getFromBackup(), agent.config.advertiseHost(), agent.config.secret());
                log.info("node {}: replica {} of {} serving", agent.name(), h.name, h.volume);
            }
            return h.describe();
        });
    }

    @Override
    public void stopReplica(InstanceRequest r, StreamObserver<Instance> observer) {
        respond(observer, r.getName(), () -> {
            HostedReplica h = agent.replicas.get(r.getName());
            if (h == null) {
                return Instance.newBuilder()
                        .setName(r.getName())
                        .setKind(InstanceKind.REPLICA)
                        .setState(InstanceState.STOPPED)
                        .build();
            }
            h.stop();
            return h.describe();
        });
    }

    @Override
    public void deleteReplica(InstanceRequest r, StreamObserver<DeleteResponse> observer) {
        respond(observer, r.getName(), () -> {
            Names.require("replica name", r.getName());
            HostedReplica h = agent.replicas.remove(r.getName());
            if (h != null) {
                h.stop();
                delete(h.dir);
                Files.deleteIfExists(ReplicaMarker.file(h.dir));
                log.info("node {}: replica {} of {} deleted", agent.name(), h.name, h.volume);
            }
            return DeleteResponse.getDefaultInstance();
        });
    }

    private static void delete(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @Override
    public void startEngine(StartEngineRequest r, StreamObserver<Instance> observer) {
        respond(observer, r.getName(), () -> {
            Names.require("engine name", r.getName());
            Names.require("volume name", r.getVolume());
            HostedEngine running = agent.engines.get(r.getName());
            if (running != null) {
                return running.describe();
            }
            if (r.getReplicaAddressesCount() == 0) {
                throw new IllegalArgumentException("an engine needs at least one replica");
            }
            if (r.getSize() <= 0 || r.getSize() % Replica.BLOCK != 0) {
                throw new IllegalArgumentException(
                        "volume size must be a positive multiple of " + Replica.BLOCK + ", not " + r.getSize());
            }
            if (agent.exports.containsKey(r.getVolume())) {
                throw new IllegalArgumentException("volume " + r.getVolume() + " already has an engine on this node");
            }
            int timeout = r.getReplicaTimeoutSeconds() == 0 ? 8 : r.getReplicaTimeoutSeconds();
            String endpoint = "nbd://" + agent.nbdAddress().getHostString() + ":"
                    + agent.nbdAddress().getPort() + "/" + r.getVolume();
            HostedEngine e = HostedEngine.start(
                    r.getName(),
                    r.getVolume(),
                    r.getSize(),
                    r.getReplicaAddressesList(),
                    Duration.ofSeconds(timeout),
                    agent::connectReplica,
                    agent.config.advertiseHost(),
                    endpoint,
                    AgentAuth.serverInterceptor(agent.config.secret()));
            e.engine.frontendClients(() -> agent.nbdClients(r.getVolume()));
            agent.engines.put(e.name, e);
            agent.exports.put(e.volume, new Export(e.volume, "Bighorn volume " + e.volume, e.engine));
            log.info("node {}: engine {} serving {} at {}", agent.name(), e.name, e.volume, endpoint);
            return e.describe();
        });
    }

    @Override
    public void startBackup(StartBackupRequest r, StreamObserver<BackupJob> observer) {
        respond(observer, "backup/" + r.getName(), () -> {
            HostedEngine engine = agent.engines.values().stream()
                    .filter(e -> e.volume.equals(r.getVolume()))
                    .findFirst()
                    .orElse(null);
            return agent.backups.start(r, engine);
        });
    }

    @Override
    public void listBackups(ListBackupsRequest r, StreamObserver<BackupListing> observer) {
        respond(observer, null, () -> {
            if (r.getTarget().isBlank()) {
                throw new IllegalArgumentException("no backup target given");
            }
            BackupListing.Builder b = BackupListing.newBuilder();
            try (Backupstore store = Backupstore.open(r.getTarget(), System.getenv())) {
                if (r.getVolume().isEmpty()) {
                    for (VolumeConfig c : store.volumeConfigs()) {
                        b.addVolumes(BackupVolumeInfo.newBuilder()
                                .setName(c.name())
                                .setSize(c.size())
                                .setLastBackupName(c.lastBackupName())
                                .setLastBackupAt(c.lastBackupAt()));
                    }
                } else {
                    for (BackupConfig c : store.backups(r.getVolume())) {
                        b.addBackups(BackupInfo.newBuilder()
                                .setName(c.name())
                                .setVolume(c.volumeName())
                                .setSnapshot(c.snapshotName())
                                .setCreated(c.createdTime())
                                .setSize(c.size())
                                .setComplete(c.complete())
                                .setUrl(new BackupUrl(store.url(), r.getVolume(), c.name()).toString()));
                    }
                }
            }
            return b.build();
        });
    }

    @Override
    public void deleteBackup(DeleteBackupRequest r, StreamObserver<DeleteBackupResponse> observer) {
        respond(observer, "backup-delete/" + r.getVolume(), () -> {
            if (r.getTarget().isBlank()) {
                throw new IllegalArgumentException("no backup target given");
            }
            Names.require("volume name", r.getVolume());
            try (Backupstore store = Backupstore.open(r.getTarget(), System.getenv())) {
                if (!store.volumes().contains(r.getVolume())) {
                    return DeleteBackupResponse.newBuilder().setDeleted(false).build();
                }
                if (r.getBackup().isEmpty()) {
                    store.deleteVolume(r.getVolume());
                    log.info("node {}: deleted backup volume {} at {}", agent.name(), r.getVolume(), store.url());
                    return DeleteBackupResponse.newBuilder().setDeleted(true).build();
                }
                if (!store.backupNames(r.getVolume()).contains(r.getBackup())) {
                    return DeleteBackupResponse.newBuilder().setDeleted(false).build();
                }
                DeleteResult d = store.delete(r.getVolume(), r.getBackup());
                log.info(
                        "node {}: deleted backup {} of {}: {} blocks removed, {} left{}",
                        agent.name(),
                        r.getBackup(),
                        r.getVolume(),
                        d.blocksRemoved(),
                        d.blocksLeft(),
                        d.gcSkipped() == null ? "" : " (unused blocks kept: " + d.gcSkipped() + ")");
                return DeleteBackupResponse.newBuilder()
                        .setDeleted(true)
                        .setBlocksRemoved(d.blocksRemoved())
                        .setBlocksLeft(d.blocksLeft())
                        .setGcSkipped(d.gcSkipped() == null ? "" : d.gcSkipped())
                        .build();
            }
        });
    }

    @Override
    public void getBackup(InstanceRequest r, StreamObserver<BackupJob> observer) {
        BackupJob job = agent.backups.get(r.getName());
        if (job == null) {
            observer.onError(Status.NOT_FOUND
                    .withDescription("no backup job " + r.getName() + " on node " + agent.name())
                    .asRuntimeException());
            return;
        }
        observer.onNext(job);
        observer.onCompleted();
    }

    @Override
    public void stopEngine(InstanceRequest r, StreamObserver<Instance> observer) {
        respond(observer, r.getName(), () -> {
            HostedEngine e = agent.engines.remove(r.getName());
            if (e == null) {
                return HostedEngine.stopped(r.getName());
            }
            agent.exports.remove(e.volume);
            e.stop();
            log.info("node {}: engine {} of {} stopped", agent.name(), e.name, e.volume);
            return HostedEngine.stopped(r.getName()).toBuilder()
                    .setVolume(e.volume)
                    .build();
        });
    }
}
