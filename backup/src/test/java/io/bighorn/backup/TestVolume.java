package io.bighorn.backup;

import static org.assertj.core.api.Assertions.assertThat;

import io.bighorn.dataplane.replica.LocalReplicaEndpoint;
import io.bighorn.dataplane.replica.Replica;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;

/**
 * A replica in a temporary directory with a model of its contents: what each snapshot must read back as.
 */
final class TestVolume implements AutoCloseable {
    final Replica replica;
    final byte[] model;
    private final Random random;
    private int snapshots;

    TestVolume(Path dir, int size, long seed) throws IOException {
        this.replica = Replica.create(dir, size);
        this.model = new byte[size];
        this.random = new Random(seed);
    }

    void write(long offset, int length) throws IOException {
        byte[] data = new byte[length];
        random.nextBytes(data);
        writeBytes(offset, data);
    }

    void writeBytes(long offset, byte[] data) throws IOException {
        replica.write(replica.epoch(), offset, ByteBuffer.wrap(data));
        System.arraycopy(data, 0, model, (int) offset, data.length);
    }

    /** Writes zeros as data: allocated blocks that read as zero. */
    void writeZeros(long offset, int length) throws IOException {
        writeBytes(offset, new byte[length]);
    }

    /** Random 4 KiB-aligned writes of {@code min} to {@code max} bytes until {@code bytes} are written; the 2 MiB blocks hit. */
    java.util.BitSet scatter(long bytes, int min, int max) throws IOException {
        java.util.BitSet touched = new java.util.BitSet();
        long left = bytes;
        while (left > 0) {
            int len = (min / 4096 + random.nextInt((max - min) / 4096 + 1)) * 4096;
            long off = (long) random.nextInt((model.length - len) / 4096) * 4096;
            write(off, len);
            touched.set((int) (off >> 21), (int) ((off + len - 1) >> 21) + 1);
            left -= len;
        }
        return touched;
    }

    /** Takes a snapshot a minute after the last one, so that snapshot times order them. */
    byte[] snapshot(String name) throws IOException {
        replica.snapshot(
                name,
                true,
                Map.of(),
                java.time.Instant.parse("2026-01-01T00:00:00Z").plusSeconds(60L * snapshots++));
        return model.clone();
    }

    SnapshotSource source(String snapshot) throws IOException {
        return ReplicaSnapshotSource.open(new LocalReplicaEndpoint(replica), snapshot, false);
    }

    /** Backs up {@code snapshot} into backup volume vol1 of {@code store}. */
    BackupResult backup(Backupstore store, String snapshot, BackupOptions options) throws IOException {
        try (SnapshotSource src = source(snapshot)) {
            return store.backup("vol1", src, options, Progress.NONE);
        }
    }

    static void assertReads(Path dir, byte[] expected) throws IOException {
        try (Replica r = Replica.open(dir)) {
            assertReads(r, expected);
        }
    }

    static void assertReads(Replica r, byte[] expected) throws IOException {
        assertThat(r.size()).isEqualTo(expected.length);
        int chunk = 8 << 20;
        ByteBuffer buf = ByteBuffer.allocate(chunk);
        for (int at = 0; at < expected.length; at += chunk) {
            int n = Math.min(chunk, expected.length - at);
            buf.clear().limit(n);
            r.read(at, buf);
            byte[] got = Arrays.copyOf(buf.array(), n);
            if (!Arrays.equals(got, 0, n, expected, at, at + n)) {
                int i = Arrays.mismatch(got, 0, n, expected, at, at + n);
                throw new AssertionError("restored volume differs at byte " + (at + i));
            }
        }
    }

    @Override
    public void close() throws IOException {
        replica.close();
    }
}
