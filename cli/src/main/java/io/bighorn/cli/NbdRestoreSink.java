package io.bighorn.cli;

import io.bighorn.backup.BackupConfig;
import io.bighorn.backup.RestoreSink;
import io.bighorn.nbd.NbdClient;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Restores into a volume served over NBD (a running engine's, or any NBD server's): {@code n} connections
 * where the server allows several, each write on a free one. Ranges the backup holds no block for are
 * zeroed first, so the volume reads as the backed-up snapshot whatever it held before.
 */
final class NbdRestoreSink implements RestoreSink, AutoCloseable {
    private final List<NbdClient> all = new ArrayList<>();
    private final BlockingQueue<NbdClient> free;
    private final long size;

    NbdRestoreSink(String url, int connections) throws IOException {
        NbdClient first = NbdClient.connect(url);
        all.add(first);
        if (first.readOnly()) {
            close();
            throw new IOException(url + " is read-only");
        }
        int n = first.canMultiConn() ? connections : 1;
        try {
            for (int i = 1; i < n; i++) {
                all.add(NbdClient.connect(url));
            }
        } catch (IOException e) {
            close();
            throw e;
        }
        this.free = new ArrayBlockingQueue<>(all.size(), false, all);
        this.size = first.size();
    }

    @Override
    public long size() {
        return size;
    }

    private interface Call {
        void run(NbdClient c) throws IOException;
    }

    private void with(Call call) throws IOException {
        NbdClient c;
        try {
            c = free.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        try {
            call.run(c);
        } finally {
            free.add(c);
        }
    }

    @Override
    public void write(long offset, byte[] data, int length) throws IOException {
        with(c -> c.write(offset, data, 0, length));
    }

    @Override
    public void zero(long offset, long length) throws IOException {
        with(c -> c.writeZeroes(offset, length));
    }

    /** Zeroes every range of the volume that {@code backup} has no block for. */
    void zeroGaps(BackupConfig backup) throws IOException {
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

    /** Makes the restore durable on every connection. */
    void flush() throws IOException {
        for (NbdClient c : all) {
            c.flush();
        }
    }

    @Override
    public void close() {
        all.forEach(NbdClient::close);
    }
}
