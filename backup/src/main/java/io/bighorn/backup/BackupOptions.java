package io.bighorn.backup;

import java.time.Clock;
import java.util.Map;

/**
 * How to take a backup.
 *
 * @param name the backup's name, or null for a new {@code backup-<16 hex>}
 * @param blockSize 2 MiB or 16 MiB, fixed for a backup volume by its first backup; 0 for the volume's (2 MiB
 *     for a new one)
 * @param compression {@code lz4}, {@code gzip} or {@code none}; fixed by the volume's first backup, so it
 *     applies to a new backup volume only; null for lz4
 * @param full upload every block, even those the target has (repairs silently damaged blocks)
 * @param concurrency requests to the target in flight at once; reading, hashing and compressing blocks run
 *     beside them on every core
 * @param labels stored in the backup's cfg
 */
public record BackupOptions(
        String name,
        int blockSize,
        String compression,
        boolean full,
        int concurrency,
        Map<String, String> labels,
        Clock clock) {
    public static final int DEFAULT_BLOCK_SIZE = 2 << 20;
    public static final int LARGE_BLOCK_SIZE = 16 << 20;
    public static final int DEFAULT_CONCURRENCY = 4;

    public BackupOptions {
        if (name != null) {
            Layout.checkName("backup", name);
        }
        if (blockSize != 0 && blockSize != DEFAULT_BLOCK_SIZE && blockSize != LARGE_BLOCK_SIZE) {
            throw new IllegalArgumentException("backup block size must be 2Mi or 16Mi, not " + blockSize);
        }
        if (compression != null) {
            Compression.of(compression);
        }
        if (concurrency < 1 || concurrency > 64) {
            throw new IllegalArgumentException("backup concurrency must be 1 to 64, not " + concurrency);
        }
        labels = Map.copyOf(labels);
    }

    public static BackupOptions defaults() {
        return new BackupOptions(null, 0, null, false, DEFAULT_CONCURRENCY, Map.of(), Clock.systemUTC());
    }

    public BackupOptions withName(String n) {
        return new BackupOptions(n, blockSize, compression, full, concurrency, labels, clock);
    }

    public BackupOptions withBlockSize(int b) {
        return new BackupOptions(name, b, compression, full, concurrency, labels, clock);
    }

    public BackupOptions withCompression(String c) {
        return new BackupOptions(name, blockSize, c, full, concurrency, labels, clock);
    }

    public BackupOptions withFull(boolean f) {
        return new BackupOptions(name, blockSize, compression, f, concurrency, labels, clock);
    }

    public BackupOptions withConcurrency(int c) {
        return new BackupOptions(name, blockSize, compression, full, c, labels, clock);
    }

    public BackupOptions withLabels(Map<String, String> l) {
        return new BackupOptions(name, blockSize, compression, full, concurrency, l, clock);
    }

    /** A size given as Longhorn writes it ({@code 2Mi}, {@code 16Mi}) or in bytes. */
    public static int parseBlockSize(String q) {
        String s = q.trim();
        long v;
        try {
            if (s.endsWith("Mi")) {
                v = Long.parseLong(s.substring(0, s.length() - 2)) << 20;
            } else if (s.endsWith("Ki")) {
                v = Long.parseLong(s.substring(0, s.length() - 2)) << 10;
            } else {
                v = Long.parseLong(s);
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad backup block size '" + q + "': use 2Mi or 16Mi", e);
        }
        if (v != DEFAULT_BLOCK_SIZE && v != LARGE_BLOCK_SIZE) {
            throw new IllegalArgumentException("backup block size must be 2Mi or 16Mi, not " + q);
        }
        return (int) v;
    }

    static String formatBlockSize(int b) {
        return (b >> 20) + "Mi";
    }
}
