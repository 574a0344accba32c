package io.bighorn.backup;

import io.bighorn.backup.store.BackupStore;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One backup of one snapshot, as Longhorn's delta-block backup takes it.
 *
 * <ol>
 *   <li>Take the volume's BACKUP lock; create {@code volume.cfg} if the volume is new (its compression and
 *       block size are then fixed). The work starts while the lock settles (Longhorn's 2 s) and is confirmed
 *       on a thread of its own; only blocks are written before that. They are named by their content and no
 *       cfg names them yet, and nothing can collect them meanwhile: a deletion holding priority over this
 *       backup is seen right after its lock is written ({@link Locks#begin}), and a younger one gives way
 *       to it. If the lock is not confirmed, the blocks stay unreferenced until a deletion collects them.
 *   <li>Go incremental when the volume's last backup loads, is complete, used the same block size, and its
 *       snapshot is still an ancestor of this one; otherwise (or when asked for full) read every block.
 *   <li>Write a placeholder cfg with an empty {@code CreatedTime}: the backup is in progress.
 *   <li>Workers read each block as at the snapshot (skipping blocks no newer snapshot touched), name it by
 *       the SHA-512 of its data, and upload it compressed unless the volume has it already or another
 *       worker is uploading it. Blocks are files of their own, written atomically, so a crash leaves whole
 *       blocks that a rerun finds and skips.
 *   <li>Merge the new mappings over the last backup's, write the complete cfg, then {@code volume.cfg}.
 * </ol>
 *
 * A crash before the last step leaves a placeholder, which no restore accepts and no later backup builds
 * on; the volume's {@code LastBackupName} still names the previous complete backup.
 */
final class BackupJob {
    private final BackupStore store;
    private final String volume;
    private final SnapshotSource source;
    private final BackupOptions options;
    private final Progress progress;
    private final Locks.Timing lockTiming;

    private final AtomicLong changed = new AtomicLong();
    private final AtomicLong uploaded = new AtomicLong();
    private final AtomicLong created = new AtomicLong();
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong newBytes = new AtomicLong();
    private final AtomicLong reBytes = new AtomicLong();
    private final AtomicLong done = new AtomicLong();
    private final Set<String> uploading = ConcurrentHashMap.newKeySet();
    /** The volume's blocks at the start, when listing them is cheaper than asking for each; else null. */
    private Set<String> known;
    /** Requests to the target in flight: at most the asked concurrency. */
    private final Semaphore transfers;

    BackupJob(
            BackupStore store,
            String volume,
            SnapshotSource source,
            BackupOptions options,
            Progress progress,
            Locks.Timing lockTiming) {
        this.lockTiming = lockTiming;
        this.transfers = new Semaphore(options.concurrency());
        this.store = store;
        this.volume = Layout.checkName("volume", volume);
        this.source = source;
        this.options = options;
        this.progress = progress;
    }

    static String rfc3339(Instant t) {
        return t.truncatedTo(ChronoUnit.SECONDS).toString();
    }

    BackupResult run() throws IOException {
        long started = System.nanoTime();
        Locks.Held[] held = {null};
        try (Locks.Pending pending = Locks.begin(store, volume, Locks.BACKUP, lockTiming)) {
            Instant now = options.clock().instant();
            VolumeConfig existingVolume = loadVolume();
            VolumeConfig vol = existingVolume != null ? existingVolume : newVolume(now);
            BackupConfig last = lastBackup(vol);
            int blockSize = blockSize(last);
            Compression compression = vol.compression();
            boolean incremental = last != null
                    && !options.full()
                    && last.blockSize() == blockSize
                    && !last.snapshotName().equals(source.snapshot())
                    && source.hasAncestor(last.snapshotName());
            String name = options.name() != null
                    ? options.name()
                    : "backup-"
                            + HexFormat.of()
                                    .toHexDigits(ThreadLocalRandom.current().nextLong());
            String cfgPath = Layout.backupCfg(volume, name);
            if (store.exists(cfgPath)) {
                BackupConfig existing = BackupConfig.parse(store.read(cfgPath), cfgPath);
                if (existing.complete()) {
                    throw new IllegalArgumentException("backup volume " + volume + " already has a backup " + name);
                }
            }
            Map<String, String> parameters = new TreeMap<>();
            parameters.put(BackupConfig.MODE, incremental ? "incremental" : "full");
            if (blockSize != BackupOptions.DEFAULT_BLOCK_SIZE) {
                parameters.put(BackupConfig.BLOCK_SIZE, BackupOptions.formatBlockSize(blockSize));
            }
            BackupConfig placeholder = new BackupConfig(
                    name,
                    volume,
                    source.snapshot(),
                    rfc3339(source.snapshotCreated()),
                    "",
                    0,
                    options.labels(),
                    parameters,
                    incremental,
                    vol.compressionMethod().isEmpty() ? Compression.GZIP.id : vol.compressionMethod(),
                    0,
                    0,
                    List.of());
            // Reading, hashing and compressing start at once; the first write to the target waits until
            // the lock is confirmed (Longhorn's settle time), and the volume and placeholder are written.
            gate = () -> {
                held[0] = pending.confirm();
                if (existingVolume == null) {
                    store.write(Layout.volumeCfg(volume), vol.toJson());
                }
                store.write(cfgPath, placeholder.toJson());
            };
            confirmer = Thread.ofPlatform()
                    .daemon()
                    .name("backup-lock-" + volume)
                    .start(() -> {
                        try {
                            openGate();
                        } catch (IOException failed) {
                            // kept in gateFailure: the workers stop, and run() throws it
                        }
                    });
            known = knownBlocks(vol);
            Map<Long, String> mappings = upload(blockSize, compression, incremental ? last.snapshotName() : null);
            openGate();
            TreeMap<Long, String> all = new TreeMap<>();
            if (incremental) {
                for (BackupConfig.BlockMapping b : last.blocks()) {
                    if (b.offset() < source.size()) {
                        all.put(b.offset(), b.checksum());
                    }
                }
            }
            for (Map.Entry<Long, String> e : mappings.entrySet()) {
                if (e.getValue().isEmpty()) {
                    all.remove(e.getKey()); // a hole now
                } else {
                    all.put(e.getKey(), e.getValue());
                }
            }
            List<BackupConfig.BlockMapping> list = new ArrayList<>(all.size());
            all.forEach((o, c) -> list.add(new BackupConfig.BlockMapping(o, c)));
            BackupConfig complete = placeholder.completed(
                    rfc3339(options.clock().instant()),
                    newBytes.get(),
                    reBytes.get(),
                    list,
                    (long) list.size() * blockSize);
            store.write(cfgPath, complete.toJson());
            store.write(
                    Layout.volumeCfg(volume),
                    vol.withLastBackup(
                                    name, complete.snapshotCreatedAt(), vol.blockCount() + created.get(), source.size())
                            .toJson());
            progress.update(source.size(), source.size());
            return new BackupResult(
                    new BackupUrl(store.url(), volume, name).toString(),
                    complete,
                    incremental,
                    incremental ? last.name() : null,
                    blocks(blockSize),
                    changed.get(),
                    uploaded.get(),
                    bytesRead.get(),
                    newBytes.get() + reBytes.get(),
                    (System.nanoTime() - started) / 1_000_000);
        } finally {
            if (confirmer != null) {
                // a failed backup must not confirm its lock or write its placeholder afterwards
                confirmer.interrupt();
                io.bighorn.common.Threads.joinUninterruptibly(confirmer);
            }
            if (held[0] != null) {
                held[0].close();
            }
        }
    }

    private interface Action {
        void run() throws IOException;
    }

    /** Confirms the lock and writes the placeholder, once; every write to the target but blocks waits for it. */
    private Action gate;

    /** Runs {@link #gate} as soon as the lock has settled. */
    private Thread confirmer;

    private boolean gateOpen;
    private volatile IOException gateFailure;

    private synchronized void openGate() throws IOException {
        if (gateFailure != null) {
            throw gateFailure;
        }
        if (!gateOpen) {
            try {
                gate.run();
                gateOpen = true;
            } catch (IOException e) {
                gateFailure = e;
                throw e;
            } catch (RuntimeException e) {
                gateFailure = new IOException("cannot start backup of " + volume + ": " + e.getMessage(), e);
                throw gateFailure;
            }
        }
    }

    /**
     * The volume's stored blocks, by one listing (a request per 1,000 blocks with S3) instead of a request
     * per block read; skipped for volumes of more than {@value #LIST_LIMIT} blocks, where an incremental
     * backup usually asks about far fewer. A block stored meanwhile by a concurrent backup of the volume is
     * just uploaded again: the same bytes under the same name.
     */
    private Set<String> knownBlocks(VolumeConfig vol) throws IOException {
        if (vol.blockCount() > LIST_LIMIT) {
            return null;
        }
        Set<String> out = ConcurrentHashMap.newKeySet();
        for (String f : store.listFiles(Layout.blocksDir(volume))) {
            if (f.endsWith(Layout.BLOCK_SUFFIX)) {
                out.add(f.substring(f.lastIndexOf('/') + 1, f.length() - Layout.BLOCK_SUFFIX.length()));
            }
        }
        return out;
    }

    private static final long LIST_LIMIT = 100_000;

    private long blocks(int blockSize) {
        return (source.size() + blockSize - 1) / blockSize;
    }

    /** The backup volume's cfg, or null for a new volume. */
    private VolumeConfig loadVolume() throws IOException {
        String path = Layout.volumeCfg(volume);
        try {
            return VolumeConfig.parse(store.read(path), path);
        } catch (NoSuchFileException absent) {
            return null;
        }
    }

    private VolumeConfig newVolume(Instant now) {
        String method = options.compression() == null ? Compression.LZ4.id : options.compression();
        return new VolumeConfig(volume, source.size(), Map.of(), rfc3339(now), "", "", 0, "", "", method, "", "v1");
    }

    /** The volume's last complete backup, or null if there is none or it cannot be read. */
    private BackupConfig lastBackup(VolumeConfig vol) {
        if (vol.lastBackupName().isEmpty()) {
            return null;
        }
        try {
            String path = Layout.backupCfg(volume, vol.lastBackupName());
            BackupConfig c = BackupConfig.parse(store.read(path), path);
            return c.complete() ? c : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private int blockSize(BackupConfig last) {
        int volumeBlock = last == null ? 0 : last.blockSize();
        int asked = options.blockSize();
        if (asked != 0 && volumeBlock != 0 && asked != volumeBlock) {
            throw new IllegalArgumentException("backup volume " + volume + " uses "
                    + BackupOptions.formatBlockSize(volumeBlock) + " blocks; a backup with "
                    + BackupOptions.formatBlockSize(asked) + " blocks cannot join it");
        }
        return asked != 0 ? asked : volumeBlock != 0 ? volumeBlock : BackupOptions.DEFAULT_BLOCK_SIZE;
    }

    /** Reads and uploads the blocks that changed; offset → checksum, "" for a block that is now a hole. */
    private Map<Long, String> upload(int blockSize, Compression compression, String since) throws IOException {
        Map<Long, String> out = new ConcurrentSkipListMap<>();
        long size = source.size();
        long total = blocks(blockSize);
        // Workers: enough to keep `concurrency` transfers in flight while others read, hash and compress.
        int workers = options.concurrency() + Runtime.getRuntime().availableProcessors();
        Semaphore window = new Semaphore(workers * 2);
        ExecutorService pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "backup-" + volume);
            t.setDaemon(true);
            return t;
        });
        List<Future<?>> futures = new ArrayList<>();
        try {
            for (long i = 0; i < total; i++) {
                long offset = i * blockSize;
                window.acquire();
                futures.add(pool.submit(() -> {
                    try {
                        one(offset, blockSize, compression, since, out);
                        return null;
                    } finally {
                        window.release();
                        progress.update(Math.min(size, done.addAndGet(blockSize)), size);
                    }
                }));
                if (futures.size() > 1024) {
                    drain(futures, false);
                }
            }
            drain(futures, true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("backup of " + volume + " interrupted", e);
        } finally {
            pool.shutdownNow();
        }
        return out;
    }

    private interface Transfer<T> {
        T run() throws IOException;
    }

    private <T> T transfer(Transfer<T> t) throws IOException {
        IOException failed = gateFailure;
        if (failed != null) {
            throw failed;
        }
        transfers.acquireUninterruptibly();
        try {
            return t.run();
        } finally {
            transfers.release();
        }
    }

    /** Waits for the finished tasks (all of them if {@code all}) and keeps the others. */
    private static void drain(List<Future<?>> futures, boolean all) throws IOException {
        List<Future<?>> done = new ArrayList<>();
        List<Future<?>> left = new ArrayList<>();
        for (Future<?> f : futures) {
            (all || f.isDone() ? done : left).add(f);
        }
        try {
            Tasks.awaitAll(done);
        } catch (IOException | RuntimeException e) {
            left.forEach(f -> f.cancel(true));
            throw e;
        }
        futures.clear();
        futures.addAll(left);
    }

    /** A worker's block buffer and compression scratch, reused: both are done with once the block is stored. */
    private static final ThreadLocal<byte[]> BUFFERS = new ThreadLocal<>();

    private static final ThreadLocal<byte[]> SCRATCH = new ThreadLocal<>();

    private static byte[] buffer(ThreadLocal<byte[]> local, int size) {
        byte[] b = local.get();
        if (b == null || b.length != size) {
            b = new byte[size];
            local.set(b);
        }
        return b;
    }

    private void one(long offset, int blockSize, Compression compression, String since, Map<Long, String> out)
            throws IOException {
        SnapshotSource.Read r;
        byte[] data = null;
        if (!source.mayHoldData(offset, blockSize)) {
            r = since == null ? SnapshotSource.Read.HOLE : SnapshotSource.Read.UNCHANGED;
        } else {
            data = buffer(BUFFERS, blockSize);
            r = source.read(offset, data, since);
        }
        switch (r) {
            case UNCHANGED -> {
                return;
            }
            case HOLE -> {
                if (since != null) {
                    out.put(offset, "");
                }
                return;
            }
            case DATA -> {}
        }
        changed.incrementAndGet();
        bytesRead.addAndGet(Math.min(blockSize, source.size() - offset));
        String checksum = Layout.blockHash(data, blockSize);
        out.put(offset, checksum);
        if (!uploading.add(checksum)) {
            return; // another worker stores the same data
        }
        String path = Layout.block(volume, checksum);
        boolean there = known != null ? known.contains(checksum) : transfer(() -> store.exists(path));
        if (there && !options.full()) {
            return;
        }
        Compression.Stored stored =
                compression.compress(data, blockSize, buffer(SCRATCH, Compression.scratchSize(blockSize)));
        transfer(() -> {
            store.write(path, stored.bytes(), stored.length());
            return null;
        });
        uploaded.incrementAndGet();
        if (!there) {
            created.incrementAndGet();
        }
        (there ? reBytes : newBytes).addAndGet(stored.length());
    }
}
