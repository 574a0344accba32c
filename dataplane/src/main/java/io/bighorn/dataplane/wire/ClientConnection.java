package io.bighorn.dataplane.wire;

import io.bighorn.common.Plug;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One connection of a {@link WireReplicaEndpoint}. Callers send under {@link #sendLock}; one reader thread
 * matches replies to {@link #pending} requests by id and completes their futures.
 *
 * <p>Both directions batch. A caller on a {@linkplain Plug plugged} thread only queues its frame, and the
 * plug's flush writes every queued frame with one gathering write; other callers write at once (with
 * whatever is queued). The reader takes in replies through one large buffer, so one read brings every
 * reply the replica has sent so far; it runs plugged itself, so the replies it completes (an NBD
 * connection's, say) go out together when it has no more input to handle.
 */
final class ClientConnection implements Plug.Output {
    private final WireReplicaEndpoint endpoint;
    private final SocketChannel ch;
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final ReentrantLock sendLock = new ReentrantLock();
    /** Under {@link #sendLock}: buffers of frames queued and not written yet, in order. */
    private final List<ByteBuffer> queued = new ArrayList<>();

    private final Thread reader;

    /** The reader's input buffer: one read takes in every reply up to this size. */
    private static final int IN_BUFFER = 256 << 10;

    /** Turns a reply's JSON payload into the caller's result. */
    @FunctionalInterface
    interface Decoder {
        Object decode(byte[] json) throws IOException;
    }

    /** A request waiting for its reply: the read buffer it fills, or how to decode its payload. */
    record Pending(
            Frame request,
            CompletableFuture<Object> future,
            MemorySegment dst,
            Decoder decoder,
            io.bighorn.common.BufferPool pool) {}

    ClientConnection(WireReplicaEndpoint endpoint, SocketChannel ch, int index) {
        this.endpoint = endpoint;
        this.ch = ch;
        this.reader = Thread.ofPlatform()
                .name("bighorn-wire-" + endpoint.address() + "-" + index)
                .daemon()
                .unstarted(this::readLoop);
    }

    void start() {
        reader.start();
    }

    int load() {
        return pending.size();
    }

    /**
     * Sends {@code request} with {@code data} (or none) and returns the future its reply completes. A
     * caller that gives up (cancels, or times out with {@code orTimeout}) removes the entry at once.
     */
    CompletableFuture<Object> send(Frame request, MemorySegment data, MemorySegment dst, Decoder decoder) {
        return send(request, data, new Pending(request, new CompletableFuture<>(), dst, decoder, null));
    }

    /**
     * Sends {@code request}; its reply's payload is read into a buffer from {@code pool}, whose lease
     * completes the future (the caller closes it): large payloads reach native memory in one copy, with
     * no array to allocate and zero.
     */
    CompletableFuture<Object> sendForBuffer(Frame request, MemorySegment data, io.bighorn.common.BufferPool pool) {
        return send(request, data, new Pending(request, new CompletableFuture<>(), null, null, pool));
    }

    private CompletableFuture<Object> send(Frame request, MemorySegment data, Pending p) {
        CompletableFuture<Object> future = p.future();
        pending.put(request.id(), p);
        var _ = future.whenComplete((r, e) -> pending.remove(request.id(), p));
        IOException failure = endpoint.failure();
        if (failure != null) { // failed before or while we registered: failAll may have missed us
            future.completeExceptionally(failure);
            return future;
        }
        Plug plug = Plug.current();
        sendLock.lock();
        try {
            queued.add(request.encode());
            if (data != null) {
                queued.add(data.asByteBuffer());
            }
            if (plug == null) {
                writeQueued();
            }
        } catch (RuntimeException e) {
            endpoint.fail(e);
        } finally {
            sendLock.unlock();
        }
        if (plug != null) {
            plug.hold(this);
        }
        return future;
    }

    @Override
    public void flushPlugged() {
        sendLock.lock();
        try {
            writeQueued();
        } finally {
            sendLock.unlock();
        }
    }

    /** Under the send lock: writes every queued frame; a failure fails the endpoint. */
    private void writeQueued() {
        if (queued.isEmpty()) {
            return;
        }
        ByteBuffer[] all = queued.toArray(ByteBuffer[]::new);
        queued.clear();
        try {
            Frame.writeFully(ch, all);
        } catch (IOException | RuntimeException e) {
            endpoint.fail(e);
        }
    }

    private void readLoop() {
        Plug plug = Plug.begin();
        ByteBuffer in = ByteBuffer.allocateDirect(IN_BUFFER).flip();
        try {
            while (true) {
                if (in.remaining() < Frame.HEADER) {
                    plug.flush(); // about to wait for input: send what the replies completed so far
                    fill(in, Frame.HEADER);
                }
                Frame f = Frame.decode(in);
                if (f.op() == Op.GOODBYE) {
                    throw new ProtocolException("the replica dropped the connection: " + text(readBytes(in, f)));
                }
                Pending p = pending.remove(f.id());
                if (p == null) { // the caller gave up on it
                    skip(in, f.payloadLength());
                    continue;
                }
                if (p.request().op() != f.op()) {
                    throw new ProtocolException("reply " + f.id() + " is a " + f.op() + " to a "
                            + p.request().op());
                }
                complete(p, f, in);
            }
        } catch (IOException | RuntimeException e) {
            endpoint.fail(e);
        } finally {
            plug.end();
        }
    }

    /** Reads until {@code in} (in read mode) holds at least {@code n} bytes. */
    private void fill(ByteBuffer in, int n) throws IOException {
        in.compact();
        try {
            while (in.position() < n) {
                if (ch.read(in) < 0) {
                    throw new EOFException("connection closed by the peer");
                }
            }
        } finally {
            in.flip();
        }
    }

    /** Fills {@code dst} with the next bytes of input: what is buffered, then straight from the channel. */
    private void readInto(ByteBuffer in, ByteBuffer dst) throws IOException {
        int part = Math.min(in.remaining(), dst.remaining());
        dst.put(dst.position(), in, in.position(), part);
        dst.position(dst.position() + part);
        in.position(in.position() + part);
        if (dst.hasRemaining()) {
            if (dst.remaining() < in.capacity() / 2) {
                fill(in, dst.remaining());
                readInto(in, dst);
            } else {
                Frame.readFully(ch, dst);
            }
        }
    }

    private void complete(Pending p, Frame f, ByteBuffer in) throws IOException {
        if (f.status() != Status.OK) {
            String message = text(readBytes(in, f));
            p.future()
                    .completeExceptionally(
                            f.status().toException(message, p.request().epoch(), f.epoch(), endpoint.address()));
        } else if (p.dst() != null) {
            if (f.payloadLength() != p.dst().byteSize()) {
                throw new ProtocolException(
                        "READ of " + p.dst().byteSize() + " bytes answered with " + f.payloadLength());
            }
            ByteBuffer into;
            try {
                into = p.dst().asByteBuffer();
                readInto(in, into);
            } catch (WrongThreadException e) { // a caller's buffer this thread may not touch: its error, not ours
                skip(in, f.payloadLength());
                p.future().completeExceptionally(e);
                return;
            } catch (IllegalStateException e) { // the caller gave up and freed its buffer meanwhile
                skip(in, f.payloadLength());
                return;
            }
            p.future().complete(null);
        } else if (p.pool() != null) {
            io.bighorn.common.BufferPool.Lease lease = p.pool().acquire(f.payloadLength());
            try {
                readInto(in, lease.segment().asByteBuffer());
            } catch (IOException | RuntimeException e) {
                lease.close();
                throw e;
            }
            if (!p.future().complete(lease)) {
                lease.close(); // the caller gave up meanwhile
            }
        } else if (p.decoder() != null) {
            byte[] json = readBytes(in, f);
            try {
                p.future().complete(p.decoder().decode(json));
            } catch (IOException | RuntimeException e) {
                p.future()
                        .completeExceptionally(new IOException(
                                "replica " + endpoint.address() + ": unreadable " + f.op() + " reply: "
                                        + e.getMessage(),
                                e));
            }
        } else {
            skip(in, f.payloadLength());
            p.future().complete(null);
        }
    }

    private byte[] readBytes(ByteBuffer in, Frame f) throws IOException {
        byte[] bytes = new byte[f.payloadLength()];
        readInto(in, ByteBuffer.wrap(bytes));
        return bytes;
    }

    private static String text(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private void skip(ByteBuffer in, int n) throws IOException {
        int left = n;
        while (left > 0) {
            if (!in.hasRemaining()) {
                fill(in, 1);
            }
            int part = Math.min(left, in.remaining());
            in.position(in.position() + part);
            left -= part;
        }
    }

    /** Fails every request waiting on this connection with {@code failure}. */
    void failAll(IOException failure) {
        for (Pending p : pending.values()) {
            p.future().completeExceptionally(failure); // its whenComplete removes the entry
        }
    }

    void close() {
        ReplicaServer.closeQuietly(ch);
    }

    void join() throws InterruptedException {
        if (Thread.currentThread().threadId() != reader.threadId()) {
            reader.join();
        }
    }
}
