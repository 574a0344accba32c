package io.bighorn.nbd;

import io.bighorn.common.Plug;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The replies of one connection, written by whichever thread completes a request, without ever blocking it.
 *
 * <p>{@link #send} queues a reply and then (at once, or when the sending thread's {@link Plug} is flushed)
 * tries to become the writer ({@code tryLock}): the writer takes
 * everything queued and writes it with one gathering, non-blocking write, so replies that complete together
 * leave together. A thread that finds another writer at work just returns: the writer looks at the queue
 * again after releasing the lock, so no reply is left behind. Replies are written whole and in queue
 * order, so the bytes of two replies never interleave; a reply's {@code written} action (giving back its
 * buffer and permits) runs once its last byte is handed to the socket, or once the connection failed.
 *
 * <p>When the socket's buffer is full (the client reads slowly, or a large read reply), the writer marks
 * the outbox stalled and hands over to the connection's flusher thread, which waits until the socket is
 * writable and carries on. So a request's completion never waits for a client: the engine's reply threads,
 * which complete requests of every client, can call {@link #send} freely.
 *
 * <p>A failed write (the client went away) fails the outbox: everything queued and everything sent later
 * is dropped at once, running its {@code written} action, and {@code onFailure} runs once.
 */
final class Outbox implements AutoCloseable, Plug.Output {
    /** Replies gathered into one write at most. */
    private static final int MAX_GATHER = 256;

    /** One reply: its buffers, in order, and what to do once they are written (or dropped). */
    record Reply(ByteBuffer[] buffers, Runnable written) {}

    private final SocketChannel ch;
    private final Consumer<IOException> onFailure;
    private final Runnable onStall;
    private final ConcurrentLinkedQueue<Reply> queue = new ConcurrentLinkedQueue<>();
    private final ReentrantLock lock = new ReentrantLock();
    /** Under {@link #lock}: replies taken from the queue and not yet fully written, oldest first. */
    private final ArrayDeque<Reply> pending = new ArrayDeque<>();

    private final Selector writable;
    private final Semaphore stall = new Semaphore(0);
    private final Thread flusher;
    private volatile boolean stalled;
    private volatile boolean failed;
    private volatile boolean closed;

    /** {@code ch} must be in non-blocking mode; {@code onStall} runs (under the lock) each time it fills up. */
    Outbox(SocketChannel ch, String name, Consumer<IOException> onFailure, Runnable onStall) throws IOException {
        this.ch = ch;
        this.onFailure = onFailure;
        this.onStall = onStall;
        this.writable = Inbox.selector(ch, SelectionKey.OP_WRITE);
        this.flusher = Thread.ofPlatform().name(name).daemon().start(this::flushLoop);
    }

    /** Queues a reply and writes what it can now; never blocks on the client. */
    void send(ByteBuffer[] buffers, Runnable written) {
        queue.add(new Reply(buffers, written));
        Plug plug = Plug.current();
        if (plug == null) {
            drain();
        } else {
            plug.hold(this); // written with the other replies the plugged thread completes
        }
    }

    @Override
    public void flushPlugged() {
        drain();
    }

    private void drain() {
        while ((failed || !stalled) && !queue.isEmpty() && lock.tryLock()) {
            try {
                writeQueued();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Under the lock: writes the queue until it is empty or the socket is full. */
    private void writeQueued() {
        if (failed) {
            drop();
            return;
        }
        try {
            while (true) {
                for (Reply r; pending.size() < MAX_GATHER && (r = queue.poll()) != null; ) {
                    pending.add(r);
                }
                if (pending.isEmpty()) {
                    return;
                }
                ch.write(buffers());
                while (!pending.isEmpty() && done(pending.peekFirst())) {
                    pending.removeFirst().written().run();
                }
                if (!pending.isEmpty()) { // the socket took less than everything: it is full
                    stalled = true;
                    onStall.run();
                    stall.release();
                    return;
                }
            }
        } catch (IOException e) {
            failed = true;
            drop();
            onFailure.accept(e);
        }
    }

    private ByteBuffer[] buffers() {
        List<ByteBuffer> all = new ArrayList<>(pending.size() * 2);
        for (Reply r : pending) {
            for (ByteBuffer b : r.buffers()) {
                if (b.hasRemaining()) {
                    all.add(b);
                }
            }
        }
        return all.toArray(ByteBuffer[]::new);
    }

    private static boolean done(Reply r) {
        for (ByteBuffer b : r.buffers()) {
            if (b.hasRemaining()) {
                return false;
            }
        }
        return true;
    }

    /** Under the lock, once failed: runs the written action of everything pending and queued. */
    private void drop() {
        for (Reply r; (r = pending.poll()) != null || (r = queue.poll()) != null; ) {
            r.written().run();
        }
    }

    /** The flusher: after each stall, waits until the socket takes bytes again and writes on. */
    private void flushLoop() {
        try {
            while (true) {
                stall.acquire();
                while (!closed && !failed) {
                    writable.select();
                    writable.selectedKeys().clear();
                    if (!closed && stalledAndStillFull()) {
                        continue;
                    }
                    break;
                }
                if (closed) {
                    return;
                }
                drain();
            }
        } catch (InterruptedException | ClosedSelectorException e) {
            // closing
        } catch (IOException e) {
            fail(e);
        }
    }

    /** Clears the stall and writes what is pending; true when the socket filled up again at once. */
    private boolean stalledAndStillFull() throws IOException {
        lock.lock();
        try {
            stalled = false;
            writeQueued();
            if (stalled) {
                stall.tryAcquire(); // our own hand-over: keep waiting for writable here
                return true;
            }
            return false;
        } finally {
            lock.unlock();
        }
    }

    private void fail(IOException e) {
        lock.lock();
        try {
            if (!failed) {
                failed = true;
                onFailure.accept(e);
            }
            drop();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Stops the flusher and drops what was not written (the connection is closing; its socket is closed or
     * about to be).
     */
    @Override
    public void close() {
        closed = true;
        failed = true;
        stall.release();
        try {
            writable.wakeup();
        } catch (ClosedSelectorException e) {
            // already closed
        }
        io.bighorn.common.Threads.joinUninterruptibly(flusher);
        lock.lock();
        try {
            drop();
        } finally {
            lock.unlock();
        }
        try {
            writable.close();
        } catch (IOException e) {
            // nothing left to do
        }
    }
}
