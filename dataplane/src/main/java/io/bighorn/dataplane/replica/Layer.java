package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One open layer file of a replica: its id, descriptor and metadata.
 *
 * <p>The replica holds one reference to it; a {@link FileRead} holds another from when it is planned
 * until its data has been sent, outside the replica's locks. {@link #close} drops the replica's
 * reference, and the file closes once the last reference is gone, so a snapshot, purge or revert that
 * retires a layer never pulls the file from under a transfer still running from it.
 */
final class Layer implements AutoCloseable {
    final long id;
    final NativeFile file;
    private volatile LayerMeta meta;
    private final AtomicInteger refs = new AtomicInteger(1);
    private final AtomicBoolean closed = new AtomicBoolean();
    /** The same file as a channel, for {@code sendfile}; opened on first use, closed with the file. */
    private volatile FileChannel channel;

    Layer(long id, NativeFile file, LayerMeta meta) {
        this.id = id;
        this.file = file;
        this.meta = meta;
    }

    LayerMeta meta() {
        return meta;
    }

    void meta(LayerMeta meta) {
        this.meta = meta;
    }

    String name() {
        return meta.name() == null ? Replica.HEAD_NAME : meta.name();
    }

    /** Allocated bytes: the sum of the file's data extents. */
    long allocatedBytes() throws IOException {
        long[] total = {0};
        Extents.forEach(file, Long.MAX_VALUE, (from, to) -> total[0] += to - from);
        return total[0];
    }

    /** Takes a reference; false if the layer is closed already. */
    boolean pin() {
        for (int r = refs.get(); r > 0; r = refs.get()) {
            if (refs.compareAndSet(r, r + 1)) {
                return true;
            }
        }
        return false;
    }

    /** Drops a reference; the last one closes the file. */
    void unpin() {
        if (refs.decrementAndGet() == 0) {
            FileChannel c = channel;
            if (c != null) {
                Replica.closeQuietly(c);
            }
            Replica.closeQuietly(file);
        }
    }

    /**
     * The file as a read-only channel (while pinned). It is opened through the descriptor, not the path,
     * so a layer whose file was already deleted still reads; and again if it was closed (an interrupted
     * transfer closes its channel).
     */
    FileChannel channel() throws IOException {
        FileChannel c = channel;
        if (c == null || !c.isOpen()) {
            synchronized (this) {
                c = channel;
                if (c == null || !c.isOpen()) {
                    c = FileChannel.open(Path.of("/proc/self/fd/" + file.fd()), StandardOpenOption.READ);
                    channel = c;
                }
            }
        }
        return c;
    }

    /** Drops the replica's reference (once). */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            unpin();
        }
    }
}
