package io.bighorn.agent;

import io.bighorn.agent.v1.BackupJob;
import io.bighorn.agent.v1.StartBackupRequest;
import io.bighorn.backup.BackupOptions;
import io.bighorn.backup.BackupResult;
import io.bighorn.backup.Backupstore;
import io.bighorn.backup.ReplicaSnapshotSource;
import io.bighorn.backup.SnapshotSource;
import io.bighorn.common.Names;
import io.bighorn.dataplane.engine.ReplicaState;
import io.bighorn.dataplane.replica.ReplicaConnector;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Backups this node runs for the manager, each on its own virtual thread, reading the snapshot from one of
 * the engine's RW replicas while the volume keeps serving. Jobs are kept in memory: an agent that restarts
 * forgets them, and the manager starts the job again.
 */
final class BackupJobs {
    private static final Logger log = LoggerFactory.getLogger(BackupJobs.class);

    private final Map<String, AtomicReference<BackupJob>> jobs = new ConcurrentHashMap<>();
    /** How the snapshot's replica is reached: in-process if it is on this node. */
    private final ReplicaConnector connector;

    BackupJobs(ReplicaConnector connector) {
        this.connector = connector;
    }

    BackupJob start(StartBackupRequest r, HostedEngine engine) {
        AtomicReference<BackupJob> known = jobs.get(r.getName());
        if (known != null) {
            return known.get();
        }
        Names.require("backup name", r.getName());
        Names.require("snapshot name", r.getSnapshot());
        if (r.getTarget().isBlank()) {
            throw new IllegalArgumentException("a backup needs a target (the backup-target setting)");
        }
        if (engine == null) {
            throw new IllegalArgumentException("volume " + r.getVolume() + " has no engine on this node");
        }
        AtomicReference<BackupJob> job = new AtomicReference<>(BackupJob.newBuilder()
                .setName(r.getName())
                .setVolume(r.getVolume())
                .setState("running")
                .build());
        if (jobs.putIfAbsent(r.getName(), job) != null) {
            return jobs.get(r.getName()).get();
        }
        Thread.ofVirtual().name("backup-" + r.getName()).start(() -> run(r, engine, job));
        return job.get();
    }

    BackupJob get(String name) {
        AtomicReference<BackupJob> job = jobs.get(name);
        return job == null ? null : job.get();
    }

    private void run(StartBackupRequest r, HostedEngine engine, AtomicReference<BackupJob> job) {
        try {
            BackupOptions options = BackupOptions.defaults()
                    .withName(r.getName())
                    .withCompression(r.getCompression().isEmpty() ? "lz4" : r.getCompression())
                    .withLabels(r.getLabelsMap());
            BackupResult result;
            try (Backupstore store = Backupstore.open(r.getTarget(), System.getenv());
                    SnapshotSource source = open(engine, r.getSnapshot())) {
                result = store.backup(
                        r.getVolume(),
                        source,
                        options,
                        (done, total) -> job.updateAndGet(j -> j.toBuilder()
                                .setBytesDone(done)
                                .setBytesTotal(total)
                                .build()));
            }
            job.updateAndGet(j ->
                    j.toBuilder().setState("completed").setUrl(result.url()).build());
            log.info(
                    "volume {}: backup {} of snapshot {} completed: {}",
                    r.getVolume(),
                    r.getName(),
                    r.getSnapshot(),
                    result.url());
        } catch (IOException | RuntimeException e) {
            log.warn("volume {}: backup {} failed: {}", r.getVolume(), r.getName(), e.toString());
            job.updateAndGet(j -> j.toBuilder()
                    .setState("error")
                    .setError(e.getMessage() == null ? e.toString() : e.getMessage())
                    .build());
        }
    }

    /** The snapshot, read from the first RW replica of the engine that answers. */
    private SnapshotSource open(HostedEngine engine, String snapshot) throws IOException {
        List<String> errors = new ArrayList<>();
        for (ReplicaState rep : engine.engine.info().replicas()) {
            if (!rep.mode().name().equals("RW")) {
                continue;
            }
            ReplicaEndpoint ep = null;
            try {
                ep = connector.connect(rep.address());
                return ReplicaSnapshotSource.open(ep, snapshot, true);
            } catch (IOException | RuntimeException e) {
                if (ep != null) {
                    ep.close();
                }
                if (e instanceof IllegalArgumentException) {
                    throw e;
                }
                errors.add(rep.address() + ": " + e.getMessage());
            }
        }
        throw new IOException("no RW replica of " + engine.volume + " to read from: " + errors);
    }
}
