package io.bighorn.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;

/**
 * The reading side of a connection in the transmission phase: a non-blocking channel read through one
 * large buffer, so that one read system call takes in every request the client has sent so far (at queue
 * depth 32, dozens). WRITE payloads larger than what is buffered are read straight into their destination.
 * Only the connection's reader thread uses it; {@link #wakeup} may come from any thread.
 */
final class Inbox implements AutoCloseable {
    private final SocketChannel ch;
    private final Selector selector;
    /** In read mode: position is the next unread byte, limit the end of what was received. */
    private final ByteBuffer buf;

    private final Runnable beforeRead;

    /**
     * Takes over {@code ch} (switched to non-blocking) with {@code leftover} bytes already received;
     * {@code beforeRead} runs each time the inbox has to read the channel (and may then wait for input).
     */
    Inbox(SocketChannel ch, int capacity, byte[] leftover, Runnable beforeRead) throws IOException {
        this.ch = ch;
        this.beforeRead = beforeRead;
        ch.configureBlocking(false);
        this.selector = selector(ch, SelectionKey.OP_READ);
        this.buf = ByteBuffer.allocateDirect(Math.max(capacity, leftover.length));
        buf.put(leftover).flip();
    }

    /** A selector of its own watching {@code ch} (non-blocking) for {@code ops}. */
    static Selector selector(SocketChannel ch, int ops) throws IOException {
        Selector selector = Selector.open();
        try {
            ch.register(selector, ops);
        } catch (IOException | RuntimeException e) {
            selector.close();
            throw e;
        }
        return selector;
    }

    /**
     * Makes at least {@code n} bytes (at most the capacity) available in {@link #buffer()}; false on a clean
     * end of stream with nothing buffered, {@link EOFException} on one inside the {@code n} bytes.
     */
    boolean fill(int n) throws IOException {
        while (buf.remaining() < n) {
            buf.compact();
            int r;
            try {
                r = readSome(buf);
            } finally {
                buf.flip();
            }
            if (r < 0) {
                if (buf.hasRemaining()) {
                    throw new EOFException("client closed the connection inside a request");
                }
                return false;
            }
        }
        return true;
    }

    /** The receive buffer, positioned at the next unread byte; a caller consumes by advancing it. */
    ByteBuffer buffer() {
        return buf;
    }

    /** Fills {@code dst} completely: first from the buffer, then straight from the channel. */
    void readFully(ByteBuffer dst) throws IOException {
        copyBuffered(dst);
        while (dst.hasRemaining()) {
            if (dst.remaining() >= buf.capacity() / 2) {
                if (readSome(dst) < 0) {
                    throw new EOFException("client closed the connection inside a request payload");
                }
            } else {
                if (!fill(1)) {
                    throw new EOFException("client closed the connection inside a request payload");
                }
                copyBuffered(dst);
            }
        }
    }

    /** Discards {@code n} bytes of input. */
    void skip(long n) throws IOException {
        long left = n;
        while (left > 0) {
            if (!buf.hasRemaining() && !fill(1)) {
                throw new EOFException("client closed the connection inside a request payload");
            }
            int part = (int) Math.min(left, buf.remaining());
            buf.position(buf.position() + part);
            left -= part;
        }
    }

    private void copyBuffered(ByteBuffer dst) {
        int part = Math.min(dst.remaining(), buf.remaining());
        if (part > 0) {
            dst.put(dst.position(), buf, buf.position(), part);
            dst.position(dst.position() + part);
            buf.position(buf.position() + part);
        }
    }

    /** One non-blocking read into {@code into}, waiting for input when none is there; -1 at end of stream. */
    private int readSome(ByteBuffer into) throws IOException {
        beforeRead.run();
        while (true) {
            int r = ch.read(into);
            if (r != 0 || !into.hasRemaining()) {
                return r;
            }
            selector.select();
            selector.selectedKeys().clear();
            if (!ch.isOpen()) {
                throw new ClosedChannelException();
            }
        }
    }

    /** Makes a reader waiting for input look again (after the channel was closed). */
    void wakeup() {
        selector.wakeup();
    }

    @Override
    public void close() throws IOException {
        selector.close();
    }
}
