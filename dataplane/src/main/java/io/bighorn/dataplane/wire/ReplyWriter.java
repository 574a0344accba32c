package io.bighorn.dataplane.wire;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * Sends one connection's replies, many per gathering write. They come from two sides:
 *
 * <ul>
 *   <li>the reader thread {@link #add}s the replies of the requests it ran itself, and {@link #flush}es
 *       them before it would block (or once {@link #BATCH_REPLIES} or {@link #BATCH_BYTES} are waiting);
 *   <li>request threads {@link #send} theirs: they queue it and wake this writer's own platform thread
 *       unless a thread writing already will take it.
 * </ul>
 *
 * <p><b>Combining.</b> Every reply goes through one lock-free {@link #queue}, and whoever holds
 * {@link #lock} writes everything in it. Sending never waits for the lock: a thread that finds it taken
 * leaves its reply queued, because the holder looks at the queue again after unlocking and, while it is
 * not empty, tries to write on. So no reply is left behind: one queued while the lock is held goes out
 * in the holder's next round; one queued while it is free is written by the reader (which takes the lock
 * itself) or by the writer thread that the request thread wakes. (A sender queues, then looks at the
 * lock; the holder unlocks, then looks at the queue; one of the two sees the other's step.) One thread at
 * a time writes whole replies in queue order, so the bytes of two replies never interleave, and a
 * reply's pooled buffer and its in-flight permit are released only once its bytes are written. Only
 * {@link #goodbye} and {@link #shutdown}, at the end of a connection, wait for the lock.
 *
 * <p><b>Large reads</b> carry a {@link io.bighorn.dataplane.replica.FileRead} instead of a buffer: the
 * batch goes out with their header, then their data goes from the replica's files to the socket with
 * {@code sendfile}, never entering this process.
 *
 * <p><b>Why request threads do not write.</b> A virtual thread doing blocking I/O on a channel switches
 * its socket to non-blocking mode for good, after which each of the reader's blocking reads would cost a
 * failed read, a poll and a read. Only platform threads (the reader and the writer thread) use the socket.
 *
 * <p><b>Dropping.</b> A failed write is reported to {@code onFailure} (which closes the connection); from
 * then on every reply is dropped, its buffer and permit released and nothing written. So are the replies
 * after a {@link #goodbye} and those left at {@link #shutdown}.
 */
final class ReplyWriter {
    /** The reader sends its batch once it holds this many replies, or {@link #BATCH_BYTES}. */
    static final int BATCH_REPLIES = 128;
    /** Also the most one gathering write carries, give or take a reply. */
    static final int BATCH_BYTES = 1 << 20;
    /** Buffers per gathering write: per reply at most a run of staged bytes and a payload. */
    private static final int MAX_BUFFERS = 2 * BATCH_REPLIES + 2;
    /** Heap payloads (JSON, error text) up to this size are copied beside their header. */
    private static final int COPY_MAX = 4096;

    private static final int STAGING = 64 << 10;

    private final SocketChannel ch;
    private final Semaphore permits;
    private final LongAdder writes;
    private final Consumer<Exception> onFailure;
    private final Thread writer;
    private final ConcurrentLinkedQueue<Reply> queue = new ConcurrentLinkedQueue<>();
    private final ReentrantLock lock = new ReentrantLock();
    private volatile boolean stopping;

    // Under the lock: the batch being assembled, as the buffers of one gathering write.
    private final ByteBuffer[] buffers = new ByteBuffer[MAX_BUFFERS];
    /** Buffers in use. */
    private int count;
    /** The replies in the batch, released once it is written. */
    private final List<Reply> batch = new ArrayList<>();
    /** Bytes in the batch. */
    private long pending;
    /** Headers and small payloads, allocated on first use. */
    private ByteBuffer staging;
    /** Where the staged bytes not yet in {@link #buffers} start. */
    private int runStart;
    /** Once a write failed, or after a GOODBYE or at shutdown: replies are released, not written. */
    private boolean dropping;

    // The reader thread's own: its replies queued since it last flushed.
    private int held;
    private long heldBytes;

    /**
     * @param permits released once per reply, when it is written or dropped
     * @param writes counts the write system calls
     */
    ReplyWriter(
            SocketChannel ch, Semaphore permits, LongAdder writes, Consumer<Exception> onFailure, String threadName) {
        this.ch = ch;
        this.permits = permits;
        this.writes = writes;
        this.onFailure = onFailure;
        this.writer = Thread.ofPlatform().name(threadName).daemon().unstarted(this::writeLoop);
    }

    /** Starts the writer thread, before any {@link #send}. */
    void start() {
        writer.start();
    }

    /** Reader thread: queues the reply of a request it ran; sends the batch once it is large. */
    void add(Reply r) {
        held++;
        heldBytes += r.bytes();
        queue.add(r);
        if (held >= BATCH_REPLIES || heldBytes >= BATCH_BYTES) {
            flush();
        }
    }

    /** Reader thread: sends the replies it has added, unless a thread writing now takes them along. */
    void flush() {
        if (held > 0) {
            held = 0;
            heldBytes = 0;
            drain();
        }
    }

    /** Any thread: sends {@code r} soon, without ever blocking. */
    void send(Reply r) {
        queue.add(r);
        if (!lock.isLocked()) { // else the holder sees r when it looks again after unlocking
            LockSupport.unpark(writer);
        }
    }

    /** The reader, on a protocol error: sends what is queued, then a GOODBYE saying why; drops the rest. */
    void goodbye(String why) {
        lock.lock();
        try {
            writeQueued();
            if (!dropping) {
                Handshake.refuse(ch, why);
            }
            dropping = true;
        } finally {
            lock.unlock();
        }
        drain();
    }

    /** The reader, once no request is running: stops the writer thread and drops what is left. */
    void shutdown() throws InterruptedException {
        stopping = true;
        LockSupport.unpark(writer);
        writer.join();
        lock.lock();
        try {
            dropping = true;
            writeQueued();
        } finally {
            lock.unlock();
        }
    }

    private void writeLoop() {
        while (!stopping) {
            drain();
            LockSupport.park(this);
        }
    }

    private void drain() {
        while (!queue.isEmpty() && lock.tryLock()) {
            try {
                writeQueued();
            } finally {
                lock.unlock();
            }
        }
    }

    private void writeQueued() {
        Reply r;
        while ((r = queue.poll()) != null) {
            if (dropping) {
                release(r);
                continue;
            }
            append(r);
            if (count >= MAX_BUFFERS - 2 || pending >= BATCH_BYTES || staging.remaining() < Frame.HEADER + COPY_MAX) {
                writeBatch();
            }
        }
        if (!batch.isEmpty()) {
            writeBatch();
        }
    }

    private void append(Reply r) {
        if (staging == null) {
            staging = ByteBuffer.allocateDirect(STAGING);
        }
        long bytes = r.bytes();
        r.frame().encode(staging);
        if (r.file() != null) {
            sendFile(r);
            return;
        }
        ByteBuffer payload = r.payload();
        if (payload != null && payload.hasRemaining()) {
            if (!payload.isDirect() && payload.remaining() <= COPY_MAX) {
                staging.put(payload);
            } else {
                cut();
                buffers[count++] = payload;
            }
        }
        batch.add(r);
        pending += bytes;
    }

    /**
     * A reply whose payload comes from the replica's files: the batch so far goes out with this reply's
     * header (staged last), then the payload is sent from the files ({@code sendfile}), then the batch
     * starts afresh.
     */
    private void sendFile(Reply r) {
        pending += Frame.HEADER;
        writeBatch();
        try {
            if (!dropping) {
                r.file().transferTo(ch);
                writes.increment();
            }
        } catch (IOException | RuntimeException e) {
            dropping = true;
            onFailure.accept(e);
        } finally {
            release(r);
        }
    }

    /** Closes the run of staged bytes since the last cut into one buffer. */
    private void cut() {
        int end = staging.position();
        if (end > runStart) {
            buffers[count++] = staging.slice(runStart, end - runStart);
            runStart = end;
        }
    }

    private void writeBatch() {
        cut();
        try {
            int first = 0;
            for (long left = pending; left > 0; ) {
                left -= ch.write(buffers, first, count - first);
                writes.increment();
                while (first < count && !buffers[first].hasRemaining()) {
                    first++;
                }
            }
        } catch (IOException | RuntimeException e) {
            dropping = true;
            onFailure.accept(e);
        } finally {
            for (Reply r : batch) {
                release(r);
            }
            batch.clear();
            Arrays.fill(buffers, 0, count, null);
            count = 0;
            runStart = 0;
            pending = 0;
            staging.clear();
        }
    }

    private void release(Reply r) {
        r.release();
        permits.release();
    }
}
