package io.bighorn.agent;

import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.InstanceKind;
import io.bighorn.agent.v1.InstanceState;
import io.bighorn.dataplane.replica.LocalReplicaEndpoint;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.replica.ReplicaInfo;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.dataplane.wire.ReplicaServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;

/** A replica this node hosts: its data directory and, while running, the open replica and its server. */
final class HostedReplica {
    final String name;
    final String volume;
    final String disk;
    final Path dir;
    private Replica replica;
    private ReplicaServer server;
    private String error = "";
    private long size;
    // a restore runs inside start(), which holds the lock: describe() reads these without it
    private volatile boolean restoring;
    private volatile long restoreDone;
    private volatile long restoreTotal;

    /** The replica and its address while it is served, for engines of this agent; read without the lock. */
    private record Served(String url, Replica replica) {}

    private volatile Served served;

    HostedReplica(String name, String volume, String disk, Path dir) {
        this.name = name;
        this.volume = volume;
        this.disk = disk;
        this.dir = dir;
    }

    static boolean exists(Path dir) {
        return Files.exists(dir.resolve("volume.json"));
    }

    /** Opens (or creates, with {@code size}) the replica and serves it on a free port of {@code host}. */
    synchronized void start(long createSize, String fromBackup, String host, ClusterSecret secret) throws IOException {
        if (server != null) {
            return;
        }
        try {
            // existing data keeps its own size: it may have grown since the manager last recorded it
            boolean restored = !exists(dir) && !fromBackup.isEmpty();
            if (restored) {
                restore(fromBackup);
            }
            replica = exists(dir) ? Replica.open(dir) : Replica.create(dir, createSize);
            if (restored && replica.size() > createSize) {
                throw new IllegalArgumentException("the backup holds " + replica.size() + " bytes, more than the "
                        + createSize + " of the volume restored from it");
            }
            if (restored && replica.size() < createSize) {
                replica.expand(createSize);
            }
            size = replica.size();
            server = ReplicaServer.start(replica, new InetSocketAddress(host, 0), secret);
            served = new Served(server.url(), replica);
            error = "";
        } catch (IOException | RuntimeException e) {
            error = e.getMessage() == null ? e.toString() : e.getMessage();
            closeQuietly();
            throw e;
        }
    }

    /** Restores a backup into this replica's directory (through a work directory, renamed when complete). */
    private void restore(String url) throws IOException {
        io.bighorn.backup.BackupUrl u = io.bighorn.backup.BackupUrl.parse(url);
        if (u.backup() == null) {
            throw new IllegalArgumentException("restore needs the URL of one backup, not " + url);
        }
        restoreDone = 0;
        restoreTotal = 0;
        restoring = true;
        try (io.bighorn.backup.Backupstore store = io.bighorn.backup.Backupstore.open(u.target(), System.getenv())) {
            io.bighorn.backup.DirectoryRestore.restore(
                    store, u.volume(), u.backup(), java.util.List.of(dir), 4, (done, total) -> {
                        restoreTotal = total;
                        restoreDone = done;
                    });
        } finally {
            restoring = false;
        }
    }

    /**
     * An in-process endpoint on this replica if it is served at {@code address} right now, else null. An
     * engine of this agent reaches its own node's replica through it: the same calls as over the wire,
     * without the two trips through the kernel's network stack.
     */
    ReplicaEndpoint borrow(String address) {
        Served s = served; // never waits for a start (which may be restoring a backup) or a stop
        return s != null && s.url().equals(address) ? LocalReplicaEndpoint.borrowing(s.replica(), address) : null;
    }

    /** Network connections to this replica now (engines elsewhere; an engine on this node has none). */
    synchronized int connections() {
        return server == null ? 0 : server.connections();
    }

    synchronized void stop() {
        closeQuietly();
    }

    private void closeQuietly() {
        served = null;
        if (server != null) {
            server.close();
            server = null;
        }
        if (replica != null) {
            try {
                replica.close();
            } catch (IOException e) {
                error = "closing: " + e.getMessage();
            }
            replica = null;
        }
    }

    synchronized boolean running() {
        return server != null;
    }

    /** The replica as GetNode reports it; never waits for a restore in progress. */
    Instance describe() {
        if (restoring) {
            return Instance.newBuilder()
                    .setName(name)
                    .setVolume(volume)
                    .setKind(InstanceKind.REPLICA)
                    .setDisk(disk)
                    .setState(InstanceState.STOPPED)
                    .setRestoring(true)
                    .setRestoreBytesDone(restoreDone)
                    .setRestoreBytesTotal(restoreTotal)
                    .build();
        }
        return describeServing();
    }

    private synchronized Instance describeServing() {
        Instance.Builder b = Instance.newBuilder()
                .setName(name)
                .setVolume(volume)
                .setKind(InstanceKind.REPLICA)
                .setDisk(disk)
                .setError(error);
        if (server != null) {
            b.setState(InstanceState.RUNNING).setAddress(server.url()).setSize(replica.size());
            try {
                ReplicaInfo info = replica.info();
                b.setActualSize(info.layers().stream()
                        .mapToLong(ReplicaInfo.LayerInfo::allocatedBytes)
                        .sum());
            } catch (IOException e) {
                b.setState(InstanceState.ERROR).setError(e.getMessage());
            }
        } else {
            b.setState(error.isEmpty() ? InstanceState.STOPPED : InstanceState.ERROR)
                    .setSize(size);
        }
        return b.build();
    }

    /** Reads the size of a stopped replica's data, for reports. */
    void readSize() {
        try (Replica r = Replica.open(dir, true, java.time.Clock.systemUTC())) {
            size = r.size();
        } catch (IOException | RuntimeException e) {
            error = "cannot read the replica's data: " + e.getMessage();
        }
    }
}
