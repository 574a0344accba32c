package io.bighorn.cli;

import io.bighorn.backup.BackupConfig;
import io.bighorn.backup.RestoreSink;
import io.bighorn.nbd.NbdClient;
import java.io.IOException;

/**
 * Restores into a volume served over NBD (a running engine's, or any NBD server's), through one
 * connection that carries the restore's concurrent writes pipelined. Ranges the backup holds no block for
 * are zeroed first, so the volume reads as the backed-up snapshot whatever it held before.
 */
final class NbdRestoreSink implements RestoreSink, AutoCloseable {
    private final NbdClient client;

    NbdRestoreSink(String url) throws IOException {
        client = NbdClient.connect(url);
        if (client.readOnly()) {
            client.close();
            throw new IOException(url + " is read-only");
        }
    }

    @Override
    public long size() {
        return client.size();
    }

    @Override
    public void write(long offset, byte[] data, int length) throws IOException {
        client.write(offset, data, 0, length);
    }

    @Override
    public void zero(long offset, long length) throws IOException {
        client.writeZeroes(offset, length);
    }

    /** Zeroes every range of the volume that {@code backup} has no block for. */
    void zeroGaps(BackupConfig backup) throws IOException {
        long size = size();
        long at = 0;
        int bs = backup.blockSize();
        for (BackupConfig.BlockMapping b : backup.blocks()) {
            if (b.offset() > at) {
                zero(at, Math.min(b.offset(), size) - at);
            }
            at = Math.max(at, b.offset() + bs);
        }
        if (at < size) {
            zero(at, size - at);
        }
    }

    /** Makes the restore durable. */
    void flush() throws IOException {
        client.flush();
    }

    @Override
    public void close() {
        client.close();
    }
}
