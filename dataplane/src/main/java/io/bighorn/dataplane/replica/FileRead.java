package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SelectableChannel;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * A read of a replica planned for a zero-copy send: the runs of layer files (and of zeros, where no
 * layer holds the blocks) that make up the range, in order. {@link #transferTo} sends them to a socket
 * with {@code sendfile} (through {@link FileChannel#transferTo}), so the data goes from the page cache
 * to the socket without passing through this process.
 *
 * <p>The layers stay open while the read exists (each is pinned), but the replica's locks are not held:
 * the data sent is what the files hold when it is sent. A write to the same range after the plan and
 * before the send may or may not show, as for any read and write in flight together; a write completed
 * before the read was asked for always shows.
 */
public final class FileRead implements AutoCloseable {
    private static final ByteBuffer ZEROS = Replica.ZEROS.asByteBuffer().asReadOnlyBuffer();

    private record Run(Layer layer, long offset, long length) {}

    private final List<Run> runs = new ArrayList<>();
    private long length;
    private boolean closed;

    FileRead() {}

    /**
     * Appends {@code length} bytes of {@code layer} at {@code offset}, or of zeros if it is null; pins it
     * and opens its channel now, so that a failure to open it is the read's error, before any byte of
     * the reply is sent.
     */
    void add(Layer layer, long offset, long length) throws IOException {
        if (layer != null && !layer.pin()) {
            throw new IllegalStateException("layer " + layer.id + " is closed");
        }
        if (layer != null) {
            try {
                layer.channel();
            } catch (IOException | RuntimeException e) {
                layer.unpin();
                throw e;
            }
        }
        if (!runs.isEmpty()) {
            Run last = runs.getLast();
            if (last.layer == layer && (layer == null || last.offset + last.length == offset)) {
                runs.set(runs.size() - 1, new Run(layer, last.offset, last.length + length));
                if (layer != null) {
                    layer.unpin();
                }
                this.length += length;
                return;
            }
        }
        runs.add(new Run(layer, offset, length));
        this.length += length;
    }

    /** Bytes in the read. */
    public long length() {
        return length;
    }

    /**
     * Writes all {@link #length} bytes to {@code out}, a channel in blocking mode. A file that ends
     * before a run does (a layer shorter than the volume) reads as zeros from there, as {@code pread}
     * would.
     */
    public void transferTo(WritableByteChannel out) throws IOException {
        if (out instanceof SelectableChannel s && !s.isBlocking()) {
            // transferTo returns 0 when such a channel is full, which would read here as the end of a file
            throw new IllegalArgumentException("a FileRead is sent to a channel in blocking mode");
        }
        for (Run run : runs) {
            long done = 0;
            if (run.layer != null) {
                FileChannel file = run.layer.channel();
                while (done < run.length) {
                    long n = file.transferTo(run.offset + done, run.length - done, out);
                    if (n > 0) {
                        done += n;
                    } else if (run.offset + done >= file.size()) {
                        break; // end of the file: the rest reads as zeros
                    } else {
                        throw new IOException("sendfile from layer " + run.layer.id + " made no progress");
                    }
                }
            }
            zeros(out, run.length - done);
        }
    }

    private static void zeros(WritableByteChannel out, long count) throws IOException {
        ByteBuffer z = ZEROS.duplicate();
        for (long left = count; left > 0; ) {
            z.clear().limit((int) Math.min(z.capacity(), left));
            while (z.hasRemaining()) {
                left -= out.write(z);
            }
        }
    }

    /** Unpins the layers; the read must not be sent after. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Run run : runs) {
            if (run.layer != null) {
                run.layer.unpin();
            }
        }
    }
}
