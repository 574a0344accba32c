package io.bighorn.dataplane.wire;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.concurrent.atomic.LongAdder;

/**
 * The request side of an authenticated {@link ServerConnection}, used by its reader thread only. Each read
 * system call fills one large input buffer with as much as the socket holds, and frames are parsed out of
 * it until it runs short, so a burst of pipelined requests costs one read, not two per frame.
 *
 * <p>A payload is copied out of the input buffer into its own buffer. When more of it than
 * {@link #DIRECT} is still missing, the rest is read straight into that buffer, so large payloads are
 * never copied twice; a shorter rest is read through the input buffer, whose read may bring the next frames
 * with it.
 *
 * <p>Every read may block, so {@code beforeRead} runs before each one: the connection sends the replies it
 * has batched up, which is exactly when its input holds no further complete frame.
 */
final class FrameReader {
    static final int CAPACITY = 512 << 10;
    /** A payload missing at least this many bytes has them read straight into its own buffer. */
    static final int DIRECT = 64 << 10;

    private final ReadableByteChannel ch;
    private final Runnable beforeRead;
    private final LongAdder reads;
    /** Between reads: position is the next byte to parse, limit the end of what was read. */
    private final ByteBuffer in = ByteBuffer.allocateDirect(CAPACITY).flip();

    FrameReader(ReadableByteChannel ch, Runnable beforeRead, LongAdder reads) {
        this.ch = ch;
        this.beforeRead = beforeRead;
        this.reads = reads;
    }

    /** The next frame's header, decoded and checked by {@link Frame#decode}; its payload follows. */
    Frame next() throws IOException {
        while (in.remaining() < Frame.HEADER) {
            fill();
        }
        return Frame.decode(in);
    }

    /** Fills {@code dst} with the payload of the frame just returned by {@link #next}. */
    void payload(ByteBuffer dst) throws IOException {
        while (true) {
            int n = Math.min(in.remaining(), dst.remaining());
            dst.put(dst.position(), in, in.position(), n);
            dst.position(dst.position() + n);
            in.position(in.position() + n);
            if (!dst.hasRemaining()) {
                return;
            }
            if (dst.remaining() >= DIRECT) {
                beforeRead.run();
                while (dst.hasRemaining()) {
                    read(dst);
                }
                return;
            }
            fill(); // the input buffer is empty now
        }
    }

    /** Reads more after what is left unparsed (moved to the front); at least one byte or end of stream. */
    private void fill() throws IOException {
        beforeRead.run();
        in.compact();
        try {
            read(in);
        } finally {
            in.flip();
        }
    }

    private void read(ByteBuffer dst) throws IOException {
        int n = ch.read(dst);
        reads.increment();
        if (n < 0) {
            throw new EOFException("connection closed by the peer");
        }
    }
}
