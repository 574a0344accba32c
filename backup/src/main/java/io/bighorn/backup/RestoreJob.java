package io.bighorn.backup;

import io.bighorn.backup.store.BackupStore;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Restores one backup into a {@link RestoreSink}, under the volume's RESTORE lock (shared with backups,
 * excluded by deletions). Every block is read, decompressed and checked against the checksum that names
 * it before it is written; a missing or damaged block fails the restore with an error naming the block
 * and its offset. Incremental: given the backup the sink holds already, only blocks whose checksum
 * differs are fetched, and blocks the new backup no longer has are zeroed.
 */
final class RestoreJob {
    private final BackupStore store;
    private final BackupConfig backup;
    private final BackupConfig from;
    private final RestoreSink sink;
    private final int concurrency;
    private final Progress progress;
    private final AtomicLong downloaded = new AtomicLong();
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong done = new AtomicLong();
    private final java.util.concurrent.Semaphore downloads;

    RestoreJob(
            BackupStore store,
            BackupConfig backup,
            BackupConfig from,
            RestoreSink sink,
            int concurrency,
            Progress progress) {
        this.store = store;
        this.backup = backup;
        this.from = from;
        this.sink = sink;
        this.concurrency = concurrency;
        this.progress = progress;
        this.downloads = new java.util.concurrent.Semaphore(concurrency);
    }

    RestoreResult run(Compression compression) throws IOException {
        long started = System.nanoTime();
        int blockSize = backup.blockSize();
        if (from != null && from.blockSize() != blockSize) {
            throw new IllegalArgumentException("backup " + backup.name() + " uses "
                    + BackupOptions.formatBlockSize(blockSize) + " blocks and " + from.name() + " "
                    + BackupOptions.formatBlockSize(from.blockSize()) + ": restore it in full");
        }
        Map<Long, String> old = new HashMap<>();
        if (from != null) {
            from.blocks().forEach(b -> old.put(b.offset(), b.checksum()));
        }
        List<BackupConfig.BlockMapping> fetch = new ArrayList<>();
        for (BackupConfig.BlockMapping b : backup.blocks()) {
            if (b.offset() >= sink.size()) {
                throw new IOException("backup " + backup.name() + " has a block at " + b.offset()
                        + ", past the end of the " + sink.size() + "-byte volume");
            }
            if (!b.checksum().equals(old.remove(b.offset()))) {
                fetch.add(b);
            }
        }
        long zeroed = 0;
        for (long offset : old.keySet()) {
            if (offset < sink.size()) {
                sink.zero(offset, Math.min(blockSize, sink.size() - offset));
                zeroed++;
            }
        }
        long total = (long) fetch.size() * blockSize;
        // enough workers to keep `concurrency` downloads in flight while others decompress, check and write
        ExecutorService pool =
                Executors.newFixedThreadPool(concurrency + Runtime.getRuntime().availableProcessors(), r -> {
                    Thread t = new Thread(r, "restore-" + backup.volumeName());
                    t.setDaemon(true);
                    return t;
                });
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (BackupConfig.BlockMapping b : fetch) {
                futures.add(pool.submit(() -> {
                    one(b, blockSize, compression);
                    progress.update(done.addAndGet(blockSize), total);
                    return null;
                }));
            }
            Tasks.awaitAll(futures);
        } finally {
            pool.shutdownNow();
        }
        return new RestoreResult(
                backup,
                from == null ? null : from.name(),
                fetch.size(),
                zeroed,
                downloaded.get(),
                written.get(),
                (System.nanoTime() - started) / 1_000_000);
    }

    private void one(BackupConfig.BlockMapping b, int blockSize, Compression compression) throws IOException {
        String path = Layout.block(backup.volumeName(), b.checksum());
        byte[] stored;
        downloads.acquireUninterruptibly();
        try {
            stored = store.read(path);
        } catch (NoSuchFileException e) {
            throw new CorruptBackupException("block " + b.checksum() + " (offset " + b.offset() + ") of backup "
                    + backup.name() + " is missing from " + store.url());
        } finally {
            downloads.release();
        }
        downloaded.addAndGet(stored.length);
        byte[] data = new byte[blockSize];
        int n;
        try {
            n = compression.decompress(stored, data);
        } catch (IOException e) {
            throw new CorruptBackupException("block " + b.checksum() + " (offset " + b.offset() + ") of backup "
                    + backup.name() + " is corrupt: " + e.getMessage());
        }
        if (n != blockSize || !Layout.blockHash(data, blockSize).equals(b.checksum())) {
            throw new CorruptBackupException("block " + b.checksum() + " (offset " + b.offset() + ") of backup "
                    + backup.name() + " is corrupt: its data does not match its checksum");
        }
        int length = (int) Math.min(blockSize, sink.size() - b.offset());
        sink.write(b.offset(), data, length);
        written.addAndGet(length);
    }
}
